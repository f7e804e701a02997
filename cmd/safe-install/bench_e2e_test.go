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
	"syscall"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox"
)

// BenchmarkWarmNPMCI runs paired, interleaved warm-cache installs of the
// bundled project (485 packages, two with install scripts): plain npm ci,
// then safe-install npm ci, b.N times. It prints each pair, the medians,
// the per-phase breakdown and safe-install's peak RSS, and reports the
// median ratio. `make bench` runs it.
func BenchmarkWarmNPMCI(b *testing.B) {
	if setupErr != nil {
		b.Fatalf("e2e environment: %v", setupErr)
	}
	proj := b.TempDir()
	for _, f := range []string{"package.json", "package-lock.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "bench", f))
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(proj, f), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	run := func(name string, args ...string) (time.Duration, int64, []byte) {
		if err := os.RemoveAll(filepath.Join(proj, "node_modules")); err != nil {
			b.Fatal(err)
		}
		cmd := exec.Command(name, args...)
		cmd.Dir = proj
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		start := time.Now()
		out, err := cmd.Output()
		took := time.Since(start)
		if err != nil {
			b.Fatalf("%s %v: %v\n%s%s", name, args, err, out, stderr.Bytes())
		}
		rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB
		return took, rss, out
	}
	// Warm both caches: npm's own, and safe-install's cache volume.
	run("npm", "ci", "--no-audit", "--no-fund")
	run(binary, "npm", "ci")

	var plain, safe, ratios []float64
	var peakRSS int64
	phases := map[string][]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		p, _, _ := run("npm", "ci", "--no-audit", "--no-fund")
		s, rss, out := run(binary, "npm", "--json", "ci")
		var rep sandbox.Report
		if err := json.Unmarshal(out, &rep); err != nil {
			b.Fatalf("report: %v", err)
		}
		other := float64(rep.DurationMS) / 1000
		for _, ph := range rep.Phases {
			phases[ph.Name] = append(phases[ph.Name], float64(ph.DurationMS)/1000)
			other -= float64(ph.DurationMS) / 1000
		}
		phases["copy-back, swap and the rest"] = append(phases["copy-back, swap and the rest"], other)
		plain, safe = append(plain, p.Seconds()), append(safe, s.Seconds())
		ratios = append(ratios, s.Seconds()/p.Seconds())
		peakRSS = max(peakRSS, rss)
		fmt.Printf("pair %d: plain npm ci %.2fs, safe-install npm ci %.2fs, ratio %.2f\n", i+1, p.Seconds(), s.Seconds(), s.Seconds()/p.Seconds())
	}
	b.StopTimer()
	fmt.Printf("warm npm ci, %d pairs: plain median %.2fs (%.2f-%.2f), safe-install median %.2fs (%.2f-%.2f), ratio median %.2f\n",
		b.N, median(plain), slices.Min(plain), slices.Max(plain), median(safe), slices.Min(safe), slices.Max(safe), median(ratios))
	for _, name := range []string{"fetch", "scripts", "copy-back, swap and the rest"} {
		fmt.Printf("  %s: median %.2fs\n", name, median(phases[name]))
	}
	fmt.Printf("  safe-install peak RSS: %.1f MiB\n", float64(peakRSS)/1024)
	b.ReportMetric(median(ratios), "ratio")
	b.ReportMetric(float64(peakRSS)/1024, "peak-MiB")
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
