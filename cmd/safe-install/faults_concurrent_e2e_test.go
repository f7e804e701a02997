//go:build e2e

package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue 17: runs at the same time. Four first runs of different projects
// by one user (the shared npm cache and seccomp profile volumes removed
// before, so every run races to make them) all succeed; then two runs in
// one project at once end in one coherent result: each succeeds or fails
// with a message, and the project holds one whole install. Not parallel:
// it removes the volumes every run shares.
func TestE2EConcurrentRuns(t *testing.T) {
	t.Run("four projects, first runs", func(t *testing.T) {
		start := time.Now()
		removeSharedVolumes(t)
		var worlds []*world
		for range 4 {
			w := newWorld(t)
			w.project("writes-own-file")
			worlds = append(worlds, w)
		}
		results := runAtOnce(worlds)
		for i, r := range results {
			if r.code != 0 {
				t.Errorf("run %d of 4 at once failed with %d:\n%s", i, r.code, r.stderr)
				continue
			}
			if got := worlds[i].read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
				t.Errorf("run %d installed %q", i, got)
			}
		}
		t.Logf("four first runs at once took %s", time.Since(start).Round(100*time.Millisecond))
	})
	t.Run("one project, two runs", func(t *testing.T) {
		start := time.Now()
		w := newWorld(t)
		w.project("writes-own-file")
		results := runAtOnce([]*world{w, w})
		ok := 0
		for i, r := range results {
			switch {
			case r.code == 0:
				ok++
			case !strings.Contains(r.stderr, "ERROR"):
				t.Errorf("run %d failed with %d and no message:\n%s", i, r.code, r.stderr)
			}
		}
		if ok == 0 {
			t.Errorf("neither of two runs in one project succeeded")
		}
		// One whole install: the lockfile and node_modules of one run.
		if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
			t.Errorf("the project holds %q", got)
		}
		if !strings.Contains(w.read("package-lock.json"), `"node_modules/writes-own-file"`) {
			t.Errorf("the lockfile does not name the package")
		}
		if dirs, _ := filepath.Glob(filepath.Join(w.proj, ".safe-install-*")); len(dirs) > 0 {
			t.Errorf("staging directories left in the project: %v", dirs)
		}
		w.nodeOnHost(`require("writes-own-file/package.json")`)
		t.Logf("two runs in one project took %s", time.Since(start).Round(100*time.Millisecond))
	})
	if left := leftovers(); left != "" {
		t.Errorf("left behind: %s", left)
	}
}

// runAtOnce starts `safe-install npm install` in each world at the same
// moment and returns their results.
func runAtOnce(worlds []*world) []result {
	results := make([]result, len(worlds))
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i, w := range worlds {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			results[i] = w.runQuiet("npm", "install")
		}()
	}
	close(gate)
	wg.Wait()
	for i, r := range results {
		worlds[i].t.Logf("run %d: exit %d\n%s", i, r.code, r.stderr)
		worlds[i].assertNoCanary("the tool's output", []byte(r.stdout+r.stderr))
	}
	return results
}

// runQuiet is run for a goroutine: no t.Fatal, no log.
func (w *world) runQuiet(args ...string) result {
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = w.proj, w.env
	res, err := runCmd(cmd)
	if err != nil {
		return result{code: -1, stderr: fmt.Sprintf("running safe-install: %v", err)}
	}
	return res
}

// removeSharedVolumes removes the volumes runs share and make when they
// are missing: the package managers' caches and the seccomp profiles.
func removeSharedVolumes(t *testing.T) {
	t.Helper()
	out, err := exec.Command("podman", "volume", "ls", "-q", "--filter", "name=^safe-install-cache-").CombinedOutput()
	must(t, errorWith(err, out))
	for _, v := range strings.Fields(string(out)) {
		out, err := exec.Command("podman", "volume", "rm", "-f", v).CombinedOutput()
		must(t, errorWith(err, out))
	}
	t.Logf("removed the shared volumes %s", strings.Fields(string(out)))
}
