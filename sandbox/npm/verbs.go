package npm

import (
	"fmt"
	"regexp"
	"slices"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/incremental"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// verb is what safe-install does for one npm command: every npm command
// that reifies a tree (and so can run install scripts) goes through the
// sandbox. npm exec and npx are not among them: they run a package's code
// on purpose, which no sandbox of the install can make safe (the README
// says what to use instead).
type verb struct {
	// fetch is the npm command the fetch container runs, with scripts
	// off ("": none, rebuild: the host's tree is copied in instead).
	fetch string
	// specs: the command takes package names; needSpecs: it needs one.
	specs, needSpecs bool
	// ci needs a lockfile and changes no manifest.
	ci bool
	// rebuild runs scripts only, offline, against the project's
	// installed node_modules, which is copied in.
	rebuild bool
	// test runs `npm test` on the host after delivery, as npm
	// install-test does.
	test bool
}

// npmVerbs are npm's own spellings, aliases and typos (npm's
// lib/utils/cmd-list.js) of each command safe-install wraps.
var npmVerbs = []struct {
	names []string
	verb  verb
}{
	{[]string{"install", "i", "in", "ins", "inst", "insta", "instal", "isnt", "isnta", "isntal", "isntall", "add"},
		verb{fetch: "install", specs: true}},
	{[]string{"ci", "clean-install", "ic", "install-clean", "isntall-clean"},
		verb{fetch: "ci", ci: true}},
	{[]string{"install-test", "it"}, verb{fetch: "install", specs: true, test: true}},
	{[]string{"install-ci-test", "cit", "clean-install-test", "sit"}, verb{fetch: "ci", ci: true, test: true}},
	{[]string{"update", "u", "up", "upgrade", "udpate"}, verb{fetch: "update", specs: true}},
	{[]string{"uninstall", "unlink", "remove", "rm", "r", "un"}, verb{fetch: "uninstall", specs: true, needSpecs: true}},
	{[]string{"dedupe", "ddp"}, verb{fetch: "dedupe"}},
	{[]string{"prune"}, verb{fetch: "prune"}},
	{[]string{"rebuild", "rb"}, verb{specs: true, rebuild: true}},
}

// lookupVerb finds the command an npm verb names.
func lookupVerb(name string) (verb, bool) {
	for _, v := range npmVerbs {
		if slices.Contains(v.names, name) {
			return v.verb, true
		}
	}
	return verb{}, false
}

// exactVersion is what npm rebuild's name@version may say here: the
// installed tree's record has versions, not ranges.
var exactVersion = regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$`)

// checkRebuildSpec refuses what npm rebuild's selection here cannot
// match: a range or a tag.
func checkRebuildSpec(spec string) error {
	if _, version := splitSpec(spec); version != "" && !exactVersion.MatchString(version) {
		return fmt.Errorf("%w: `npm rebuild %s`: name a package, or name@version with an exact version", install.ErrPolicy, spec)
	}
	return nil
}

// planIncremental is incremental.Plan for npm install, update and
// uninstall (not install-test, not rebuild); nil and "" for the rest.
func planIncremental(project string, v verb, flags []string, manifest npmManifest, lock string, lockfile layout.Lockfile, links []string) (*incremental.Install, string) {
	if v.test || v.rebuild || (v.fetch != "install" && v.fetch != "uninstall" && v.fetch != "update") {
		return nil, ""
	}
	return incremental.Plan(project, flags, len(manifest.workspaces()) > 0, lock, lockfile, links)
}
