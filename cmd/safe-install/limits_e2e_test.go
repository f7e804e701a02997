//go:build e2e

package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// RT-53: a script that never ends is stopped at --timeout, named, and
// leaves nothing behind (TestMain checks for leftover containers).
func TestE2ETimeoutStopsAHang(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-53", "hang", "wall-time limit (exit 12)"})
	w := newWorld(t)
	w.project("hang-forever")
	before := w.snapshot()
	start := time.Now()
	r := w.run("npm", "--timeout", "20s", "install")
	if r.code != exitTimeout {
		t.Fatalf("exit %d, want %d (timeout)", r.code, exitTimeout)
	}
	if took := time.Since(start); took > 80*time.Second {
		t.Errorf("took %s for a 20s limit", took)
	}
	for _, want := range []string{"hang-forever@1.0.0", "scripts", "time limit"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("error does not mention %q", want)
		}
	}
	w.assertSame(before, w.snapshot())
	assertNoProcess(t, fmt.Sprintf("hang-forever-%d", w.listener.port))
}

// RT-50: a fork bomb hits the process limit (the rlimit, counted per
// container user, holds where cgroup v1 ignores --pids), the run fails
// naming it, and the host keeps working while it does.
func TestE2EForkBombIsBounded(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-50", "fork bomb", "nproc rlimit (exit 13)"})
	w := newWorld(t)
	w.project("fork-bomb")
	before := w.snapshot()
	done := make(chan result, 1)
	go func() { done <- w.run("npm", "--timeout", "30s", "--pids", "64", "install") }()
	var worst time.Duration
	most := 0
	for i := 0; ; i++ {
		select {
		case r := <-done:
			if r.code != exitLimit && r.code != exitTimeout {
				t.Errorf("exit %d, want %d (process limit) or %d (time limit)", r.code, exitLimit, exitTimeout)
			}
			if r.code == exitLimit && !strings.Contains(r.stderr, "process limit") {
				t.Error("error does not mention the process limit")
			}
			if most > 64 {
				t.Errorf("saw %d of the bomb's processes, more than --pids 64", most)
			}
			if !strings.Contains(r.stderr, "fork-bomb@1.0.0") {
				t.Errorf("error does not name fork-bomb@1.0.0")
			}
			if worst > 2*time.Second {
				t.Errorf("the host took %s to start /bin/true during the bomb", worst)
			}
			w.assertSame(before, w.snapshot())
			return
		case <-time.After(time.Second):
			start := time.Now()
			if err := exec.Command("/bin/true").Run(); err != nil {
				t.Errorf("the host could not start /bin/true during the bomb: %v", err)
			}
			worst = max(worst, time.Since(start))
			out, _ := exec.Command("pgrep", "-c", "-f", "sleep 1000").Output()
			n := 0
			fmt.Sscan(string(out), &n)
			most = max(most, n)
		}
	}
}

// RT-51: a memory bomb is stopped by the memory bound (rlimit data where
// cgroup v1 ignores --memory) and the run fails naming the package.
func TestE2EMemoryBombIsBounded(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-51", "memory bomb", "data rlimit / cgroup (exit 13)"})
	w := newWorld(t)
	w.project("memory-bomb")
	w.failsUnchanged([]string{"npm", "--memory", "512m", "--timeout", "60s", "install"}, exitLimit, "memory-bomb@1.0.0", "out of memory")
}

// Ctrl-C during the scripts phase removes the containers and leaves the
// project as it was.
func TestE2EInterruptLeavesProjectUnchanged(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"invariant 8", "interrupted run", "cleanup; project unchanged (exit 130)"})
	w := newWorld(t)
	w.project("hang-forever")
	before := w.snapshot()
	cmd := exec.Command(binary, "npm", "install")
	cmd.Dir, cmd.Env = w.proj, w.env
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	must(t, cmd.Start())
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), "running install scripts") && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(2 * time.Second)
	must(t, cmd.Process.Signal(syscall.SIGINT))
	err := cmd.Wait()
	t.Logf("after SIGINT: %v\n%s", err, out.String())
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitInterrupted {
		t.Fatalf("an interrupted run ended with %v, want exit %d", err, exitInterrupted)
	}
	w.assertNoCanary("output", []byte(out.String()))
	w.assertSame(before, w.snapshot())
	assertNoProcess(t, fmt.Sprintf("hang-forever-%d", w.listener.port))
}

// assertNoProcess fails if a process whose command line has s survives.
func assertNoProcess(t *testing.T, s string) {
	t.Helper()
	time.Sleep(time.Second)
	out, _ := exec.Command("pgrep", "-af", s).Output()
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if line != "" && !strings.Contains(line, "pgrep") {
			t.Errorf("process left behind: %s", line)
		}
	}
}

// RT-52: a script that fills the disk, through its own package directory
// (a tmpfs bounded by --disk), through the container's home (a volume,
// watched by the disk guard), or with millions of empty files, is
// stopped: the run fails naming the package and the limit, the project is
// unchanged, and the host's free space never drops by much more than the
// limit. Not parallel: the guard and this test both
// measure the whole filesystem, which other tests' installs also write.
func TestE2EDiskFillIsBounded(t *testing.T) {
	corpus(t, corpusCase{"RT-52", "disk fill: package dir, home, 2M empty files, 1 TiB sparse file", "disk guard on the engine's filesystem (exit 13); fsize rlimit"})
	const limit = 200 << 20
	for _, variant := range []string{"work", "home", "files", "home-files"} {
		t.Run(variant, func(t *testing.T) {
			w := newWorld(t)
			w.target = map[string]any{"variant": variant}
			w.project("disk-fill")
			// The work directory is a tmpfs of --disk bytes: filling it
			// ends in ENOSPC. The home is a disk volume: the guard stops
			// that fill, and a flood of files.
			want := map[string]string{"work": "ran out of space in the sandbox", "files": "ran out of space in the sandbox",
				"home": "write more than 200 MiB", "home-files": "create more than 20000 files"}[variant]
			// The filesystem of the test's home, which is the engine's here
			// (CI has one disk).
			watch := watchFreeDisk(filepath.Dir(w.home))
			w.failsUnchanged([]string{"npm", "--disk", "200m", "--disk-files", "20000", "--timeout", "3m", "install"},
				exitLimit, "disk-fill@1.0.0", want, "--disk")
			if drop := watch(); drop > limit+limit/10 {
				t.Errorf("the host's free space dropped by %d MiB during the run, more than the 200 MiB limit plus 10%%", drop>>20)
			} else {
				t.Logf("the host's free space dropped by at most %d MiB", drop>>20)
			}
		})
	}
}

// watchFreeDisk watches the free space of dir's filesystem; the function
// it returns stops the watch and gives the largest drop it saw.
func watchFreeDisk(dir string) func() int64 {
	free := func() int64 {
		var st syscall.Statfs_t
		if syscall.Statfs(dir, &st) != nil {
			return -1
		}
		return int64(st.Bavail) * st.Bsize
	}
	stop, worst := make(chan struct{}), make(chan int64)
	go func() {
		start, most := free(), int64(0)
		for {
			select {
			case <-stop:
				worst <- most
				return
			case <-time.After(5 * time.Millisecond):
				if now := free(); now >= 0 {
					most = max(most, start-now)
				}
			}
		}
	}()
	return func() int64 { close(stop); return <-worst }
}
