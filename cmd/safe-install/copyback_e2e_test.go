//go:build e2e

package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"
)

// The copy-back rule (invariant 7, issue 15): after the scripts,
// every entry of the returned tree is identical to what the fetch made, or
// inside the own directory of a package that ran a script, or a .bin link
// that the pre-script manifests declare, or a named entry outside every
// package. Each case below first shows, under plain npm, that the package
// really gets the attacker's code run on the host (the positive control),
// then that safe-install refuses it with the project unchanged.

// plainCopy installs a copy of the project with plain npm in a throwaway
// network namespace (as plainInNetns does) and returns the copy's directory.
func (w *world) plainCopy(extraArgs ...string) string {
	w.t.Helper()
	dir := w.copyProject()
	w.plainInNetns(dir, "npm install --offline --no-audit --no-fund "+strings.Join(extraArgs, " "))
	return dir
}

// copyProject copies the project beside the world, for a plain install.
func (w *world) copyProject() string {
	w.t.Helper()
	dir := filepath.Join(w.t.TempDir(), "plain")
	out, err := exec.Command("cp", "-a", w.proj, dir).CombinedOutput()
	if err != nil {
		w.t.Fatalf("copying the project: %v\n%s", err, out)
	}
	return dir
}

// nodeIn runs node in dir on the host, as the user would, and returns what
// it printed (or the error's output).
func (w *world) nodeIn(dir, script string) string {
	w.t.Helper()
	cmd := exec.Command("node", "-e", script)
	cmd.Dir = dir
	cmd.Env = w.env
	out, _ := cmd.CombinedOutput()
	return strings.TrimSpace(string(out))
}

// Class 1: a script adds an entry that no lockfile entry installs where
// Node's resolver finds it (a new top-level package, one inside another
// package's node_modules, a node_modules directory deeper in a package, a
// <name>.js file, a symlink) or swaps another package for a symlink.
func TestE2EShadowingEntriesRefused(t *testing.T) {
	t.Parallel()
	cases := []struct {
		variant, load, want string
	}{
		{"toplevel", "require('optional-user').ext", "node_modules/optional-ext"},
		{"nested", "require('optional-user').ext", "node_modules/optional-user/node_modules/optional-ext"},
		{"deep", "require('optional-user/lib/uses.js')", "node_modules/optional-user/lib"},
		{"file", "require('optional-user').ext", "node_modules/optional-ext.js"},
		{"symlink", "require('optional-user').ext", "node_modules/optional-ext"},
		{"replace", "require('victim')()", "node_modules/victim"},
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			t.Parallel()
			corpus(t, corpusCase{"IS15-1 shadow/" + c.variant, "npm: a new entry shadows a module (" + c.variant + ")", "copy-back rule: positions are lockfile entries (exit 10)"})
			w := newWorld(t)
			w.target = map[string]any{"variant": c.variant}
			w.project("optional-user", "victim", "shadow")
			plain := w.plainCopy()
			if got := w.nodeIn(plain, "console.log("+c.load+")"); got != "planted by shadow" {
				t.Fatalf("plain npm: %s gave %q: the case is not armed", c.load, got)
			}
			w.failsUnchanged([]string{"npm", "install"}, exitArtifact, c.want, "shadow@1.0.0")
		})
	}
}

// Class 2: a script gives its own manifest a bin after the fetch and points
// a .bin link at its file: the link is judged by the manifests as they were
// before any script ran.
func TestE2EBinFromRewrittenManifestRefused(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ variant, bin, why string }{
		{"taken", "has-bin", "re-pointed"},           // a link npm made at the fetch
		{"new-name", "tsc", "before any script ran"}, // one it did not
	} {
		t.Run(c.variant, func(t *testing.T) {
			t.Parallel()
			corpus(t, corpusCase{"IS15-2 bin-repoint/" + c.variant, "npm: own manifest rewritten after the fetch to claim a bin", "copy-back rule: .bin from pre-script manifests (exit 10)"})
			w := newWorld(t)
			w.target = map[string]any{"variant": c.variant}
			w.project("has-bin", "bin-repoint")
			plain := w.plainCopy()
			out, _ := exec.Command(filepath.Join(plain, "node_modules", ".bin", c.bin)).CombinedOutput()
			if !strings.Contains(string(out), "evil from bin-repoint") {
				t.Fatalf("plain npm: .bin/%s said %q: the case is not armed", c.bin, out)
			}
			w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "node_modules/.bin/"+c.bin, c.why)
		})
	}
}

