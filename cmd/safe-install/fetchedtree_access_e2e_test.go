//go:build e2e

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The key leaves out the registry credentials (the egress proxy adds them;
// no container sees them), yet they decide the fetched tree: an optional
// dependency npm could not fetch (a stale token: 401) is skipped, npm ci
// succeeds, and that tree is saved. With the token fixed, the same inputs
// restore the tree without the optional dependency, where a fetch (plain
// npm ci, or safe-install with the cache bypassed: the positive control)
// installs it.
func TestE2EFetchedTreeKeyAndRegistryAccess(t *testing.T) {
	corpus(t, corpusCase{"FT-4", "fetched-tree cache: a fetch that met failed requests", "nothing kept of a fetch whose egress saw a failed request"})
	v := startVerdaccio(t)
	w := newWorld(t)
	host := strings.TrimPrefix(v.url, "http:")
	rc := func(token string) {
		must(t, os.WriteFile(filepath.Join(w.home, ".npmrc"), []byte("registry="+v.url+"\n"+host+":_authToken="+token+"\n"), 0o600))
	}
	rc(v.token)
	w.canaries = append(w.canaries, v.token)
	w.project()
	// A package no cache holds yet, published and locked with the host's
	// npm: the sandbox's npm cache has never seen its tarball.
	name := "ft-opt-" + strings.ToLower(w.suffix)
	pkg := t.TempDir()
	must(t, os.WriteFile(filepath.Join(pkg, "package.json"), []byte(`{"name": "`+name+`", "version": "1.0.0"}`), 0o644))
	must(t, os.WriteFile(filepath.Join(pkg, "index.js"), []byte("module.exports = 1\n"), 0o644))
	for _, args := range [][]string{{"publish", pkg}, {"install", "--ignore-scripts", "--no-audit", "--no-fund", "--save-optional", name + "@1.0.0"}} {
		cmd := exec.Command("npm", args...)
		cmd.Dir, cmd.Env = w.proj, w.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	has := func() bool {
		_, err := os.Stat(filepath.Join(w.proj, "node_modules", name, "package.json"))
		return err == nil
	}

	// Twice: the first fetch of some inputs saves nothing, the second
	// would.
	rc("stale-token")
	for range 2 {
		r := w.ciRun()
		if has() {
			t.Fatalf("with a stale token the optional dependency was installed anyway: the case is not armed")
		}
		t.Logf("stale token: fetched_tree %q", reportField(t, r.report, "fetched_tree"))
	}

	rc(v.token)
	r := w.ciRun()
	restored := reportField(t, r.report, "fetched_tree")
	got := has()
	// Control: a fetch of the same inputs with the token installs it.
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	w.succeeds("npm", "ci", "--prefer-online")
	if !has() {
		t.Fatal("positive control: a fresh fetch with the token does not install the optional dependency")
	}
	if !got {
		t.Errorf("with the token fixed, npm ci (fetched_tree %q) gave the tree without the optional dependency that a fetch installs", restored)
	}
}
