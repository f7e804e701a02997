package pnpm

import (
	"encoding/json"
	"maps"
	"slices"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
)

// policy is which dependencies' builds run. pnpm 10 and later hold back
// every dependency's build that the project has not allowed, and so does
// safe-install: the allowed run in the sandbox, the rest are named.
type policy struct {
	install.ScriptPolicy
	// all is dangerouslyAllowAllBuilds: every build but the denied runs.
	all bool
}

// pnpmDefault names pnpm's own rule among the policy's sources.
const pnpmDefault = "pnpm's default (only the builds allowBuilds allows run)"

// readPolicy merges the project's decisions (pnpm-workspace.yaml, and the
// pnpm field of package.json that older projects use) with --allow-scripts
// and --deny-scripts; a denial wins over any allowance.
func readPolicy(pkgJSON []byte, ws workspace, allow, deny []string, allUnreviewed bool) policy {
	var f struct {
		PNPM workspace `json:"pnpm"`
	}
	_ = json.Unmarshal(pkgJSON, &f)
	p := policy{}
	allowed, denied := map[string]bool{}, map[string]bool{}
	add := func(src string, names []string, into map[string]bool) {
		for _, n := range names {
			into[n] = true
		}
		if len(names) > 0 {
			p.Sources = append(p.Sources, src)
		}
	}
	for _, c := range []struct {
		src string
		ws  workspace
	}{{"pnpm-workspace.yaml", ws}, {"package.json pnpm", f.PNPM}} {
		var yes, no []string
		for _, k := range slices.Sorted(maps.Keys(c.ws.AllowBuilds)) {
			switch c.ws.AllowBuilds[k] {
			case true:
				yes = append(yes, k)
			case false:
				no = append(no, k)
			}
		}
		add(c.src+" allowBuilds", yes, allowed)
		add(c.src+" allowBuilds", no, denied)
		add(c.src+" onlyBuiltDependencies", c.ws.OnlyBuiltDependencies, allowed)
		add(c.src+" neverBuiltDependencies", c.ws.NeverBuiltDependencies, denied)
		add(c.src+" ignoredBuiltDependencies", c.ws.IgnoredBuiltDependencies, denied)
		if c.ws.DangerouslyAllowAllBuilds {
			p.all = true
			p.Sources = append(p.Sources, c.src+" dangerouslyAllowAllBuilds")
		}
	}
	add("--allow-scripts", allow, allowed)
	add("--deny-scripts", deny, denied)
	p.Sources = append(slices.Compact(p.Sources), pnpmDefault)
	p.Active, p.AllowedIn = true, "allowBuilds"
	p.AllUnreviewed = allUnreviewed
	if allUnreviewed {
		p.Sources = append(p.Sources, "--sandbox-all-scripts (every build but the denied runs, in the sandbox)")
	}
	for k := range allowed {
		if !denied[k] && !denied[npm.PolicyName(k)] {
			p.Allowed = append(p.Allowed, k)
		}
	}
	p.Denied = slices.Collect(maps.Keys(denied))
	slices.Sort(p.Allowed)
	slices.Sort(p.Denied)
	return p
}

func (p policy) in(set []string, name, version string) bool {
	return slices.Contains(set, name) || slices.Contains(set, name+"@"+version)
}

// runs says whether the build of name at version runs.
func (p policy) runs(name, version string) bool {
	if p.in(p.Denied, name, version) {
		return false
	}
	return p.all || p.AllUnreviewed || p.in(p.Allowed, name, version)
}

// covers says whether the policy decides about name at version.
func (p policy) covers(name, version string) bool {
	return p.all || p.in(p.Allowed, name, version) || p.in(p.Denied, name, version)
}
