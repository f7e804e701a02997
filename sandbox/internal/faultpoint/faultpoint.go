// Package faultpoint is a test hook, for the fault tests
// (cmd/safe-install/faults_e2e_test.go): with SAFE_INSTALL_TEST_PAUSE=STEP
// in its environment, a run that reaches STEP writes its pid to the file
// SAFE_INSTALL_TEST_PAUSE_FILE and stops there, its other goroutines (the
// egress proxy, a copy under way) running on, until that file is removed
// or it is killed. A test then kills the real binary at a known point, or
// breaks something (the engine) before letting it go on. The hook only
// ever waits: whoever sets the environment could stop the process anyway.
package faultpoint

import (
	"io"
	"os"
	"strconv"
	"time"
)

// Steps the hook knows, as the report's timings name them (and the decoy
// audit, which runs beside the copy-back).
const (
	CopyIn = "copy-in"
	// CopyInConfig is the fetch config's copy through the holder, which
	// goes in before the work inputs (a local engine's).
	CopyInConfig = "copy-in-config"
	Fetch        = "fetch"
	Scripts      = "scripts"
	CopyBack     = "copy-back"
	DecoyAudit   = "decoy-audit"
	Swap         = "swap"
	// Profiles is the copy of the seccomp profiles into their lasting
	// volume (a Reader step: in the middle of the stream).
	Profiles = "seccomp-profiles"
)

// At stops here, when the environment names step, until the pause file
// is removed.
func At(step string) {
	if os.Getenv("SAFE_INSTALL_TEST_PAUSE") != step || step == "" {
		return
	}
	f := os.Getenv("SAFE_INSTALL_TEST_PAUSE_FILE")
	if f == "" || os.WriteFile(f, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600) != nil {
		select {} // nothing to wait for: until killed
	}
	for {
		if _, err := os.Stat(f); os.IsNotExist(err) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Reader stops, when the environment names step, at its first read after
// some data went through: in the middle of a stream.
func Reader(step string, r io.Reader) io.Reader {
	if os.Getenv("SAFE_INSTALL_TEST_PAUSE") != step {
		return r
	}
	return &pausing{r: r, step: step}
}

type pausing struct {
	r    io.Reader
	step string
	read int64
}

func (p *pausing) Read(b []byte) (int, error) {
	if p.read > 0 {
		At(p.step)
	}
	n, err := p.r.Read(b)
	p.read += int64(n)
	return n, err
}
