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

// Incremental npm installs (issue 19): into a tree that npm's record of it
// vouches for, `npm install` and `npm uninstall` change the tree in place
// in the sandbox and bring back only what changed; the rest of the new
// tree is the host's own files.

// An incremental install and uninstall give the tree plain npm gives, file
// for file, npm's record included.
func TestE2ENPMIncrementalSameAsPlain(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.project("writes-own-file", "has-bin")
	w.succeeds("npm", "install")
	w.addDeps("victim", "script-lib")
	plain := w.plainCopy()
	r := w.succeeds("npm", "install")
	if !strings.Contains(r.stderr, "incremental: 2 packages added or changed, 0 packages removed") {
		t.Errorf("the install did not start from the installed tree:\n%s", r.stderr)
	}
	w.assertSame(w.snapshotOf(filepath.Join(plain, "node_modules")), w.snapshotOf(filepath.Join(w.proj, "node_modules")))
	if got := w.nodeOnHost(`console.log(require("script-lib").ok)`); got != "script-lib ok" {
		t.Errorf("script-lib on the host: %s", got)
	}

	w.plainInNetns(plain, "npm uninstall --offline --no-audit --no-fund has-bin")
	r = w.succeeds("npm", "uninstall", "has-bin")
	if !strings.Contains(r.stderr, "incremental: 0 packages added or changed, 1 package removed") {
		t.Errorf("the uninstall did not start from the installed tree:\n%s", r.stderr)
	}
	w.assertSame(w.snapshotOf(filepath.Join(plain, "node_modules")), w.snapshotOf(filepath.Join(w.proj, "node_modules")))
	if w.read("package-lock.json") != readFile(t, filepath.Join(plain, "package-lock.json")) {
		t.Error("the lockfile after the uninstall differs from plain npm's")
	}
}

// npm's record may leave resolved out where the lockfile has it (as after
// a --no-save install); npm, seeing the same integrity, leaves such a
// package alone, and the incremental run must too. Before, it counted the
// package as changed and brought it back from the fetch, which had only
// its package.json and bin files.
func TestE2ENPMIncrementalRecordWithoutResolved(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.project("writes-own-file", "has-bin")
	w.succeeds("npm", "install")
	record := filepath.Join(w.proj, "node_modules/.package-lock.json")
	var rec map[string]any
	must(t, json.Unmarshal([]byte(w.read("node_modules/.package-lock.json")), &rec))
	for _, p := range rec["packages"].(map[string]any) {
		delete(p.(map[string]any), "resolved")
	}
	data, err := json.MarshalIndent(rec, "", "  ")
	must(t, err)
	must(t, os.WriteFile(record, data, 0o644))
	w.addDeps("victim")
	plain := w.plainCopy()
	r := w.succeeds("npm", "install")
	if !strings.Contains(r.stderr, "incremental: 1 package added or changed, 0 packages removed") {
		t.Errorf("the install did not start from the installed tree, or took more than victim for changed:\n%s", r.stderr)
	}
	w.assertSame(w.snapshotOf(filepath.Join(plain, "node_modules")), w.snapshotOf(filepath.Join(w.proj, "node_modules")))
}

// A tree that is not what npm's record says (a file edited by hand, a
// record out of date) is rebuilt whole, and the user is told why.
func TestE2ENPMIncrementalFallsBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.project("writes-own-file", "has-bin")
	w.succeeds("npm", "install")
	edited := filepath.Join(w.proj, "node_modules/has-bin/package.json")
	original := w.read("node_modules/has-bin/package.json")
	must(t, os.WriteFile(edited, []byte(original+"\n"), 0o644))
	r := w.succeeds("npm", "install")
	if !strings.Contains(r.stderr, "the installed tree differs from its lockfile at node_modules/has-bin/package.json (changed after npm recorded the tree): rebuilding it whole") {
		t.Errorf("no word of the edited file:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "incremental:") || w.read("node_modules/has-bin/package.json") != original {
		t.Error("the edited tree was not rebuilt whole")
	}
	var rep struct{ Tree string }
	must(t, json.Unmarshal([]byte(readFile(t, r.report)), &rep))
	if !strings.Contains(rep.Tree, "differs from its lockfile at node_modules/has-bin/package.json") {
		t.Errorf("the report's tree = %q", rep.Tree)
	}

	// The record out of date: a package npm's record does not list.
	record := w.read("node_modules/.package-lock.json")
	must(t, os.WriteFile(filepath.Join(w.proj, "node_modules/.package-lock.json"),
		[]byte(strings.Replace(record, `"node_modules/has-bin"`, `"node_modules/has-bin-gone"`, 1)), 0o644))
	r = w.succeeds("npm", "install")
	if !strings.Contains(r.stderr, "the installed tree differs from its lockfile at node_modules/has-bin-gone (its package.json is missing or does not parse): rebuilding it whole") {
		t.Errorf("no word of the stale record:\n%s", r.stderr)
	}
	r = w.succeeds("npm", "install")
	if !strings.Contains(r.stderr, "incremental: 0 packages added or changed") {
		t.Errorf("the rebuilt tree is not trusted by the next run:\n%s", r.stderr)
	}
}

