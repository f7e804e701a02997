// Package footprint measures what a test scenario costs a process: each
// scenario runs in a test process of its own, which reports its peak RSS
// (VmHWM) and the bytes it allocated. The bounds tests of the egress proxy,
// the relay and the decoy scan use it (invariant 12).
package footprint

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strconv"
	"testing"
)

// scenarioEnv names the scenario a subprocess runs.
const scenarioEnv = "SAFE_INSTALL_BOUNDS_SCENARIO"

// Footprint is what one scenario cost its process.
type Footprint struct {
	PeakKiB    int64 // VmHWM
	AllocBytes int64 // runtime TotalAlloc
}

// Measure runs scenario name in a fresh test process: the package's test
// binary, run with -test.run=^TestFootprint$ (see Serve).
func Measure(t *testing.T, name string) Footprint {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFootprint$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), scenarioEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scenario %s: %v\n%s", name, err, out)
	}
	m := regexp.MustCompile(`footprint: peak (\d+) KiB, allocated (\d+) bytes`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("scenario %s reported no footprint:\n%s", name, out)
	}
	peak, _ := strconv.ParseInt(string(m[1]), 10, 64)
	alloc, _ := strconv.ParseInt(string(m[2]), 10, 64)
	return Footprint{peak, alloc}
}

// Serve is the body of a package's TestFootprint: in a subprocess of
// Measure it runs the named scenario and prints its footprint; in a plain
// test run it does nothing (and says so).
func Serve(t *testing.T, scenarios map[string]func(testing.TB)) {
	name := os.Getenv(scenarioEnv)
	if name == "" {
		t.Log("runs as a subprocess of the bounds tests")
		return
	}
	run, ok := scenarios[name]
	if name == "baseline" {
		run, ok = func(testing.TB) {}, true
	}
	if !ok {
		t.Fatalf("no scenario %s", name)
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	run(t)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	status, _ := os.ReadFile("/proc/self/status")
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/self/status")
	}
	fmt.Printf("footprint: peak %s KiB, allocated %d bytes\n", m[1], after.TotalAlloc-before.TotalAlloc)
}
