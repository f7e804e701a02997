package engine

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
)

// runningService is a Podman service already running, as
// TestRunningServiceInfoIsRecordedPerProcess starts it: a copy of this
// test binary named podman (TestMain). Each info it answers has another
// host id (base, base+1, ...), so the caller tells an answer from a record.
func runningService(sock, base string) error {
	first, err := strconv.Atoi(base)
	if err != nil {
		return err
	}
	l, err := net.Listen("unix", sock)
	if err != nil {
		return err
	}
	var asked atomic.Int32
	return http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/libpod/info") {
			fakeInfoService(true, first+int(asked.Add(1))-1, new(atomic.Int32)).ServeHTTP(w, r)
			return
		}
		fakeInfoService(true, first, new(atomic.Int32)).ServeHTTP(w, r)
	}))
}

// A Podman service that was running before the run (not the run's own) is
// answered from the record while the same process listens on the socket,
// and asked again once another process does (restarted: perhaps with other
// subordinate ids); a listener that is no Podman (systemd's activated
// socket) is asked every time (TestLocalInfoIsRecorded).
func TestRunningServiceInfoIsRecordedPerProcess(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CACHE_HOME", filepath.Join(home, "cache"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	dir := t.TempDir()
	podman := filepath.Join(dir, "podman")
	copyFile(t, os.Args[0], podman)
	sock := filepath.Join(dir, "podman.sock")
	serve := func(base int) *exec.Cmd {
		t.Helper()
		os.Remove(sock)
		cmd := exec.Command(podman)
		cmd.Env = append(os.Environ(), "SAFE_INSTALL_TEST_SERVICE_SOCK="+sock, "SAFE_INSTALL_TEST_SERVICE_BASE="+strconv.Itoa(base))
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		for deadline := time.Now().Add(10 * time.Second); !accepts(sock); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the service never listened")
			}
		}
		return cmd
	}
	ctx := context.Background()
	first := serve(1000)
	conn, err := bindings.NewConnection(ctx, "unix://"+sock)
	if err != nil {
		t.Fatal(err)
	}
	p := &Podman{conn: conn, host: "local", local: true}
	idMap := func() string {
		t.Helper()
		got, err := p.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got.IDMap
	}
	a := idMap()
	if b := idMap(); b == a {
		t.Fatalf("answered %q twice before any record was made", a)
	}
	p.RecordInfo()
	recorded := idMap()
	if again := idMap(); again != recorded {
		t.Fatalf("the same service process was asked again: %q, then %q", recorded, again)
	}
	_ = first.Process.Kill()
	_ = first.Wait()
	serve(2000)
	if got := idMap(); got == recorded || !strings.Contains(got, ":2000:") {
		t.Fatalf("a restarted service was answered from the old one's record: %q (recorded %q)", got, recorded)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
