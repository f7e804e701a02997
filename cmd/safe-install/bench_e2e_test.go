//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox"
)

// The benchmarks (`make bench`) run paired, interleaved installs of the
// bundled project (485 packages, two with install scripts): plain npm,
// then safe-install, BENCH_PAIRS times (default 3). Each prints every pair,
// the medians, the per-step breakdown from safe-install's report and its
// peak RSS. They are tests rather than Go benchmarks, which would run
// every case once more first (b.N = 1) and double the time for nothing.

// TestBenchWarmNPMCI: npm ci with both caches warm and no node_modules
// (removed before each run, as npm ci itself removes it).
func TestBenchWarmNPMCI(t *testing.T) {
	bench := newBench(t)
	bench.npmPairs("warm npm ci", []string{"ci"}, func(string) { bench.removeTree() })
}

// TestBenchWarmNPMCINewTree: warm npm ci as above, but with these inputs
// new to safe-install's fetched-tree cache (the host's records removed
// before each run): what the first npm ci of a new lockfile costs with a
// warm package cache.
func TestBenchWarmNPMCINewTree(t *testing.T) {
	bench := newBench(t)
	bench.npmPairs("warm npm ci, inputs new to the fetched-tree cache", []string{"ci"}, func(string) {
		bench.removeTree()
		bench.forgetFetchedTrees()
	})
}

// forgetFetchedTrees removes the host's records of safe-install's fetched
// trees (sandbox/fetchedtree): the next npm ci is its inputs' first.
func (x *bench) forgetFetchedTrees() {
	dir, err := os.UserCacheDir()
	if err != nil {
		x.t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "safe-install", "fetched-trees")); err != nil {
		x.t.Fatal(err)
	}
}

// TestBenchColdNPMCI: npm ci with both caches emptied first (npm's for
// plain npm, the cache volume for safe-install): downloads included.
func TestBenchColdNPMCI(t *testing.T) {
	bench := newBench(t)
	bench.npmPairs("cold npm ci", []string{"ci"}, func(who string) {
		bench.removeTree()
		if who == "plain" {
			bench.cmd("npm", "cache", "clean", "--force")
		} else {
			// One cache per engine ID mapping: safe-install-cache-npm-<hash>;
			// the host's records of its fetched trees go with it.
			bench.cmd("sh", "-c", "podman volume ls -q --filter name=^safe-install-cache-npm- | xargs -r podman volume rm -f")
			bench.forgetFetchedTrees()
		}
	})
}

// TestBenchNPMInstallPackage: npm install of one more package into the
// existing tree (--no-save, so every pair starts from the same project).
func TestBenchNPMInstallPackage(t *testing.T) {
	bench := newBench(t)
	bench.npmPairs("npm install left-pad@1.3.0 into the tree", []string{"install", "--no-save", "left-pad@1.3.0"}, func(string) {})
}

