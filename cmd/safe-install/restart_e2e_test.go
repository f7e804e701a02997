//go:build e2e

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Issue 16: a reboot gives Podman a fresh runtime directory (/run/user/UID
// is a tmpfs) while its storage, the sandbox image and the npm cache volume
// stay. Against Podman 5.4 every run after that failed in the fetch with
// EACCES on /work and /cache until the image was imported again. The same
// install must work before and after the restart, on either engine.
//
// Not parallel: the restart ends everything the engine runs.
func TestE2EEngineRestart(t *testing.T) {
	w := newWorld(t)
	w.project("hello-addon")
	w.succeeds("npm", "install")
	restartEngine(t)
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	w.succeeds("npm", "ci")
	if got := w.nodeOnHost(`console.log(require("hello-addon").hello())`); got != "hello from a sandboxed build" {
		t.Errorf("the addon built after the restart said %q", got)
	}
	// And a run that creates the cache volume after the restart.
	out, err := exec.Command("podman", "volume", "rm", "safe-install-cache-npm").CombinedOutput()
	must(t, errorWith(err, out))
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	w.succeeds("npm", "ci")
}

// restartEngine restarts the tests' engine as a reboot would: every
// process of it ends, and it starts again with an empty runtime directory
// (and, for the local engine, no shared-memory locks either).
func restartEngine(t *testing.T) {
	t.Helper()
	if testEngine != "" {
		restartServiceOf(t, testEngine)
		return
	}
	if localService == nil {
		skipOrFail(t, "the user's Podman service was not started by these tests; not restarting it")
	}
	localService.Process.Kill()
	localService.Wait()
	localService = nil
	if n := killUserNamespaces(); n == 0 {
		t.Log("no process of this user was in another user namespace")
	}
	rt := os.Getenv("XDG_RUNTIME_DIR")
	entries, err := os.ReadDir(rt)
	must(t, err)
	for _, e := range entries {
		must(t, os.RemoveAll(filepath.Join(rt, e.Name())))
	}
	if err := os.Remove(fmt.Sprintf("/dev/shm/libpod_rootless_lock_%d", os.Getuid())); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	must(t, startLocalService())
}

// restartServiceOf restarts a service from .ci/podman5.sh: its supervisor
// writes the service's pid beside the socket and, when that process ends,
// ends what is left of it, mounts a fresh /run and starts it again.
func restartServiceOf(t *testing.T, url string) {
	t.Helper()
	sock, ok := strings.CutPrefix(url, "unix://")
	pidFile := filepath.Join(filepath.Dir(sock), "service.pid")
	data, err := os.ReadFile(pidFile)
	if !ok || err != nil {
		skipOrFail(t, fmt.Sprintf("the engine %s has no service.pid beside its socket (not one of .ci/podman5.sh): %v", url, err))
	}
	old, err := strconv.Atoi(strings.TrimSpace(string(data)))
	must(t, err)
	p, err := os.FindProcess(old)
	must(t, err)
	must(t, p.Kill())
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, _ := os.ReadFile(pidFile)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid != old &&
			exec.Command("podman", "version").Run() == nil {
			t.Logf("the engine restarted (service pid %d, was %d)", pid, old)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the engine at %s did not come back within a minute", url)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// killUserNamespaces sends SIGKILL to every process this user may inspect
// that is in another user namespace than this one: rootless Podman's pause
// process, conmons and containers (this user owns their namespaces). It
// returns how many there were.
func killUserNamespaces() int {
	self, err := os.Readlink("/proc/self/ns/user")
	if err != nil {
		return 0
	}
	n := 0
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		ns, err := os.Readlink("/proc/" + e.Name() + "/ns/user")
		if err != nil || ns == self {
			continue
		}
		if p, err := os.FindProcess(pid); err == nil && p.Kill() == nil {
			n++
		}
	}
	return n
}

func skipOrFail(t *testing.T, msg string) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func errorWith(err error, out []byte) error {
	if err != nil {
		return fmt.Errorf("%w: %s", err, out)
	}
	return nil
}
