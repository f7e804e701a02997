//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safe-install/safe-install/seccomp"
)

// Issue 17, invariant 13: nothing outlives a run, even a killed one. A
// SIGKILL of the real binary at each step (the report's step names, and
// the decoy audit beside the copy-back; the test hook of
// sandbox/internal/faultpoint stops the run there) leaves the project as
// it was, but for the staging directory, or half swapped; then `safe-install
// clean` in the project, or the next run, removes every container, volume
// and staging directory the killed run left, and the project is the old
// one or the wholly new one. Not parallel: six installs, one at a time.
func TestE2EKilledRunIsReaped(t *testing.T) {
	for i, step := range []string{"copy-in", "fetch", "scripts", "decoy-audit", "swap", "copy-back"} {
		t.Run(step, func(t *testing.T) {
			start := time.Now()
			w := newWorld(t)
			w.project("writes-own-file")
			before := w.snapshot()
			pid := w.killAt(step)
			left := runObjectsOf(t, pid)
			staged, _ := filepath.Glob(filepath.Join(w.proj, ".safe-install-*"))
			switch {
			case step == "swap" && len(staged) == 0:
				// Its containers and volumes go while the host's side
				// runs (releaseEngine), and may be gone by the swap: the
				// half-done swap is what is left to undo.
				t.Fatalf("the run killed in the swap left no staging directory: the kill came too late to test anything")
			case step != "swap" && len(left) == 0:
				t.Fatalf("the run killed in the %s step left no container or volume: the kill came too late to test anything", step)
			}
			t.Logf("killed in the %s step, the run (pid %d) left %s %s", step, pid, strings.Join(left, " "), strings.Join(staged, " "))
			if step != "swap" {
				// Old, but for the staging directory; a swap is half done.
				w.assertSame(withoutStaging(before), withoutStaging(w.snapshot()))
			}
			if i%2 == 0 {
				r := w.run("clean")
				w.expect(r, 0)
				w.assertSame(before, w.snapshot())
				if step == "swap" && !strings.Contains(r.stdout+r.stderr, "undoing its half-done swap of package.json") {
					t.Errorf("clean did not say it undid the half-done swap")
				}
			}
			r := w.succeeds("npm", "install")
			if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
				t.Errorf("the run after the kill installed %q", got)
			}
			if i%2 == 1 && !strings.Contains(r.stderr, "earlier runs left behind") {
				t.Errorf("the run after the kill did not say it removed what the killed one left")
			}
			if left := runObjectsOf(t, pid); len(left) > 0 {
				t.Errorf("still there after the next run: %s", strings.Join(left, " "))
			}
			if dirs, _ := filepath.Glob(filepath.Join(w.proj, ".safe-install-*")); len(dirs) > 0 {
				t.Errorf("staging directories left in the project: %v", dirs)
			}
			t.Logf("the %s case took %s", step, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// killAt starts `safe-install npm install` paused at step by the test
// hook, sends it SIGKILL once it is there and returns its pid.
func (w *world) killAt(step string) int {
	w.t.Helper()
	p := w.pauseAt(step, "npm", "install")
	must(w.t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait()
	return p.cmd.Process.Pid
}

// paused is a run the test hook holds at a step.
type paused struct {
	w      *world
	cmd    *exec.Cmd
	marker string
	out    *strings.Builder
	exited chan error
}

// pauseAt starts safe-install with args, held by the test hook at step,
// and returns once it is there.
func (w *world) pauseAt(step string, args ...string) *paused {
	w.t.Helper()
	p := &paused{w: w, marker: filepath.Join(w.t.TempDir(), "paused"), out: &strings.Builder{}, exited: make(chan error, 1)}
	p.cmd = exec.Command(binary, args...)
	p.cmd.Dir = w.proj
	p.cmd.Env = append(append([]string{}, w.env...), "SAFE_INSTALL_TEST_PAUSE="+step, "SAFE_INSTALL_TEST_PAUSE_FILE="+p.marker)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	must(w.t, p.cmd.Start())
	go func() { p.exited <- p.cmd.Wait() }()
	deadline := time.After(3 * time.Minute)
	for {
		if _, err := os.Stat(p.marker); err == nil {
			return p
		}
		select {
		case err := <-p.exited:
			w.t.Fatalf("the run ended (%v) before it reached the %s step:\n%s", err, step, p.out.String())
		case <-deadline:
			p.cmd.Process.Kill()
			w.t.Fatalf("the run did not reach the %s step in 3 minutes:\n%s", step, p.out.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// resume lets the run go on from its step.
func (p *paused) resume() { must(p.w.t, os.Remove(p.marker)) }

// wait waits for the run's end and returns its exit code and output.
func (p *paused) wait() (int, string) {
	p.w.t.Helper()
	var code int
	select {
	case err := <-p.exited:
		code = p.cmd.ProcessState.ExitCode()
		if err != nil && code < 0 {
			code = -1 // killed by a signal
		}
	case <-time.After(5 * time.Minute):
		p.cmd.Process.Kill()
		<-p.exited
		p.w.t.Fatalf("the run did not end within 5 minutes:\n%s", p.out.String())
	}
	out := p.out.String()
	p.w.t.Logf("the run ended with %d:\n%s", code, out)
	p.w.assertNoCanary("output", []byte(out))
	return code, out
}

// withoutStaging drops the staging directories from a snapshot.
func withoutStaging(snap map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range snap {
		if !strings.HasPrefix(k, "proj/.safe-install-") {
			out[k] = v
		}
	}
	return out
}

// runObjectsOf lists the containers and volumes whose client label names
// pid, on this machine.
func runObjectsOf(t *testing.T, pid int) []string {
	t.Helper()
	var found []string
	for _, kind := range [][]string{{"ps", "-a"}, {"volume", "ls"}} {
		args := append(append([]string{}, kind...), "--filter", "label=io.safe-install.run", "--format", "json")
		out, err := exec.Command("podman", args...).Output()
		must(t, errorWith(err, out))
		var objs []struct {
			Names  []string
			Name   string
			Labels map[string]string
		}
		must(t, json.Unmarshal(out, &objs))
		for _, o := range objs {
			f := strings.Split(o.Labels["io.safe-install.client"], "/")
			if len(f) == 4 && f[2] == strconv.Itoa(pid) {
				found = append(found, fmt.Sprintf("%s%s", o.Name, strings.Join(o.Names, ",")))
			}
		}
	}
	return found
}

// Issue 17: the Podman service dies in the middle of a run (killed during
// the fetch, and during the scripts): the run fails with exit 15 and a
// message that says the engine went away; the project is as it was; once
// the service is back, `safe-install clean` leaves nothing of the run.
// Not parallel: every other run would lose the service too.
func TestE2EEngineKilledMidRun(t *testing.T) {
	for _, step := range []string{"fetch", "scripts"} {
		t.Run(step, func(t *testing.T) {
			start := time.Now()
			if testEngine != "" || localService == nil {
				skipOrFail(t, "the tests did not start the user's Podman service: not killing it")
			}
			w := newWorld(t)
			w.project("writes-own-file")
			before := w.snapshot()
			p := w.pauseAt(step, "npm", "install")
			t.Cleanup(func() {
				if localService == nil {
					must(t, startLocalService())
				}
			})
			n := killService(t)
			p.resume()
			code, out := p.wait()
			if code != exitUnavailable {
				t.Errorf("the run whose engine was killed ended with %d, want %d", code, exitUnavailable)
			}
			for _, want := range []string{"Podman", "safe-install clean"} {
				if !strings.Contains(out, want) {
					t.Errorf("the message does not say %q", want)
				}
			}
			w.assertSame(withoutStaging(before), withoutStaging(w.snapshot()))
			must(t, startLocalService())
			t.Logf("killed %d processes of the service; it is back", n)
			w.expect(w.run("clean"), 0)
			w.assertSame(before, w.snapshot())
			if left := runObjectsOf(t, p.cmd.Process.Pid); len(left) > 0 {
				t.Errorf("left after clean: %s", strings.Join(left, " "))
			}
			w.succeeds("npm", "install")
			t.Logf("the %s case took %s", step, time.Since(start).Round(100*time.Millisecond))
		})
	}
}

// killService sends SIGKILL to the tests' Podman service and every
// process it started that is still its child (rootless Podman re-executes
// itself in the user namespace), as an OOM killer or a crash would; the
// containers' conmons live on. It returns how many it killed.
func killService(t *testing.T) int {
	t.Helper()
	pids := append([]int{localService.Process.Pid}, descendants(localService.Process.Pid)...)
	for _, pid := range pids {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	localService.Wait()
	localService = nil
	return len(pids)
}

// descendants lists the processes below pid, by their parent links.
func descendants(pid int) []int {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 {
			if pp, err := strconv.Atoi(f[1]); err == nil {
				children[pp] = append(children[pp], p)
			}
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// A run killed while it copies the seccomp profiles into their lasting
// volume leaves that volume without them, or with part of one, under the
// name every later run looks for. The next run must find it not whole
// and write it again, and install. Not parallel: the volume is every
// run's.
func TestE2EHalfWrittenProfileVolumeIsRewritten(t *testing.T) {
	w := newWorld(t)
	w.project("writes-own-file")
	for _, v := range seccompVolumes(t) {
		out, err := exec.Command("podman", "volume", "rm", "-f", v).CombinedOutput()
		must(t, errorWith(err, out))
	}
	pid := w.killAt("seccomp-profiles")
	vols := seccompVolumes(t)
	if len(vols) != 1 {
		t.Fatalf("after the killed run (pid %d) the profiles' volumes are %v, want the one it was writing", pid, vols)
	}
	if whole, files := profilesOnDisk(t, vols[0]); whole {
		t.Fatalf("the run killed while writing the profiles left them whole (%v): the kill came too late to test anything", files)
	} else {
		t.Logf("the killed run left %s holding %v", vols[0], files)
	}
	w.succeeds("npm", "install")
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the run after the kill installed %q", got)
	}
	if whole, files := profilesOnDisk(t, vols[0]); !whole {
		t.Errorf("after the next run %s holds %v, not this build's profiles", vols[0], files)
	}
}

// seccompVolumes are the profiles' volumes on the engine.
func seccompVolumes(t *testing.T) []string {
	t.Helper()
	out, err := exec.Command("podman", "volume", "ls", "-q", "--filter", "name=^safe-install-cache-seccomp-").CombinedOutput()
	must(t, errorWith(err, out))
	return strings.Fields(string(out))
}

// profilesOnDisk says whether the volume holds this build's profiles byte
// for byte, and lists its files with their sizes.
func profilesOnDisk(t *testing.T, vol string) (bool, []string) {
	t.Helper()
	out, err := exec.Command("podman", "volume", "inspect", "--format", "{{.Mountpoint}}", vol).CombinedOutput()
	must(t, errorWith(err, out))
	dir := strings.TrimSpace(string(out))
	entries, err := os.ReadDir(dir)
	must(t, err)
	var files []string
	for _, e := range entries {
		info, err := e.Info()
		must(t, err)
		files = append(files, fmt.Sprintf("%s (%d bytes)", e.Name(), info.Size()))
	}
	for _, ph := range seccomp.Phases() {
		want, err := seccomp.JSON(seccomp.Profile(ph))
		must(t, err)
		if got, err := os.ReadFile(filepath.Join(dir, string(ph)+".json")); err != nil || !bytes.Equal(got, want) {
			return false, files
		}
	}
	return true, files
}

// A local engine's copy-in goes through the running holder (a tar the
// host runs in its namespaces); when that fails for any reason but the
// engine and the time limit, the archive endpoint copies the inputs in
// instead. Here the tar is killed (as an OOM killer could: it runs in the
// user's session, outside the containers' limits) while the fetch
// container runs, with its config volume read-only: killed on the work
// inputs, after the config went in, the fallback must copy only what did
// not go in; killed on the config, the fallback copies the config through
// the holder (the fetch container's copy answered 500) and the work inputs
// into the fetch container. The install succeeds either way. Control: the
// run's tar is found and dies (the work inputs' fallback copy then holds
// at the same step).
func TestE2ECopyInFallsBackAfterTheConfigWentIn(t *testing.T) {
	if testEngine != "" {
		skipOrFail(t, "a remote engine's copy-in is the archive endpoint's alone")
	}
	for _, step := range []string{"copy-in", "copy-in-config"} {
		t.Run(step, func(t *testing.T) { copyInFallsBack(t, step) })
	}
}

func copyInFallsBack(t *testing.T, step string) {
	w := newWorld(t)
	w.project("writes-own-file")
	p := w.pauseAt(step, "npm", "install")
	var tar []int
	for _, pid := range descendants(p.cmd.Process.Pid) {
		if comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid)); string(comm) == "tar\n" {
			tar = append(tar, pid)
		}
	}
	if len(tar) != 1 {
		p.cmd.Process.Kill()
		t.Fatalf("control: %d tar processes below the run held at its %s, want its extraction's", len(tar), step)
	}
	must(t, syscall.Kill(tar[0], syscall.SIGKILL))
	p.resume()
	if step == "copy-in" {
		// The archive endpoint's copy of the work inputs holds there again.
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
			if _, err := os.Stat(p.marker); err == nil {
				break
			}
			if time.Now().After(deadline) {
				p.cmd.Process.Kill()
				p.wait()
				t.Fatalf("the run did not copy in again once its tar was killed")
			}
		}
		p.resume()
	}
	if code, out := p.wait(); code != 0 {
		t.Fatalf("the run whose copy-in fell back to the archive endpoint ended with %d, want 0:\n%s", code, out)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("installed %q", got)
	}
}