// TestBenchNPMUpdatePackage: npm update of one outdated package in the
// tree (left-pad, ^1.1.0 locked at 1.1.0 by plain npm before each run,
// untimed, moves to 1.3.0).
func TestBenchNPMUpdatePackage(t *testing.T) {
	bench := newBench(t)
	bench.npmPairs("npm update left-pad (1.1.0 -> 1.3.0) in the tree", []string{"update", "left-pad"}, func(string) {
		bench.cmd("npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "left-pad@1.1.0")
	})
}

// TestBenchNPMUninstallPackage: npm uninstall of one package from the
// tree (left-pad, added by plain npm before each run, untimed).
func TestBenchNPMUninstallPackage(t *testing.T) {
	bench := newBench(t)
	bench.npmPairs("npm uninstall left-pad from the tree", []string{"uninstall", "left-pad"}, func(string) {
		bench.cmd("npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "left-pad@1.3.0")
	})
}

// TestBenchPipInstall: pip install -r requirements.txt of four sdists (one
// C extension, a chain of three, setuptools and wheel as build
// requirements) from the loopback PEP 503 index of the pip tests into a
// fresh virtualenv. Plain pip runs without its wheel cache, so that both
// build every sdist, as on a fresh machine.
func TestBenchPipInstall(t *testing.T) {
	w := newPipWorld(t)
	w.requirements("fastext==1.0", "chain-a==1.0")
	x := &bench{t: t, proj: w.proj, env: w.env}
	x.pairs("pip install -r requirements.txt (4 sdists, 1 C extension)",
		[]string{filepath.Join(w.venv, "bin", "pip"), "install", "--no-cache-dir", "-r", "requirements.txt"},
		[]string{binary, "pip", "--json", "install", "-r", "requirements.txt"},
		func(string) { x.cmd("python3", "-m", "venv", "--clear", w.venv) })
}

// benchPairs is how many pairs each case runs.
func benchPairs(t testing.TB) int {
	n := 3
	if v := os.Getenv("BENCH_PAIRS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 1 {
			t.Fatalf("BENCH_PAIRS=%q: want a count of pairs", v)
		}
	}
	return n
}

type bench struct {
	t    testing.TB
	proj string
	env  []string // nil: this process's
}

func newBench(t testing.TB) *bench {
	if setupErr != nil {
		t.Fatalf("e2e environment: %v", setupErr)
	}
	x := &bench{t: t, proj: t.TempDir()}
	for _, f := range []string{"package.json", "package-lock.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "bench", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(x.proj, f), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Warm both caches (npm's own and safe-install's volume) and leave a tree.
	x.cmd("npm", "ci", "--no-audit", "--no-fund")
	x.removeTree()
	x.cmd(binary, "npm", "ci")
	return x
}

func (x *bench) removeTree() {
	if err := os.RemoveAll(filepath.Join(x.proj, "node_modules")); err != nil {
		x.t.Fatal(err)
	}
}

// cmd runs a command in the project and returns its time, peak RSS (the
// kernel's rusage, which for a child started with vfork also counts this
// process's memory) and stdout.
func (x *bench) cmd(name string, args ...string) (time.Duration, int64, []byte) {
	cmd := exec.Command(name, args...)
	cmd.Dir = x.proj
	cmd.Env = x.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	took := time.Since(start)
	if err != nil {
		x.t.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr.Bytes())
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
	return took, rss, out
}

// npmPairs runs benchPairs pairs of `npm ARGS` and `safe-install npm ARGS`.
func (x *bench) npmPairs(what string, args []string, prepare func(who string)) {
	x.pairs(what, append([]string{"npm"}, append(slices.Clone(args), "--no-audit", "--no-fund")...),
		append([]string{binary, "npm", "--json"}, args...), prepare)
}

// pairs runs benchPairs pairs of the plain command and safe-install's
// (which prints its JSON report), calling prepare("plain") or
// prepare("safe") before each.
func (x *bench) pairs(what string, plainCmd, safeCmd []string, prepare func(who string)) {
	t := x.t
	n := benchPairs(t)
	var plain, safe, ratios []float64
	var peakRSS int64
	var steps []string // the report's timing steps, in run order
	phases := map[string][]float64{}
	for i := range n {
		prepare("plain")
		p, _, _ := x.cmd(plainCmd[0], plainCmd[1:]...)
		prepare("safe")
		s, _, out := x.cmd(safeCmd[0], safeCmd[1:]...)
		var rep sandbox.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("report: %v", err)
		}
		for _, st := range rep.Timings {
			if !slices.Contains(steps, st.Step) {
				steps = append(steps, st.Step)
			}
			phases[st.Step] = append(phases[st.Step], float64(st.MS)/1000)
		}
		plain, safe = append(plain, p.Seconds()), append(safe, s.Seconds())
		ratios = append(ratios, s.Seconds()/p.Seconds())
		// The report's own VmHWM: a vforked child's rusage counts the
		// test process's memory too.
		peakRSS = max(peakRSS, rep.PeakRSSKiB)
		fmt.Printf("pair %d: plain %.2fs, safe-install %.2fs, ratio %.2f\n", i+1, p.Seconds(), s.Seconds(), s.Seconds()/p.Seconds())
	}
	fmt.Printf("%s, %d pairs: plain median %.2fs (%.2f-%.2f), safe-install median %.2fs (%.2f-%.2f), ratio median %.2f\n",
		what, n, median(plain), slices.Min(plain), slices.Max(plain), median(safe), slices.Min(safe), slices.Max(safe), median(ratios))
	for _, name := range steps {
		fmt.Printf("  %s: median %.2fs\n", name, median(phases[name]))
	}
	fmt.Printf("  safe-install peak RSS: %.1f MiB\n", float64(peakRSS)/1024)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
