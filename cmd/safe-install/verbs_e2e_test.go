//go:build e2e

package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Every npm command that reifies a tree goes through the sandbox (issue
// 19): npm update and uninstall build the new tree in the fetch and run
// its scripts offline, npm rebuild runs only the scripts against the
// installed tree, npm it installs and then runs npm test on the host.

// npm update moves an outdated registry package to the newest version its
// range allows, in the lockfile and node_modules, and the dependencies'
// scripts run in the sandbox (a vendored postinstall), as npm would.
func TestE2ENPMUpdate(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B17", "benign: every reifying npm command (update)", "works"})
	w := newWorld(t)
	must(t, os.Remove(filepath.Join(w.home, ".npmrc"))) // from the public registry
	w.project("writes-own-file")
	w.succeeds("npm", "install", "left-pad@1.1.0")
	if !strings.Contains(w.read("package.json"), `"left-pad": "^1.1.0"`) {
		t.Fatalf("package.json = %s", w.read("package.json"))
	}
	must(t, os.Remove(filepath.Join(w.proj, "node_modules/writes-own-file/generated.txt")))
	r := w.succeeds("npm", "update", "left-pad")
	if got := installedVersion(t, w, "left-pad"); got != "1.3.0" {
		t.Errorf("left-pad after npm update is %s, want 1.3.0", got)
	}
	if !strings.Contains(w.read("package-lock.json"), "left-pad-1.3.0.tgz") {
		t.Error("the lockfile still pins the old left-pad")
	}
	// The tree is the sandbox's: rebuilt whole, its scripts run there.
	if w.read("node_modules/writes-own-file/generated.txt") != "made by postinstall\n" || !strings.Contains(r.stderr, "1 install script ran offline") {
		t.Errorf("the postinstall did not run in the sandbox:\n%s", r.stderr)
	}
	if got := w.nodeOnHost(`console.log(JSON.stringify(require("left-pad")("x", 3)))`); got != `"  x"` {
		t.Errorf("left-pad on the host = %q", got)
	}
}

// npm uninstall (and its alias rm) removes the package, its .bin link and
// its entries in package.json and the lockfile; the rest stays, with what
// the project's own postinstall made of it (patch-package's patch: plain
// npm leaves the tree in place, the sandbox builds it anew and so runs
// the project's scripts again).
func TestE2ENPMUninstall(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B17", "benign: every reifying npm command (uninstall)", "works"})
	w := newWorld(t)
	w.project("writes-own-file", "has-bin", "victim")
	w.rootScripts(map[string]string{"postinstall": `node -e "try { require('fs').appendFileSync('node_modules/victim/index.js', '// patched\n') } catch (e) {}"`})
	w.succeeds("npm", "install")
	patched := func() int { return strings.Count(w.read("node_modules/victim/index.js"), "// patched") }
	if patched() != 1 {
		t.Fatalf("the project's postinstall patched victim %d times at the install", patched())
	}
	if _, err := os.Lstat(filepath.Join(w.proj, "node_modules/.bin/has-bin")); err != nil {
		t.Fatalf("has-bin's link: %v", err)
	}
	w.succeeds("npm", "uninstall", "has-bin")
	for _, gone := range []string{"node_modules/has-bin", "node_modules/.bin/has-bin"} {
		if _, err := os.Lstat(filepath.Join(w.proj, gone)); err == nil {
			t.Errorf("%s is still there after npm uninstall", gone)
		}
	}
	if strings.Contains(w.read("package.json"), "has-bin") || strings.Contains(w.read("package-lock.json"), "node_modules/has-bin") {
		t.Error("package.json or the lockfile still names has-bin")
	}
	if w.read("node_modules/writes-own-file/generated.txt") != "made by postinstall\n" {
		t.Error("writes-own-file's build output is gone")
	}
	if patched() != 1 {
		t.Errorf("after npm uninstall victim carries the project's patch %d times, want once, as before", patched())
	}
	w.succeeds("npm", "rm", "victim")
	if _, err := os.Lstat(filepath.Join(w.proj, "node_modules/victim")); err == nil {
		t.Error("npm rm left victim")
	}
	if _, err := os.Lstat(filepath.Join(w.proj, "node_modules/writes-own-file/package.json")); err != nil {
		t.Errorf("npm rm victim took writes-own-file too: %v", err)
	}
}

// npm rebuild runs the scripts again on the installed tree, offline in the
// sandbox: what a script made and was deleted is made again, files a
// script never touches come back as they were (the host's own), and a
// named rebuild runs only the package named.
func TestE2ENPMRebuild(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B17", "benign: every reifying npm command (rebuild)", "works"})
	w := newWorld(t)
	w.project("writes-own-file", "script-lib", "has-bin")
	w.rootScripts(map[string]string{"postinstall": "node -e \"require('fs').appendFileSync('root-ran', 'x')\""})
	w.succeeds("npm", "install")
	// The host's own changes to a package without scripts stay: the
	// tree comes in as it is.
	must(t, os.WriteFile(filepath.Join(w.proj, "node_modules/has-bin/local-note.txt"), []byte("mine\n"), 0o644))
	for _, f := range []string{"node_modules/writes-own-file/generated.txt", "node_modules/script-lib/generated.txt"} {
		_ = os.Remove(filepath.Join(w.proj, f))
	}
	r := w.succeeds("npm", "rebuild", "writes-own-file")
	if w.read("node_modules/writes-own-file/generated.txt") != "made by postinstall\n" {
		t.Error("npm rebuild writes-own-file did not run its postinstall")
	}
	if !strings.Contains(r.stderr, "1 install script ran offline") {
		t.Errorf("want exactly one script run:\n%s", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(w.proj, "node_modules/script-lib/generated.txt")); err == nil {
		t.Error("npm rebuild writes-own-file ran script-lib's postinstall too")
	}
	if w.read("node_modules/has-bin/local-note.txt") != "mine\n" {
		t.Error("a host file of the tree changed")
	}
	if _, err := os.Lstat(filepath.Join(w.proj, "node_modules/.bin/has-bin")); err != nil {
		t.Errorf("the .bin link did not come back: %v", err)
	}
	rootRan := func() string { data, _ := os.ReadFile(filepath.Join(w.proj, "root-ran")); return string(data) }
	before := rootRan() // the install ran the project's postinstall in the sandbox, not here
	w.succeeds("npm", "rb")
	if _, err := os.Stat(filepath.Join(w.proj, "node_modules/script-lib/generated.txt")); err != nil {
		t.Errorf("npm rebuild did not run script-lib's postinstall: %v", err)
	}
	if rootRan() != before {
		t.Error("the project's postinstall ran on the host")
	}
	if got := w.nodeOnHost(`console.log(require("script-lib").ok)`); got != "script-lib ok" {
		t.Errorf("script-lib on the host: %s", got)
	}
}

// npm it installs in the sandbox, then runs npm test on the host, whose
// exit code is safe-install's; npm cit does the same after a clean install.
func TestE2ENPMInstallTest(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B17", "benign: every reifying npm command (install-test)", "works"})
	w := newWorld(t)
	w.project("writes-own-file")
	w.rootScripts(map[string]string{"test": `node -e "require('fs').writeFileSync('tested', require('fs').readFileSync('node_modules/writes-own-file/generated.txt'))"`})
	r := w.succeeds("npm", "it")
	if w.read("tested") != "made by postinstall\n" {
		t.Errorf("npm test did not run on the installed tree:\n%s", r.stderr)
	}
	must(t, os.Remove(filepath.Join(w.proj, "tested")))
	w.rootScripts(map[string]string{"test": "exit 7"})
	r = w.run("npm", "cit")
	if r.code != 7 {
		t.Errorf("npm cit with a failing test: exit %d, want npm test's 7", r.code)
	}
	if w.read("node_modules/writes-own-file/generated.txt") != "made by postinstall\n" {
		t.Error("npm cit did not install")
	}
}

// npm install-test --ignore-scripts runs the test script but not its
// pretest and posttest: the flag is npm's config for the whole command.
// The control: plain npm on the host does exactly that; safe-install's
// npm test on the host must too (before, it ran both hooks).
func TestE2ENPMInstallTestIgnoreScripts(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B17", "benign: npm it --ignore-scripts runs no pretest or posttest, as npm", "works"})
	w := newWorld(t)
	w.project("writes-own-file")
	mark := func(name string) string { return `node -e "require('fs').writeFileSync('` + name + `', '')"` }
	w.rootScripts(map[string]string{"pretest": mark("pre"), "test": mark("tested"), "posttest": mark("post")})
	marks := func() (out []string) {
		for _, m := range []string{"pre", "tested", "post"} {
			if _, err := os.Stat(filepath.Join(w.proj, m)); err == nil {
				out = append(out, m)
				must(t, os.Remove(filepath.Join(w.proj, m)))
			}
		}
		return out
	}
	plain := exec.Command("npm", "it", "--ignore-scripts", "--no-audit", "--no-fund")
	plain.Dir, plain.Env = w.proj, w.env
	if out, err := plain.CombinedOutput(); err != nil {
		t.Fatalf("plain npm it --ignore-scripts: %v\n%s", err, out)
	}
	if got := marks(); !slices.Equal(got, []string{"tested"}) {
		t.Fatalf("plain npm it --ignore-scripts ran %v, want only the test (is the case what npm does?)", got)
	}
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	w.succeeds("npm", "it", "--ignore-scripts")
	if got := marks(); !slices.Equal(got, []string{"tested"}) {
		t.Errorf("safe-install npm it --ignore-scripts ran %v on the host, want only the test, as npm", got)
	}
	w.succeeds("npm", "it")
	if got := marks(); !slices.Equal(got, []string{"pre", "tested", "post"}) {
		t.Errorf("safe-install npm it ran %v on the host, want pretest, test and posttest, as npm", got)
	}
}

// installedVersion reads node_modules/<name>/package.json's version.
func installedVersion(t *testing.T, w *world, name string) string {
	t.Helper()
	var m struct{ Version string }
	must(t, json.Unmarshal([]byte(w.read("node_modules/"+name+"/package.json")), &m))
	return m.Version
}

// IS19-1: npm rebuild runs every install script in the tree again. Under
// plain npm, on the host, a stealer installed with --ignore-scripts (so
// nothing ran yet) steals at the rebuild (the positive control); through
// safe-install it runs in the sandbox: no canary leaves, the listener
// hears nothing, the home is unchanged and the tree holds no secret.
func TestE2EAttackRebuildRunsScriptsOnTheHost(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"IS19-1", "npm rebuild runs a stealer's postinstall", "1, 2, 4 (the rebuild runs in the sandbox)"})
	w := newWorld(t)
	w.project("steal-canaries")
	w.succeeds("npm", "install", "--ignore-scripts")
	if _, err := os.Stat(filepath.Join(w.proj, "node_modules/steal-canaries/probe.json")); err == nil {
		t.Fatal("the stealer ran at the install with --ignore-scripts")
	}
	plain := w.copyProject()
	if got := w.plainInNetns(plain, "npm rebuild --foreground-scripts"); !w.hasCanary(got) {
		t.Fatalf("plain npm rebuild: the stealer sent %d bytes and no canary: the attack is not armed", len(got))
	}
	before := w.snapshot("proj/node_modules")
	r := w.run("npm", "rebuild")
	if r.code != 0 {
		t.Fatalf("npm rebuild: exit %d (the stealer swallows its errors)", r.code)
	}
	if !strings.Contains(r.stderr, "theft attempt: steal-canaries@1.0.0") {
		t.Error("no theft warning: did the stealer run in the sandbox?")
	}
	if _, err := os.Stat(filepath.Join(w.proj, "node_modules/steal-canaries/probe.json")); err != nil {
		t.Errorf("the stealer's report did not come back: %v (did it run?)", err)
	}
	w.assertListenerSilent()
	w.assertTreeClean(filepath.Join(w.proj, "node_modules"))
	w.assertSame(before, w.snapshot("proj/node_modules"))
	w.failsUnchanged([]string{"npm", "--strict", "rebuild"}, exitTheft, "theft attempt", "steal-canaries@1.0.0")
}
