package pnpm

import (
	"fmt"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
)

// verb is what safe-install does for one pnpm command: every pnpm command
// that installs a tree (and so could run dependency builds) goes through
// the sandbox; the rest run with pnpm directly.
type verb struct {
	// fetch is the pnpm command the fetch container runs, scripts off.
	fetch string
	// specs: the command takes package names; needSpecs: it needs one.
	specs, needSpecs bool
	// rebuild reinstalls from the lockfile (--frozen-lockfile) and runs
	// the allowed builds: the sandbox starts from no installed tree.
	rebuild bool
	// flags are the command's own flags passed into the sandbox, beside
	// install's passFlags.
	flags []string
}

// saveFlags shape what pnpm add, remove and update write to package.json.
var saveFlags = []string{"-D", "--save-dev", "-P", "--save-prod", "-O", "--save-optional", "-E", "--save-exact", "--save-peer", "-w", "--workspace-root"}

// pnpmVerbs are pnpm's spellings and aliases of each command safe-install
// wraps.
var pnpmVerbs = []struct {
	names []string
	verb  verb
}{
	{[]string{"install", "i"}, verb{fetch: "install"}},
	{[]string{"add"}, verb{fetch: "add", specs: true, needSpecs: true, flags: saveFlags}},
	{[]string{"remove", "rm", "uninstall", "un", "uni"}, verb{fetch: "remove", specs: true, needSpecs: true, flags: saveFlags}},
	{[]string{"update", "up", "upgrade"}, verb{fetch: "update", specs: true, flags: append([]string{"-L", "--latest"}, saveFlags...)}},
	{[]string{"rebuild", "rb"}, verb{fetch: "install", rebuild: true}},
}

// lookupVerb finds the command a pnpm verb names, or says why it is not
// one safe-install runs.
func lookupVerb(name string) (verb, error) {
	for _, v := range pnpmVerbs {
		if slices.Contains(v.names, name) {
			return v.verb, nil
		}
	}
	if slices.Contains([]string{"exec", "dlx", "x", "create"}, name) {
		return verb{}, fmt.Errorf("%w: `pnpm %s` runs a package's code by design, which an install sandbox cannot make safe: install the tool with `safe-install pnpm add -D TOOL`, then `pnpm exec TOOL` runs that reviewed copy", install.ErrUnsupported, name)
	}
	return verb{}, fmt.Errorf("%w: `pnpm %s` is not an install; run it with pnpm directly (safe-install wraps the commands that install: install, add, remove, update, rebuild)", install.ErrUnsupported, name)
}

// checkSpec refuses a package spec for pnpm add that the fetch must not
// take: npm's refusals, and pnpm's link: (a directory anywhere on the host).
func checkSpec(spec string, allowGit bool) error {
	if _, src, ok := strings.Cut(spec[min(1, len(spec)):], "@"); ok && strings.HasPrefix(src, "link:") || strings.HasPrefix(spec, "link:") {
		return fmt.Errorf("%w: %q is a link: to a local directory; add it to package.json as a workspace package or a file: dependency inside the project instead", install.ErrPolicy, spec)
	}
	return npm.CheckSpec(spec, allowGit)
}
