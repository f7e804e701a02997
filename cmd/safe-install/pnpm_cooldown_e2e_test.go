//go:build e2e

package main

import (
	"strings"
	"testing"
)

// --min-release-age for pnpm (issue 20), as for npm: the fixtures were
// published on the loopback Verdaccio seconds ago, so a 48 h cooldown
// refuses the install, naming the package, before any build ran, and the
// project is as it was; one they pass installs as without it. The times
// come from the private registry's packuments, read with the user's token.
func TestE2EPnpmMinReleaseAge(t *testing.T) {
	t.Parallel()
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"writes-own-file@1.0.0"}, "writes-own-file")
	r := w.failsUnchanged([]string{"pnpm", "--min-release-age", "48h", "install", "--frozen-lockfile"}, exitPolicy,
		"writes-own-file@1.0.0 was published", "--min-release-age 48h")
	if strings.Contains(r.stderr, "postinstall") {
		t.Errorf("a build ran before the cooldown refused the install:\n%s", r.stderr)
	}
	r = w.run("pnpm", "--min-release-age", "1ms", "install", "--frozen-lockfile")
	w.expect(r, 0, "checking publication times of 1 package")
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the allowed build's file after a cooldown it passed: %q", got)
	}
}
