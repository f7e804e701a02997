//go:build e2e

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 17: Ctrl-C while the sandbox image is being built (in mmdebstrap,
// the minutes-long part) leaves no half image: the engine has none (so
// the next run builds it again: `image list` says missing, which is what
// EnsureImage goes by), nothing of the build is left in TMPDIR and no
// process of it runs on. The build goes to a Podman service of its own
// storage, so the tests' image stays. The Ctrl-C is a terminal's: SIGINT
// to the whole process group. The rebuild itself (minutes) is not run.
func TestE2EInterruptedImageBuildLeavesNoHalfImage(t *testing.T) {
	requireE2E(t)
	if testEngine != "" {
		skipOrFail(t, "builds against a private service of the local Podman: make test-podman5 does not run it")
	}
	start := time.Now()
	root, err := os.MkdirTemp("", "si-image-fault-")
	must(t, err)
	t.Cleanup(func() {
		// The build's files belong to subordinate ids, and the private
		// storage's overlay stays mounted in the user namespace: remove
		// them as its root, from inside.
		out, err := exec.Command("podman", "unshare", "sh", "-c", `umount "$1"/storage/overlay 2>/dev/null; rm -rf "$1"`, "sh", root).CombinedOutput()
		if err != nil {
			t.Errorf("removing %s: %v\n%s", root, err, out)
		}
	})
	// mmdebstrap's user namespace reaches its tempdir as a subordinate
	// id: the path must be open to others, as /tmp is.
	must(t, os.Chmod(root, 0o755))
	tmp := filepath.Join(root, "tmp")
	must(t, os.Mkdir(tmp, 0o755))
	must(t, os.Chmod(tmp, 0o1777))
	sock := "unix://" + filepath.Join(root, "podman.sock")
	svc := exec.Command("podman", "--root", filepath.Join(root, "storage"), "--runroot", filepath.Join(root, "run"),
		"system", "service", "--time=0", sock)
	must(t, svc.Start())
	t.Cleanup(func() { svc.Process.Signal(syscall.SIGTERM); svc.Wait() })
	for i := 0; exec.Command("podman", "--url", sock, "version").Run() != nil; i++ {
		if i > 100 {
			t.Fatal("the private Podman service did not answer")
		}
		time.Sleep(100 * time.Millisecond)
	}
	env := append(envWithout(os.Environ(), "TMPDIR", "CONTAINER_HOST"), "TMPDIR="+tmp, "CONTAINER_HOST="+sock)
	build := exec.Command(binary, "image", "build")
	build.Env = env
	build.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a terminal's foreground group
	var out strings.Builder
	build.Stdout, build.Stderr = &out, &out
	must(t, build.Start())
	exited := make(chan error, 1)
	go func() { exited <- build.Wait() }()
	deadline := time.After(5 * time.Minute)
	for !strings.Contains(out.String(), "installing essential packages") && !strings.Contains(out.String(), "extracting archives") {
		select {
		case err := <-exited:
			t.Fatalf("the build ended (%v) before mmdebstrap was under way:\n%s", err, out.String())
		case <-deadline:
			t.Fatalf("mmdebstrap did not get under way in 5 minutes:\n%s", out.String())
		case <-time.After(100 * time.Millisecond):
		}
	}
	must(t, syscall.Kill(-build.Process.Pid, syscall.SIGINT))
	select {
	case err = <-exited:
	case <-time.After(2 * time.Minute):
		syscall.Kill(-build.Process.Pid, syscall.SIGKILL)
		t.Fatalf("the build did not end within 2 minutes of Ctrl-C:\n%s", out.String())
	}
	t.Logf("after Ctrl-C: %v\n%s", err, out.String())
	if code := build.ProcessState.ExitCode(); code != exitInterrupted {
		t.Errorf("the interrupted build ended with %d, want %d", code, exitInterrupted)
	}
	time.Sleep(time.Second)
	if ps, _ := exec.Command("pgrep", "-af", tmp).Output(); len(strings.TrimSpace(string(ps))) > 0 {
		t.Errorf("processes of the build left:\n%s", ps)
	}
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		var names []string
		for _, e := range left {
			names = append(names, e.Name())
		}
		t.Errorf("the build left %s in TMPDIR", strings.Join(names, " "))
	}
	list := exec.Command(binary, "image", "list")
	list.Env = env
	lo, err := list.CombinedOutput()
	must(t, errorWith(err, lo))
	if !strings.Contains(string(lo), "missing") {
		t.Errorf("after the interrupted build the engine has the image: %s", lo)
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

func envWithout(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if !slices.Contains(names, k) {
			out = append(out, kv)
		}
	}
	return out
}
