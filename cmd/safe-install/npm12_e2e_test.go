//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/install"
)

// hostNPMMajor is the major version of the npm on PATH, which the sandbox
// image follows: 11 on Debian 12's CI leg, 12 on the node 24 leg.
var hostNPMMajor = sync.OnceValue(func() int {
	out, err := exec.Command("npm", "--version").Output()
	if err != nil {
		return 0
	}
	major, _ := strconv.Atoi(strings.SplitN(strings.TrimSpace(string(out)), ".", 2)[0])
	return major
})

// The script semantics follow the npm in use: under npm 11 a project
// without allowScripts runs every dependency's scripts (in the sandbox);
// under npm 12 none runs, each held-back package is named with its scripts
// and the ways to allow it, and an allowScripts that covers them (or
// --sandbox-all-scripts) gives a working tree. In every case the summary's
// count is the number of scripts npm's own record (--timing) has.
func TestE2EScriptSemanticsPerNPMMajor(t *testing.T) {
	t.Parallel()
	major := hostNPMMajor()
	corpus(t, corpusCase{fmt.Sprintf("B13 npm %d", major), "benign npm: esbuild, bcrypt, a node-gyp addon, with and without allowScripts", "npm's own semantics; true counts"})
	w := newWorld(t)
	w.npmDefaultScripts()
	must(t, os.Remove(filepath.Join(w.home, ".npmrc"))) // the public registry gets no canary token
	w.project()
	addon := w.pack("hello-addon")
	deps := map[string]string{"esbuild": "0.24.2", "bcrypt": "6.0.0", "hello-addon": addon}
	w.setManifest("dependencies", deps)
	works := func() {
		t.Helper()
		got := w.nodeOnHost(`console.log(require("hello-addon").hello(), require("bcrypt").hashSync("x", 4).length, JSON.stringify(require("esbuild").transformSync("let x: number = 1", {loader: "ts"}).code))`)
		if got != `hello from a sandboxed build 60 "let x = 1;\n"` {
			t.Errorf("the tree on the host: %q", got)
		}
	}
	install := func(args ...string) (result, sandbox.Report) {
		t.Helper()
		must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
		r := w.succeeds(append([]string{"npm", "--json"}, args...)...)
		var rep sandbox.Report
		must(t, json.Unmarshal([]byte(r.stdout), &rep))
		recorded := 0
		for _, ph := range rep.Phases {
			for _, s := range ph.Scripts {
				if s.Recorded {
					recorded++
				}
			}
		}
		if rep.ScriptsRan != recorded || !strings.Contains(r.stderr, fmt.Sprintf(" %s ran offline", install.Plural(recorded, "install script"))) {
			t.Errorf("the summary says %d ran, npm's record has %d:\n%s", rep.ScriptsRan, recorded, r.stderr)
		}
		return r, rep
	}

	r, rep := install("install")
	if major < 12 {
		if rep.ScriptsRan != 3 || len(rep.HeldBack) != 0 {
			t.Errorf("npm %d without allowScripts: %d ran, held back %v; want 3 and none", major, rep.ScriptsRan, rep.HeldBack)
		}
		works()
		return
	}
	if rep.ScriptsRan != 0 || len(rep.HeldBack) != 3 {
		t.Errorf("npm %d without allowScripts: %d ran, held back %+v; want 0 and 3", major, rep.ScriptsRan, rep.HeldBack)
	}
	for _, want := range []string{"3 packages with install scripts not reviewed", "bcrypt@6.0.0 (install: node-gyp-build)", "esbuild@0.24.2 (postinstall: node install.js)",
		"hello-addon@1.0.0 (install: node-gyp rebuild", "npm install-scripts approve bcrypt esbuild hello-addon", "--sandbox-all-scripts", "3 packages held back (not in allowScripts)"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the output does not mention %q", want)
		}
	}

	w.setManifest("allowScripts", map[string]bool{"esbuild": true, "bcrypt@6.0.0": true, "hello-addon": true})
	if _, rep := install("ci"); rep.ScriptsRan != 3 || len(rep.HeldBack) != 0 {
		t.Errorf("with allowScripts: %d ran, held back %v", rep.ScriptsRan, rep.HeldBack)
	}
	works()

	w.setManifest("allowScripts", map[string]bool{"esbuild": false})
	if _, rep := install("--sandbox-all-scripts", "ci"); rep.ScriptsRan != 2 || len(rep.HeldBack) != 0 {
		t.Errorf("--sandbox-all-scripts with esbuild denied: %d ran, held back %v; want 2, none", rep.ScriptsRan, rep.HeldBack)
	}
}