// IS19-2: a package added incrementally whose postinstall rewrites a
// package already installed (tamper injects into victim). Under plain npm
// the injection lands (the positive control); through safe-install
// victim's files come back from nowhere: the host's own stay, unchanged.
func TestE2EAttackIncrementalTampersUnchanged(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"IS19-2", "npm: a package added incrementally rewrites an installed one", "only the changed locations come back"})
	w := newWorld(t)
	w.project("victim")
	w.succeeds("npm", "install")
	w.addDeps("tamper")
	plain := w.plainCopy()
	if got := readFile(t, filepath.Join(plain, "node_modules/victim/index.js")); !strings.Contains(got, "rt17") {
		t.Fatalf("plain npm: victim not rewritten, the attack is not armed:\n%s", got)
	}
	before := w.snapshotOf(filepath.Join(w.proj, "node_modules/victim"))
	r := w.run("npm", "install")
	if !strings.Contains(r.stderr, "incremental: 1 package added or changed") {
		t.Errorf("not an incremental run:\n%s", r.stderr)
	}
	w.assertSame(before, w.snapshotOf(filepath.Join(w.proj, "node_modules/victim")))
	if got := w.nodeOnHost(`console.log(require("victim").planted)`); got == "planted" {
		t.Error("ATTACK WORKS: victim carries tamper's file")
	}
}

// IS19-3: a package added incrementally plants a command in
// node_modules/.bin (bin-hijack's eslint shim). Under plain npm the shim
// lands (the positive control); .bin beside a changed package comes back
// from the sandbox, held to the copy-back rule: refused, the project as
// it was.
func TestE2EAttackIncrementalPlantsBin(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"IS19-3", "npm: a package added incrementally plants a .bin shim", "copy-back .bin check (exit 10)"})
	w := newWorld(t)
	w.project("writes-own-file")
	w.succeeds("npm", "install")
	w.addDeps("bin-hijack")
	plain := w.plainCopy()
	if fi, err := os.Lstat(filepath.Join(plain, "node_modules/.bin/eslint")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("plain npm: no shim planted (%v), the attack is not armed", err)
	}
	r := w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "node_modules/.bin/eslint", "not a symlink")
	if !strings.Contains(r.stderr, "incremental: 1 package added or changed") {
		t.Errorf("not an incremental run:\n%s", r.stderr)
	}
}

// IS19-4: two packages added incrementally at once, tamper's postinstall
// rewriting victim. Both come back from the sandbox, so only the copy-back
// rule's baseline, listed by a container of its own when the fetch lists
// nothing (BaselineLater), tells victim's fetched files from what the
// script made of them. Under plain npm the injection lands (the control).
func TestE2EAttackIncrementalTampersAddedAlongside(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"IS19-4", "npm: packages added incrementally together, one rewriting the other", "copy-back tamper check against the baseline listing (exit 10)"})
	w := newWorld(t)
	w.project("writes-own-file")
	w.succeeds("npm", "install")
	w.addDeps("victim", "tamper")
	plain := w.plainCopy()
	if got := readFile(t, filepath.Join(plain, "node_modules/victim/index.js")); !strings.Contains(got, "rt17") {
		t.Fatalf("plain npm: victim not rewritten, the attack is not armed:\n%s", got)
	}
	dry := w.succeeds("--dry-run", "--json", "npm", "install")
	if !strings.Contains(dry.stdout, "-scripts-baseline") {
		t.Errorf("the plan has no baseline listing container of its own:\n%s", dry.stdout)
	}
	r := w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "refused artifact from victim", "node_modules/victim/", "another package's script")
	if !strings.Contains(r.stderr, "incremental: 2 packages added or changed") {
		t.Errorf("not an incremental run:\n%s", r.stderr)
	}
}

