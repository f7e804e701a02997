//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"testing"
)

// The pnpm benchmarks run the bench project (its pnpm-lock.yaml made by
// `pnpm import` from its package-lock.json: the same versions as npm's)
// with the builds of its two packages with install scripts allowed, as a
// pnpm user would allow them: plain pnpm 12, then safe-install, in pairs.
// Plain pnpm gets a store and a metadata cache of its own in the test's
// temporary directory; safe-install has its cache volume.

// TestBenchWarmPnpmInstall: pnpm install --frozen-lockfile with both
// stores warm and no node_modules.
func TestBenchWarmPnpmInstall(t *testing.T) {
	x := newPnpmBench(t)
	x.pnpmPairs("warm pnpm install --frozen-lockfile", func(string) { x.removeTree() })
}

// TestBenchColdPnpmInstall: the same with both stores emptied first
// (plain pnpm's store and metadata cache; safe-install's cache volume,
// which also holds pnpm itself, fetched again: a fresh machine's first
// run).
func TestBenchColdPnpmInstall(t *testing.T) {
	x := newPnpmBench(t)
	x.pnpmPairs("cold pnpm install --frozen-lockfile", func(who string) {
		x.removeTree()
		if who == "plain" {
			for _, d := range []string{x.store, x.cache} {
				if err := os.RemoveAll(d); err != nil {
					t.Fatal(err)
				}
			}
		} else {
			x.cmd("sh", "-c", "podman volume ls -q --filter name=^safe-install-cache-pnpm- | xargs -r podman volume rm -f")
		}
	})
}

type pnpmBench struct {
	*bench
	pnpm         string // the host's pnpm 12 (exec looks a bare name up in this process's PATH)
	store, cache string
}

func newPnpmBench(t *testing.T) *pnpmBench {
	if setupErr != nil {
		t.Fatalf("e2e environment: %v", setupErr)
	}
	dir := hostPNPM(t)
	tmp := t.TempDir()
	x := &pnpmBench{bench: &bench{t: t, proj: t.TempDir(), env: append(os.Environ(), "PATH="+dir+":"+os.Getenv("PATH"))},
		pnpm: filepath.Join(dir, "pnpm"), store: filepath.Join(tmp, "store"), cache: filepath.Join(tmp, "cache")}
	for _, f := range []string{"package.json", "package-lock.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "bench", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(x.proj, f), data, 0o644))
	}
	must(t, os.WriteFile(filepath.Join(x.proj, "pnpm-workspace.yaml"), []byte("allowBuilds:\n  bufferutil: true\n  esbuild: true\n"), 0o644))
	x.cmd(x.pnpm, "import", "--cache-dir", x.cache)
	must(t, os.Remove(filepath.Join(x.proj, "package-lock.json")))
	// Warm both stores and leave a tree.
	x.cmd(x.pnpm, x.plainArgs()...)
	x.removeTree()
	x.cmd(binary, "pnpm", "install", "--frozen-lockfile")
	return x
}

func (x *pnpmBench) plainArgs() []string {
	return []string{"install", "--frozen-lockfile", "--store-dir", x.store, "--cache-dir", x.cache}
}

func (x *pnpmBench) pnpmPairs(what string, prepare func(who string)) {
	x.pairs(what, append([]string{x.pnpm}, x.plainArgs()...), []string{binary, "pnpm", "--json", "install", "--frozen-lockfile"}, prepare)
}
