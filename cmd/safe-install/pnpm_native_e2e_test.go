//go:build e2e

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// nativeDeps are real packages whose builds make native code three ways:
// bcrypt loads a prebuilt binary it ships (node-gyp-build), esbuild checks
// the binary of its platform package, node-pty compiles C++ with node-gyp
// (it ships no Linux prebuild), against the image's headers, offline.
var nativeDeps = []string{"bcrypt@6.0.0", "esbuild@0.24.2", "node-pty@1.1.0"}

// ptyBinary is what node-pty's node-gyp build makes, in pnpm's layout.
const ptyBinary = "node_modules/.pnpm/node-pty@1.1.0/node_modules/node-pty/build/Release/pty.node"

// A pnpm 12 project with native addons from the npm registry: with their
// builds allowed, `pnpm install --frozen-lockfile` builds them in the
// sandbox and they work on the host (a hash, a pty running a command, a
// transform); with node-pty left out of allowBuilds, its build does not
// run, nothing of it is built on the host, and the run names it with the
// ways to allow it, while the allowed builds still run.
func TestE2EPnpmNativeAddonsFromRegistry(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B13 (pnpm)", "benign pnpm 12 from the npm registry: bcrypt, node-pty (node-gyp), esbuild; allowed and not", "works; the build not allowed is named"})
	w := newWorld(t)
	must(t, os.Remove(filepath.Join(w.home, ".npmrc"))) // the public registry gets no canary token
	w.pnpmOnPath()
	w.pnpmProject(nativeDeps, "bcrypt", "esbuild", "node-pty")

	r := w.succeeds("pnpm", "install", "--frozen-lockfile")
	for _, want := range []string{"bcrypt@6.0.0 install", "esbuild@0.24.2 postinstall", "node-pty@1.1.0 install", "node-pty@1.1.0 postinstall"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the run does not name %q among the builds that ran", want)
		}
	}
	if strings.Contains(r.stderr, "has not allowed") {
		t.Errorf("a build was held back with all three allowed")
	}
	// node-pty on the host: a pty runs echo and its output comes back
	// through the terminal the addon opened.
	got := w.nodeOnHost(`const pty = require("node-pty");
let out = "";
const p = pty.spawn("/bin/echo", ["from a pty"], {cols: 80, rows: 24});
p.onData(d => out += d);
p.onExit(({exitCode}) => console.log(require("bcrypt").hashSync("x", 4).length,
  JSON.stringify(require("esbuild").transformSync("let x: number = 1", {loader: "ts"}).code),
  exitCode, JSON.stringify(out.trim())));`)
	if got != `60 "let x = 1;\n" 0 "from a pty"` {
		t.Errorf("the tree on the host: %q", got)
	}
	if _, err := os.Stat(filepath.Join(w.proj, ptyBinary)); err != nil {
		t.Errorf("node-pty's build output: %v", err)
	}
	w.assertTreeClean(filepath.Join(w.proj, "node_modules"))

	// node-pty left out: its build is named and does not run.
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	w.pnpmLock("", []string{"bcrypt", "esbuild"})
	r = w.run("pnpm", "install", "--frozen-lockfile")
	w.expect(r, 0, "node-pty@1.1.0 (install: node scripts/prebuild.js || node-gyp rebuild", "not run", "allowBuilds", `"node-pty": true`, "--allow-scripts node-pty", "1 package held back (not in allowBuilds)")
	if strings.Contains(r.stderr, "node-pty@1.1.0 install") {
		t.Errorf("the run names node-pty's build among those that ran")
	}
	if _, err := os.Stat(filepath.Join(w.proj, ptyBinary)); !os.IsNotExist(err) {
		t.Errorf("node-pty's binary is on the host although its build was not allowed (%v)", err)
	}
	got = w.nodeOnHost(`let pty; try { require("node-pty"); pty = "loads" } catch (e) { pty = "does not load" }
console.log(pty, require("bcrypt").hashSync("x", 4).length)`)
	if got != "does not load 60" {
		t.Errorf("with node-pty's build not allowed, the host says %q; want node-pty unbuilt, bcrypt built", got)
	}
}