// A run killed in its copy-back, or halfway through its swap after the
// new tree was built from hard links to the old one: `safe-install clean`
// removes the staging directory and undoes the swap, and the old tree's
// files are the same inodes with the same content.
func TestE2EIncrementalKilledKeepsOldTree(t *testing.T) {
	t.Parallel()
	for _, step := range []string{"copy-back", "swap"} {
		t.Run(step, func(t *testing.T) {
			w := newWorld(t)
			w.project("writes-own-file", "has-bin")
			w.succeeds("npm", "install")
			inodes := map[string]uint64{}
			for _, f := range []string{"node_modules/has-bin/package.json", "node_modules/writes-own-file/generated.txt"} {
				fi, err := os.Stat(filepath.Join(w.proj, f))
				must(t, err)
				inodes[f] = fi.Sys().(*syscall.Stat_t).Ino
			}
			w.addDeps("victim")
			before := w.snapshot()
			p := w.pauseAt(step, "npm", "install")
			must(t, p.cmd.Process.Signal(syscall.SIGKILL))
			p.wait()
			if !strings.Contains(p.out.String(), "incremental: 1 package added") {
				t.Fatalf("the killed run was not incremental:\n%s", p.out.String())
			}
			if step == "swap" && !strings.Contains(p.out.String(), "hard links") {
				t.Fatalf("the killed run did not build its tree from the installed one:\n%s", p.out.String())
			}
			w.expect(w.run("clean"), 0)
			w.assertSame(before, w.snapshot())
			for f, ino := range inodes {
				fi, err := os.Stat(filepath.Join(w.proj, f))
				must(t, err)
				if got := fi.Sys().(*syscall.Stat_t).Ino; got != ino {
					t.Errorf("%s is inode %d, was %d", f, got, ino)
				}
			}
		})
	}
}

// addDeps adds packed dependencies to package.json, leaving the others'
// tarballs as they are (a new pack would change their integrity).
func (w *world) addDeps(names ...string) {
	w.t.Helper()
	var m map[string]any
	must(w.t, json.Unmarshal([]byte(w.read("package.json")), &m))
	deps, _ := m["dependencies"].(map[string]any)
	for _, n := range names {
		deps[n] = w.pack(n)
	}
	w.setManifest("dependencies", deps)
}

func readFile(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	must(t, err)
	return string(data)
}

// A changed package keeps a nested dependency that did not change (debug
// 2.6.9 to 2.6.8, both on ms 2.0.0, while the top level has ms 2.1.3, so
// ms 2.0.0 sits in node_modules/debug/node_modules): the nested package is
// an unchanged location inside a changed one, and the host gets it whole,
// the same files as before.
func TestE2ENPMIncrementalKeepsNestedUnchanged(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.project()
	w.succeeds("npm", "install", "debug@2.6.9", "ms@2.1.3")
	nested := filepath.Join(w.proj, "node_modules/debug/node_modules/ms")
	before := w.snapshotOf(nested)
	if len(before) < 3 {
		t.Fatalf("no nested ms: %v", before)
	}
	r := w.succeeds("npm", "install", "debug@2.6.8")
	if !strings.Contains(r.stderr, "incremental: 1 package added or changed") {
		t.Errorf("not an incremental run:\n%s", r.stderr)
	}
	if got := installedVersion(t, w, "debug"); got != "2.6.8" {
		t.Errorf("debug is %s, want 2.6.8", got)
	}
	w.assertSame(before, w.snapshotOf(nested))
	if got := w.nodeOnHost(`console.log(require("debug/node_modules/ms")("2s"))`); got != "2000" {
		t.Errorf("the nested ms on the host: %q", got)
	}
	if got := w.nodeOnHost(`console.log(typeof require("debug")("x"))`); got != "function" {
		t.Errorf("debug on the host: %q", got)
	}
}

