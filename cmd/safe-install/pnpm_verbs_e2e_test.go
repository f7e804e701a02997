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
	control := w.pnpmControlDir()
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
	w.safeInstallOnPath()
	examples := mustAbs(t, "../../examples")
	out := w.bash(". " + filepath.Join(examples, "alias.sh") + "; pnpm install --frozen-lockfile && pnpm --version")
	if !strings.Contains(out, "safe-install: pnpm install --frozen-lockfile done") || !strings.Contains(out, pnpmTestVersion) {
		t.Errorf("pnpm install through the alias did not go through safe-install, or pnpm --version not to pnpm:\n%s", out)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the build after the alias: %q", got)
	}
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	out = w.bash("make -f " + filepath.Join(examples, "Makefile") + " deps-pnpm")
	if !strings.Contains(out, "safe-install: pnpm install --frozen-lockfile done") {
		t.Errorf("make deps-pnpm did not go through safe-install:\n%s", out)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the build after make deps-pnpm: %q", got)
	}
}

// The node_modules/.modules.yaml that comes back names the host's store
// (`pnpm store path`), so a later plain `pnpm install --offline
// --frozen-lockfile` on the host finds the tree up to date: no re-fetch
// (offline, from an empty host store, it could fetch nothing), the build's
// output still there. Positive control: the same tree with the record
// naming the sandbox's store, as main returned it, makes that host pnpm
// remove node_modules to install again, which fails offline.
func TestE2EPnpmHostInstallAfterwardsKeepsTheTree(t *testing.T) {
	t.Parallel()
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"writes-own-file@1.0.0", "victim@1.0.0"}, "writes-own-file")
	w.expect(w.run("pnpm", "install", "--frozen-lockfile"), 0)
	hostInstall := func(dir string) (string, error) {
		cmd := exec.Command(filepath.Join(hostPNPMDir, "pnpm"), "install", "--offline", "--frozen-lockfile")
		cmd.Dir, cmd.Env = dir, w.env
		out, err := cmd.CombinedOutput()
		return string(out), err
	}

	control := filepath.Join(w.home, "control")
	if out, err := exec.Command("cp", "-a", w.proj, control).CombinedOutput(); err != nil {
		t.Fatalf("copying the project: %v\n%s", err, out)
	}
	record := filepath.Join(control, "node_modules", ".modules.yaml")
	data, err := os.ReadFile(record)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(data, &m))
	m["storeDir"] = "/cache/pnpm-store/v11"
	data, _ = json.Marshal(m)
	must(t, os.WriteFile(record, data, 0o644))
	out, err := hostInstall(control)
	if _, statErr := os.Stat(filepath.Join(control, "node_modules", "writes-own-file", "generated.txt")); err == nil && statErr == nil {
		t.Fatalf("positive control: with the sandbox's store in the record the host's pnpm kept the tree (the check is not armed):\n%s", out)
	}
	must(t, os.RemoveAll(control))

	if out, err := hostInstall(w.proj); err != nil {
		t.Fatalf("plain pnpm install --offline --frozen-lockfile after safe-install: %v\n%s", err, out)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the sandbox's build output after the host's install: %q", got)
	}
}

// pnpm update and pnpm rebuild through the sandbox: with victim ^1.0.0
// locked at 1.0.0 and 1.0.1 published since, `pnpm update victim` brings
// 1.0.1 into package.json's lock and the tree; `pnpm rebuild` runs the
// allowed build again (its file, removed by hand, is back).
func TestE2EPnpmUpdateAndRebuild(t *testing.T) {
	t.Parallel()
	w := newPnpmWorld(t)
	v := startVerdaccio(t)
	w.pnpmProject([]string{"victim@^1.0.0", "writes-own-file@1.0.0"}, "writes-own-file")
	if lock := w.read("pnpm-lock.yaml"); !strings.Contains(lock, "victim@1.0.0") {
		t.Fatalf("the lockfile does not pin victim 1.0.0 (was 1.0.1 published already?):\n%s", lock)
	}
	src := filepath.Join(t.TempDir(), "victim")
	must(t, os.MkdirAll(src, 0o755))
	for _, f := range []string{"index.js", "package.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "corpus", "npm", "victim", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(src, f), []byte(strings.Replace(string(data), `"version": "1.0.0"`, `"version": "1.0.1"`, 1)), 0o644))
	}
	tgz := filepath.Join(t.TempDir(), "victim-1.0.1.tgz")
	writeTarGz(t, tgz, "package", src, nil)
	host := strings.TrimPrefix(v.url, "http:")
	if out, err := exec.Command("npm", "publish", tgz, "--registry", v.url, "--"+host+":_authToken="+v.token).CombinedOutput(); err != nil {
		t.Fatalf("publishing victim 1.0.1: %v\n%s", err, out)
	}

	w.expect(w.run("pnpm", "update", "victim"), 0)
	if got := installedVersion(t, w, "victim"); got != "1.0.1" {
		t.Errorf("victim after pnpm update is %s, want 1.0.1", got)
	}
	if lock := w.read("pnpm-lock.yaml"); !strings.Contains(lock, "victim@1.0.1") {
		t.Errorf("pnpm-lock.yaml after pnpm update:\n%s", lock)
	}

	generated := filepath.Join(w.proj, "node_modules/writes-own-file/generated.txt")
	must(t, os.Remove(generated))
	w.expect(w.run("pnpm", "rebuild"), 0, "writes-own-file@1.0.0 postinstall")
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the allowed build's file after pnpm rebuild: %q", got)
	}
	if got := installedVersion(t, w, "victim"); got != "1.0.1" {
		t.Errorf("victim after pnpm rebuild is %s, want 1.0.1", got)
	}
}
