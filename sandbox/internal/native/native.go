// Package native tells artifacts that would not run on this machine.
package native

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
)

// errFound stops a walk at the first hit.
var errFound = errors.New("found")

// Check refuses artifacts that would not run on this machine: when
// the engine runs on another OS or architecture (a remote one), any machine
// code it built (a .node addon, a compiled wheel) was built for that one.
// Pure-JS and pure-Python installs pass.
func Check(info engine.EngineInfo, staging string) error {
	if info.OS == "" || info.OS == runtime.GOOS && info.Arch == runtime.GOARCH {
		return nil
	}
	file, err := findNative(staging)
	if err != nil || file == "" {
		return err
	}
	return fmt.Errorf("%w: the engine at %s runs %s/%s but this machine is %s/%s, and the install holds native code built there (%s) that would not run here; "+
		"use an engine of this machine's OS and architecture (installs without native code work from any)",
		install.ErrPolicy, info.Host, info.OS, info.Arch, runtime.GOOS, runtime.GOARCH, file)
}

// machineMagic are the first bytes of ELF, Mach-O (both byte orders, and
// fat binaries) and PE files.
var machineMagic = [][]byte{{0x7f, 'E', 'L', 'F'}, {0xfe, 0xed, 0xfa, 0xce}, {0xfe, 0xed, 0xfa, 0xcf},
	{0xce, 0xfa, 0xed, 0xfe}, {0xcf, 0xfa, 0xed, 0xfe}, {0xca, 0xfe, 0xba, 0xbe}, {'M', 'Z'}}

// findNative returns the first file below dir (relative) that is machine
// code or a wheel with a platform tag.
func findNative(dir string) (string, error) {
	found := ""
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if strings.HasSuffix(p, ".whl") {
			if !strings.HasSuffix(p, "-any.whl") {
				found = rel
				return errFound
			}
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		head := make([]byte, 4)
		n, _ := io.ReadFull(f, head)
		f.Close()
		for _, m := range machineMagic {
			if bytes.HasPrefix(head[:n], m) {
				found = rel
				return errFound
			}
		}
		return nil
	})
	if errors.Is(err, errFound) {
		err = nil
	}
	return found, err
}
