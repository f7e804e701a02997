//go:build e2e

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// pnpmWorkspace writes a two-package workspace: packages/a (no
// dependencies) and packages/b, which depends on a (workspace:*) and on
// the registry packages deps; builds of allow are allowed. The lockfile
// comes from the host's pnpm (--lockfile-only: no script runs).
func (w *world) pnpmWorkspace(deps []string, allow ...string) {
	w.t.Helper()
	write := func(rel string, v any) {
		data, _ := json.MarshalIndent(v, "", "  ")
		must(w.t, os.MkdirAll(filepath.Dir(filepath.Join(w.proj, rel)), 0o755))
		must(w.t, os.WriteFile(filepath.Join(w.proj, rel), data, 0o644))
	}
	write("package.json", map[string]any{"name": "proj", "version": "1.0.0", "private": true})
	write("packages/a/package.json", map[string]any{"name": "a", "version": "1.0.0", "main": "index.js"})
	must(w.t, os.WriteFile(filepath.Join(w.proj, "packages/a/index.js"), []byte("module.exports = 'from a';\n"), 0o644))
	bDeps := depsMap(deps)
	bDeps["a"] = "workspace:*"
	write("packages/b/package.json", map[string]any{"name": "b", "version": "1.0.0", "dependencies": bDeps})
	w.pnpmLock("packages:\n  - packages/*\n", allow)
}

// A two-package workspace installs: b's node_modules links a (the
// workspace package's own directory) and a registry package whose allowed
// build ran in the sandbox, both of which node finds from b on the host;
// the root's and b's node_modules came back in one run.
func TestE2EPnpmWorkspaceInstalls(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B9 (pnpm)", "benign: a pnpm workspace, b depends on a (workspace:*) and a registry package that builds", "works"})
	w := newPnpmWorld(t)
	w.pnpmWorkspace([]string{"writes-own-file@1.0.0"}, "writes-own-file")
	r := w.run("pnpm", "install", "--frozen-lockfile")
	w.expect(r, 0, "writes-own-file@1.0.0 postinstall")
	if target, err := os.Readlink(filepath.Join(w.proj, "packages", "b", "node_modules", "a")); err != nil || target != "../../a" {
		t.Errorf("packages/b/node_modules/a links to %q (%v), want the workspace package ../../a", target, err)
	}
	if got := w.read("packages/b/node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the allowed build's file, seen from b = %q", got)
	}
	if got := w.nodeIn(filepath.Join(w.proj, "packages", "b"), `console.log(require("a"), require("fs").existsSync(require.resolve("writes-own-file/package.json")))`); got != "from a true" {
		t.Errorf("node in packages/b on the host said %q", got)
	}
	if _, err := os.Lstat(filepath.Join(w.proj, "node_modules", ".pnpm", "writes-own-file@1.0.0")); err != nil {
		t.Errorf("the root's virtual store did not come back: %v", err)
	}
	w.assertTreeClean(filepath.Join(w.proj, "node_modules"))
}

// RT-10, the workspace twin: an allowed build plants a link in a
// workspace package's node_modules (not the root's) that points out of
// the project, to ~/.bashrc. Plain pnpm leaves it there; safe-install
// refuses the run and the project is as it was.
func TestE2EPnpmWorkspaceSymlinkEscapeRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-10 (pnpm workspace)", "pnpm: symlink out of the project from a workspace package's node_modules", "copy-back validation (exit 10)"})
	w := newPnpmWorld(t)
	w.pnpmWorkspace([]string{"pnpm-plant-ws-symlink@1.0.0"}, "pnpm-plant-ws-symlink")
	control := w.pnpmControl("packages/a/package.json", "packages/b/package.json")
	rc := filepath.Join(control, "packages", "b", "node_modules", "rc")
	if data, err := os.ReadFile(rc); err != nil || !strings.Contains(string(data), "the user's shell setup") {
		t.Fatalf("positive control: under plain pnpm the planted link does not reach ~/.bashrc (%q, %v): the attack is not armed", data, err)
	}
	must(t, os.RemoveAll(control))
	w.failsUnchanged([]string{"pnpm", "install", "--frozen-lockfile"}, exitArtifact,
		"packages/b/node_modules/rc", `"../../../../.bashrc"`)
}

// A run killed between the exchanges of a workspace's node_modules trees
// (the root's swapped in, packages/b's not yet) leaves a half set only
// until `safe-install clean` (or the next run) reads the journal and swaps
// the root's back: the project is then the old one, every tree of it.
func TestE2EPnpmWorkspaceKilledMidSwapIsUndone(t *testing.T) {
	t.Parallel()
	w := newPnpmWorld(t)
	w.pnpmWorkspace([]string{"writes-own-file@1.0.0"}, "writes-own-file")
	w.expect(w.run("pnpm", "install", "--frozen-lockfile"), 0)
	rootMark := filepath.Join(w.proj, "node_modules", ".old-tree")
	bMark := filepath.Join(w.proj, "packages", "b", "node_modules", ".old-tree")
	must(t, os.WriteFile(rootMark, []byte("old"), 0o644))
	must(t, os.WriteFile(bMark, []byte("old"), 0o644))
	before := w.snapshot()

	p := w.pauseAt("swap", "pnpm", "install", "--frozen-lockfile")
	_, rootErr := os.Stat(rootMark)
	_, bErr := os.Stat(bMark)
	must(t, p.cmd.Process.Signal(syscall.SIGKILL))
	p.wait()
	if !os.IsNotExist(rootErr) || bErr != nil {
		t.Fatalf("at the pause the root's tree is new (%v) and b's old (%v)? the kill did not fall between the exchanges", rootErr, bErr)
	}
	r := w.run("clean")
	w.expect(r, 0, "undoing its half-done swap of node_modules")
	w.assertSame(before, w.snapshot())
	w.expect(w.run("pnpm", "install", "--frozen-lockfile"), 0)
	if got := w.read("packages/b/node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the run after the recovery: %q", got)
	}
}