// Class 3: a dependency plants node_modules/.bin/node; the project's own
// postinstall calls node, so the planted one runs as the project, writes
// into another package and removes itself. The same check as after the
// last phase runs before the project's scripts, so they never start.
func TestE2EBinPlantedForProjectScriptsRefused(t *testing.T) {
	t.Parallel()
	for _, variant := range []string{"symlink", "file"} {
		t.Run(variant, func(t *testing.T) {
			t.Parallel()
			corpus(t, corpusCase{"IS15-3 bin-plant-node/" + variant, "npm: .bin/node planted for the project's own scripts", "copy-back rule before the project phase (exit 10)"})
			w := newWorld(t)
			w.target = map[string]any{"variant": variant}
			w.project("victim", "bin-plant-node")
			w.rootScripts(map[string]string{"postinstall": "node -e \"console.log('project postinstall')\""})
			plain := w.plainCopy()
			if got := w.nodeIn(plain, "console.log(require('victim').planted)"); got != "by bin-plant-node" {
				t.Fatalf("plain npm: victim.planted = %q: the case is not armed", got)
			}
			r := w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "node_modules/.bin/node")
			if strings.Contains(r.stderr, "project's own scripts with no network") {
				t.Error("the project's scripts started on a tree a dependency changed")
			}
		})
	}
}

// Class 4: bytes from a package reach the terminal only escaped: a failing
// script's output, a forged npm header (the "package name" is listed), and
// names with control characters (refused, quoted).
func TestE2ETerminalControlSequencesEscaped(t *testing.T) {
	t.Parallel()
	cases := []struct {
		variant string
		args    []string
		code    int
		wants   []string
	}{
		{"fail", []string{"npm", "install"}, exitScript, []string{"term-escape@1.0.0 postinstall", `\x1b]0;pwned-title`}},
		{"header", []string{"--debug", "npm", "install"}, 0, []string{`\x1b]52;c;`}},
		{"names", []string{"npm", "install"}, exitArtifact, []string{"control character", `evil\x1b]0;pwned-title\a.txt`}},
		{"link-target", []string{"npm", "install"}, exitArtifact, []string{"control character", "node_modules/term-escape/link.js"}},
	}
	for _, c := range cases {
		t.Run(c.variant, func(t *testing.T) {
			t.Parallel()
			corpus(t, corpusCase{"IS15-4 term-escape/" + c.variant, "npm: terminal control sequences in output and names", "one escaping function (invariant 11); names refused"})
			w := newWorld(t)
			w.target = map[string]any{"variant": c.variant}
			w.project("term-escape")
			// The control: plain npm, its output kept in a file (raw, it
			// would act on the terminal of whoever reads the test log).
			plain := w.copyProject()
			w.plainInNetns(plain, "npm install --offline --no-audit --no-fund --foreground-scripts >plain.out 2>&1 || true")
			raw, err := os.ReadFile(filepath.Join(plain, "plain.out"))
			must(t, err)
			armed := bytes.Contains(raw, []byte("\x1b]52;c;"))
			switch c.variant {
			case "names":
				names, _ := exec.Command("ls", "-b", filepath.Join(plain, "node_modules", "term-escape")).Output()
				armed = bytes.Contains(names, []byte(`\033]0;pwned-title`))
			case "link-target":
				target, _ := os.Readlink(filepath.Join(plain, "node_modules", "term-escape", "link.js"))
				armed = strings.Contains(target, "\x1b]0;pwned-title")
			}
			if !armed {
				t.Fatalf("plain npm: no control sequence reached the output or the tree: the case is not armed")
			}
			var r result
			if c.code == 0 {
				r = w.succeeds(c.args...)
			} else {
				r = w.failsUnchanged(c.args, c.code)
			}
			assertTerminalSafe(t, "stderr", r.stderr)
			assertTerminalSafe(t, "stdout", r.stdout)
			for _, want := range c.wants {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("the output does not mention %q", want)
				}
			}
		})
	}
}

// assertTerminalSafe fails on any byte a terminal would act on: ESC and the
// other C0 controls but newline and tab, DEL, C1 controls, bidi overrides
// and isolates, and invalid UTF-8.
func assertTerminalSafe(t *testing.T, where, s string) {
	t.Helper()
	for i, r := range s {
		bad := false
		switch {
		case r == utf8.RuneError:
			_, size := utf8.DecodeRuneInString(s[i:])
			bad = size == 1
		case r == '\n' || r == '\t':
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r <= 0x9f):
			bad = true
		case r == 0x061c || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069):
			bad = true
		}
		if bad {
			t.Errorf("%s carries %U at byte %d: %q", where, r, i, s[max(0, i-20):min(len(s), i+20)])
			return
		}
	}
}

// The rule both ways: a postinstall that empties node_modules of every other
// package (and the .bin links and npm's hidden lockfile) is refused, naming
// what is missing.
func TestE2EWipeOfEveryOtherPackageRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"IS15-5 wipe-all", "npm: a postinstall empties node_modules of every other package", "copy-back rule: fetched entries stay (exit 10)"})
	w := newWorld(t)
	w.project("victim", "has-bin", "wipe-all")
	plain := w.plainCopy()
	if _, err := os.Stat(filepath.Join(plain, "node_modules", "victim")); err == nil {
		t.Fatal("plain npm: victim is still there: the case is not armed")
	}
	w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "deleted during the scripts phase", "wipe-all@1.0.0")
}