// A file: directory dependency added to an installed tree: npm records
// the link's target at its own location (libs/locallib), outside
// node_modules, which an incremental copy-back does not carry. bae6e3f's
// build went incremental and crashed on it (exit 2, a Go panic in roots);
// the tree is rebuilt whole, the run says why, and the link works.
func TestE2ENPMIncrementalFileDependencyRebuildsWhole(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.project("writes-own-file")
	w.succeeds("npm", "install")
	must(t, os.MkdirAll(filepath.Join(w.proj, "libs", "locallib"), 0o755))
	must(t, os.WriteFile(filepath.Join(w.proj, "libs", "locallib", "package.json"), []byte(`{"name":"locallib","version":"1.0.0","main":"index.js"}`), 0o644))
	must(t, os.WriteFile(filepath.Join(w.proj, "libs", "locallib", "index.js"), []byte(`module.exports = "locallib ok"`+"\n"), 0o644))
	w.setManifest("dependencies", map[string]any{"writes-own-file": w.pack("writes-own-file"), "locallib": "file:libs/locallib"})
	r := w.succeeds("npm", "install")
	if !strings.Contains(r.stderr, "the project links libs/locallib (a file: directory): rebuilding node_modules whole") || strings.Contains(r.stderr, "incremental:") {
		t.Errorf("the run does not say why the tree is rebuilt whole:\n%s", r.stderr)
	}
	if got := w.nodeOnHost(`console.log(require("locallib"))`); got != "locallib ok" {
		t.Errorf("locallib on the host: %q", got)
	}
}

// The project's own postinstall (patch-package's way) patches an installed
// package that the incremental install does not change: the whole tree
// came in and comes back, so the patch reaches the host as under plain npm
// (before, only the changed locations came back and the patch was lost).
func TestE2ENPMIncrementalKeepsProjectPatches(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.project("victim")
	w.succeeds("npm", "install")
	w.rootScripts(map[string]string{"postinstall": "node patch.js"})
	must(t, os.WriteFile(filepath.Join(w.proj, "patch.js"), []byte(`const fs = require("fs");
const f = "node_modules/victim/index.js";
if (!fs.readFileSync(f, "utf8").includes("patched by the project")) fs.appendFileSync(f, "\n// patched by the project\n");
`), 0o644))
	w.addDeps("writes-own-file")
	r := w.succeeds("npm", "install")
	if !strings.Contains(r.stderr, "incremental: 1 package added or changed") {
		t.Errorf("not an incremental run:\n%s", r.stderr)
	}
	if !strings.Contains(w.read("node_modules/victim/index.js"), "// patched by the project") {
		t.Error("the project's postinstall patch of an unchanged package did not reach the host")
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the added package's build: %q", got)
	}
}

// A package added incrementally whose postinstall generates a client
// outside every package (node_modules/.prisma, as Prisma does): only the
// changed packages' directories come back, and the run says so, with the
// way to rebuild the tree whole.
func TestE2ENPMIncrementalNamesWhatStaysOutside(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.project("writes-own-file")
	w.succeeds("npm", "install")
	w.addDeps("generates-client")
	r := w.succeeds("npm", "install")
	if !strings.Contains(r.stderr, "incremental: 1 package added or changed") {
		t.Errorf("not an incremental run:\n%s", r.stderr)
	}
	if !strings.Contains(r.stderr, "node_modules/.prisma) stayed in the sandbox") || !strings.Contains(r.stderr, "rm -rf node_modules") {
		t.Errorf("the run does not say what stayed in the sandbox:\n%s", r.stderr)
	}
}

// npm update of one package in a tree npm's record vouches for is
// incremental too: left-pad 1.1.0 to 1.3.0 comes back alone, the rest of
// the tree (writes-own-file's build output) is the host's, and no project
// script runs, as under plain npm update.
func TestE2ENPMIncrementalUpdate(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	must(t, os.Remove(filepath.Join(w.home, ".npmrc"))) // from the public registry
	w.project("writes-own-file")
	w.succeeds("npm", "install", "left-pad@1.1.0")
	r := w.succeeds("npm", "update", "left-pad")
	if !strings.Contains(r.stderr, "incremental: 1 package added or changed, 0 packages removed") {
		t.Errorf("not an incremental run:\n%s", r.stderr)
	}
	if got := installedVersion(t, w, "left-pad"); got != "1.3.0" {
		t.Errorf("left-pad after npm update is %s, want 1.3.0", got)
	}
	if !strings.Contains(w.read("package-lock.json"), "left-pad-1.3.0.tgz") {
		t.Error("the lockfile still pins the old left-pad")
	}
	if w.read("node_modules/writes-own-file/generated.txt") != "made by postinstall\n" {
		t.Error("writes-own-file's build output is gone")
	}
	if got := w.nodeOnHost(`console.log(JSON.stringify(require("left-pad")("x", 3)))`); got != `"  x"` {
		t.Errorf("left-pad on the host = %q", got)
	}
}
