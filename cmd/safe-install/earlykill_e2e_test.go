//go:build e2e

package main

import (
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Invariants 8 and 13 on the one-package npm install's path of the last
// speed changes: the plan made while the holder and the fetch container
// are (RunPlanned), the fetch container started before its inputs are in,
// relay.js waiting for the host's start frame (a0bf43d, eb23fbe), the
// installed tree mirrored by hard links beside the staging directory
// while the fetch runs (8c6dd49), the fetch container removed once the
// fetch is read (0d8d8b8). A SIGKILL at each step: the config's copy-in
// (the fetch container running relay.js, its inputs not in), the work
// inputs' copy-in, the fetch (the mirror made: the control that there is
// one to remove), the copy-back (the fetch container's removal under way
// or done), the swap. The project is the old one (or half swapped, which
// the next run undoes); the next run removes every container and volume
// of the killed one and every staging directory, the mirror with them,
// and installs. Measured besides: what of the killed run still runs a
// few seconds after the kill (its client gone).
func TestE2EIncrementalKilledAtEachStepIsReaped(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"copy-in-config", "copy-in", "fetch", "copy-back", "swap"} {
		t.Run(step, func(t *testing.T) {
			w := newWorld(t)
			w.project("has-bin")
			w.succeeds("npm", "install")
			w.addDeps("victim")
			before := w.snapshot()
			host, err := os.Stat(filepath.Join(w.proj, "node_modules/has-bin/package.json"))
			must(t, err)
			p := w.pauseAt(step, "npm", "install")
			if step == "fetch" && mirrored(w.proj, host, 10*time.Second) == "" {
				t.Fatal("control: no mirror of the installed tree beside the staging directory while the fetch ran")
			}
			atPause := runningOf(t, p.cmd.Process.Pid)
			must(t, p.cmd.Process.Signal(syscall.SIGKILL))
			p.wait()
			pid := p.cmd.Process.Pid
			left := runObjectsOf(t, pid)
			staged, _ := filepath.Glob(filepath.Join(w.proj, ".safe-install-*"))
			if step != "swap" && len(left) == 0 {
				t.Fatalf("the run killed in the %s step left no container or volume: the kill came too late to test anything", step)
			}
			time.Sleep(5 * time.Second)
			t.Logf("killed in the %s step: running at the pause %v, 5 s after the kill %v; left %v %v", step, atPause, runningOf(t, pid), left, staged)
			if step != "swap" {
				w.assertSame(withoutStaging(before), withoutStaging(w.snapshot()))
			}
			r := w.succeeds("npm", "install")
			// The same plan as the killed run's (which says so only after
			// its fetch).
			if !strings.Contains(r.stdout+r.stderr, "incremental: 1 package added") {
				t.Errorf("the run after the kill was not incremental: the path under test is not the one the killed run took")
			}
			if _, err := os.Stat(filepath.Join(w.proj, "node_modules/victim/package.json")); err != nil {
				t.Errorf("the run after the kill did not install victim: %v\n%s", err, r.stderr)
			}
			if left := runObjectsOf(t, pid); len(left) > 0 {
				t.Errorf("still there after the next run: %s", strings.Join(left, " "))
			}
			if dirs, _ := filepath.Glob(filepath.Join(w.proj, ".safe-install-*")); len(dirs) > 0 {
				t.Errorf("staging directories (the mirror among them) left in the project: %v", dirs)
			}
		})
	}
}

// mirrored waits for a hard link to host below a staging directory of
// proj and returns its path ("" if none came within d).
func mirrored(proj string, host os.FileInfo, d time.Duration) string {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		stagings, _ := filepath.Glob(filepath.Join(proj, ".safe-install-*"))
		linked := ""
		for _, s := range stagings {
			_ = filepath.WalkDir(s, func(p string, d fs.DirEntry, err error) error {
				if err == nil && d.Type().IsRegular() {
					if fi, err := os.Stat(p); err == nil && os.SameFile(fi, host) {
						linked = p
					}
				}
				return nil
			})
		}
		if linked != "" {
			return linked
		}
	}
	return ""
}

// runningOf lists the running containers whose client label names pid.
func runningOf(t *testing.T, pid int) []string {
	t.Helper()
	out, err := exec.Command("podman", "ps", "--filter", "label=io.safe-install.run", "--format", "json").Output()
	must(t, errorWith(err, out))
	var objs []struct {
		Names  []string
		Labels map[string]string
	}
	must(t, json.Unmarshal(out, &objs))
	var found []string
	for _, o := range objs {
		if f := strings.Split(o.Labels["io.safe-install.client"], "/"); len(f) == 4 && f[2] == strconv.Itoa(pid) {
			found = append(found, strings.Join(o.Names, ","))
		}
	}
	return found
}
