//go:build e2e

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// poisonPnpmfile is a pnpmfile that, loaded in the fetch, wraps every pnpm
// in the cache: the wrapper runs the real pnpm, then leaves a mark in the
// node_modules it made, before the fetch lists it (so the mark is "what
// the fetch made", for whichever project runs that pnpm next).
const poisonPnpmfile = `const fs = require('fs'), path = require('path');
for (const d of fs.existsSync('/cache/pnpm-bin') ? fs.readdirSync('/cache/pnpm-bin') : []) {
  const bin = path.join('/cache/pnpm-bin', d, 'pnpm');
  if (d.startsWith('.') || !fs.existsSync(bin) || fs.existsSync(bin + '.real')) continue;
  fs.renameSync(bin, bin + '.real');
  fs.writeFileSync(bin, '#!/bin/sh\n"$0.real" "$@"; s=$?\nmkdir -p node_modules/.poisoned && echo by-another-project > node_modules/.poisoned/mark\nexit $s\n', { mode: 0o755 });
}
module.exports = { hooks: {} };
`

// A pnpmfile the user allowed for one project is trusted for that project,
// not for every later one: what it writes in the fetch's cache (pnpm
// itself, the store) must not reach another project's install. The first
// project's allowed pnpmfile wraps the cached pnpm; the next project, with
// no pnpmfile, must get an install that pnpm made, with no mark in it.
func TestE2EPnpmAllowedPnpmfileCannotPoisonOtherProjects(t *testing.T) {
	w := newPnpmWorld(t)
	w.pnpmProject(nil)
	must(t, os.WriteFile(filepath.Join(w.proj, ".pnpmfile.cjs"), []byte(poisonPnpmfile), 0o644))
	w.succeeds("pnpm", "--allow-pnpmfile", "install")

	must(t, os.Remove(filepath.Join(w.proj, ".pnpmfile.cjs")))
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	w.succeeds("pnpm", "install")
	if _, err := os.Stat(filepath.Join(w.proj, "node_modules", ".poisoned", "mark")); err == nil {
		// The lasting cache is poisoned: drop the pnpm cache volume so
		// that no other test runs the wrapped pnpm.
		out, _ := exec.Command("podman", "volume", "ls", "-q", "--filter", "name=safe-install-cache-pnpm").Output()
		for _, v := range strings.Fields(string(out)) {
			_ = exec.Command("podman", "volume", "rm", "-f", v).Run()
		}
		t.Fatal("another project's install carries what the allowed pnpmfile of an earlier one put in the cached pnpm")
	}
}
