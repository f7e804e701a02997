//go:build e2e

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// manifestDeps reads a package.json's dependencies and devDependencies.
func manifestDeps(t *testing.T, file string) (deps, dev map[string]string, raw string) {
	t.Helper()
	data, err := os.ReadFile(file)
	must(t, err)
	var m struct {
		Dependencies    map[string]string `json:"dependencies"`
		DevDependencies map[string]string `json:"devDependencies"`
	}
	must(t, json.Unmarshal(data, &m))
	return m.Dependencies, m.DevDependencies, string(data)
}

// pnpm add and pnpm remove through the sandbox: package.json and
// pnpm-lock.yaml come back as pnpm wrote them in the fetch, the added
// package's allowed build ran, the removed package is gone from the tree.
func TestE2EPnpmAddAndRemove(t *testing.T) {
	t.Parallel()
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"victim@1.0.0"}, "writes-own-file")
	r := w.run("pnpm", "add", "-E", "writes-own-file@1.0.0")
	w.expect(r, 0, "writes-own-file@1.0.0 postinstall")
	deps, _, _ := manifestDeps(t, filepath.Join(w.proj, "package.json"))
	if deps["writes-own-file"] != "1.0.0" || deps["victim"] != "1.0.0" {
		t.Errorf("package.json's dependencies after pnpm add -E: %v", deps)
	}
	if lock := w.read("pnpm-lock.yaml"); !strings.Contains(lock, "writes-own-file@1.0.0") {
		t.Errorf("pnpm-lock.yaml lacks the added package:\n%s", lock)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the added package's build: %q", got)
	}

	r = w.run("pnpm", "remove", "victim")
	w.expect(r, 0)
	deps, _, _ = manifestDeps(t, filepath.Join(w.proj, "package.json"))
	if _, ok := deps["victim"]; ok || deps["writes-own-file"] != "1.0.0" {
		t.Errorf("package.json's dependencies after pnpm remove victim: %v", deps)
	}
	if lock := w.read("pnpm-lock.yaml"); strings.Contains(lock, "victim") {
		t.Errorf("pnpm-lock.yaml still has the removed package:\n%s", lock)
	}
	if _, err := os.Lstat(filepath.Join(w.proj, "node_modules", "victim")); !os.IsNotExist(err) {
		t.Errorf("node_modules/victim after pnpm remove: %v", err)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the kept package's build after pnpm remove: %q", got)
	}
}

// RT-18, pnpm add's twin: the added package's allowed build rewrites the
// project's package.json (a test script that runs its code) and .npmrc.
// Under plain pnpm add the .npmrc stays; through safe-install the
// package.json that comes back is the one pnpm wrote before any script
// ran, and no .npmrc comes back.
func TestE2EPnpmAddManifestRewriteIgnored(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-18 (pnpm add)", "pnpm add: postinstall rewrites package.json and .npmrc", "manifests from the fetch (invariant 9)"})
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"victim@1.0.0"}, "rewrite-manifest")
	control := filepath.Join(w.home, "control")
	must(t, os.MkdirAll(control, 0o755))
	for _, name := range []string{"package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml"} {
		data, err := os.ReadFile(filepath.Join(w.proj, name))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(control, name), data, 0o644))
	}
	w.plainPnpm(control, "add", "-D", "rewrite-manifest@1.0.0")
	// pnpm add writes package.json after the builds, over the rewrite; the
	// .npmrc the build wrote stays, for the host's next npm or pnpm to load.
	if data, err := os.ReadFile(filepath.Join(control, ".npmrc")); err != nil || !strings.Contains(string(data), "node-options") {
		t.Fatalf("positive control: under plain pnpm add the build did not write .npmrc (%q, %v): the attack is not armed", data, err)
	}
	must(t, os.RemoveAll(control))
	r := w.run("pnpm", "add", "-D", "rewrite-manifest@1.0.0")
	w.expect(r, 0, "rewrite-manifest@1.0.0 postinstall")
	_, dev, raw := manifestDeps(t, filepath.Join(w.proj, "package.json"))
	if strings.Contains(raw, "curl") || dev["rewrite-manifest"] == "" {
		t.Errorf("package.json after pnpm add -D through the sandbox:\n%s", raw)
	}
	if _, err := os.Lstat(filepath.Join(w.proj, ".npmrc")); !os.IsNotExist(err) {
		t.Errorf("the build's .npmrc came back: %v", err)
	}
}

// examples/alias.sh and examples/Makefile for pnpm: `pnpm install` through
// the shell function and `make deps-pnpm` both go through safe-install
// (the allowed build's file is there), while `pnpm --version` is pnpm's.
func TestE2EPnpmAliasAndMakefile(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"examples (pnpm)", "benign: alias.sh and the Makefile deps-pnpm target", "works"})
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"writes-own-file@1.0.0"}, "writes-own-file")
	bin := t.TempDir()
	must(t, os.Symlink(binary, filepath.Join(bin, "safe-install")))
	for i, kv := range w.env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			w.env[i] = "PATH=" + bin + ":" + p
		}
	}
	shell := func(script string) string {
		cmd := exec.Command("bash", "-c", script)
		cmd.Dir, cmd.Env = w.proj, w.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s: %v\n%s", script, err, out)
		}
		return string(out)
	}
	examples := mustAbs(t, "../../examples")
	out := shell(". " + filepath.Join(examples, "alias.sh") + "; pnpm install --frozen-lockfile && pnpm --version")
	if !strings.Contains(out, "safe-install: pnpm install --frozen-lockfile done") || !strings.Contains(out, pnpmTestVersion) {
		t.Errorf("pnpm install through the alias did not go through safe-install, or pnpm --version not to pnpm:\n%s", out)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the build after the alias: %q", got)
	}
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	out = shell("make -f " + filepath.Join(examples, "Makefile") + " deps-pnpm")
	if !strings.Contains(out, "safe-install: pnpm install --frozen-lockfile done") {
		t.Errorf("make deps-pnpm did not go through safe-install:\n%s", out)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the build after make deps-pnpm: %q", got)
	}
}
