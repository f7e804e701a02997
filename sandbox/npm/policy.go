package npm

import (
	"encoding/json"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// scriptPolicy is the report's policy with the questions npm asks of it.
type scriptPolicy install.ScriptPolicy

// npm12Source names npm 12's default among the policy's sources.
const npm12Source = "npm 12's default (scripts run only where allowScripts allows them)"

// policyFields are the package.json fields that hold script decisions.
type policyFields struct {
	AllowScripts map[string]bool `json:"allowScripts"`
	PNPM         struct {
		OnlyBuiltDependencies []string        `json:"onlyBuiltDependencies"`
		AllowBuilds           map[string]bool `json:"allowBuilds"`
	} `json:"pnpm"`
	TrustedDependencies []string `json:"trustedDependencies"`
}

// readScriptPolicy merges the project's decisions with --allow-scripts and
// --deny-scripts; a denial wins over any allowance. npmMajor is the npm
// the sandbox runs; allUnreviewed is --sandbox-all-scripts.
func readScriptPolicy(pkgJSON []byte, allow, deny []string, npmMajor int, allUnreviewed bool) scriptPolicy {
	var f policyFields
	_ = json.Unmarshal(pkgJSON, &f)
	p := scriptPolicy{}
	allowed, denied := map[string]bool{}, map[string]bool{}
	note := func(src string, n int) {
		if n > 0 {
			p.Sources = append(p.Sources, src)
		}
	}
	for k, v := range f.AllowScripts {
		if v {
			allowed[k] = true
		} else {
			denied[k] = true
		}
	}
	note("package.json allowScripts", len(f.AllowScripts))
	for k, v := range f.PNPM.AllowBuilds {
		if v {
			allowed[k] = true
		} else {
			denied[k] = true
		}
	}
	note("package.json pnpm.allowBuilds", len(f.PNPM.AllowBuilds))
	for _, k := range f.PNPM.OnlyBuiltDependencies {
		allowed[k] = true
	}
	note("package.json pnpm.onlyBuiltDependencies", len(f.PNPM.OnlyBuiltDependencies))
	for _, k := range f.TrustedDependencies {
		allowed[k] = true
	}
	note("package.json trustedDependencies", len(f.TrustedDependencies))
	for _, k := range allow {
		allowed[k] = true
	}
	note("--allow-scripts", len(allow))
	for _, k := range deny {
		denied[k] = true
	}
	note("--deny-scripts", len(deny))
	if npmMajor >= 12 {
		p.Sources = append(p.Sources, npm12Source)
	}
	p.Active = len(p.Sources) > 0
	p.AllUnreviewed = allUnreviewed
	if allUnreviewed {
		p.Sources = append(p.Sources, "--sandbox-all-scripts (every script but the denied runs, in the sandbox)")
	}
	for k := range allowed {
		if !denied[k] && !denied[PolicyName(k)] {
			p.Allowed = append(p.Allowed, k)
		}
	}
	for k := range denied {
		p.Denied = append(p.Denied, k)
	}
	sort.Strings(p.Allowed)
	sort.Strings(p.Denied)
	return p
}

// PolicyName strips a version from "name@version" (keeping a scope's @).
func PolicyName(k string) string {
	if i := strings.LastIndex(k, "@"); i > 0 {
		return k[:i]
	}
	return k
}

// runs says whether the policy lets name at version run its scripts: with
// no policy (or --sandbox-all-scripts) every package does; with one only
// the allowed, and a denial wins.
func (p scriptPolicy) runs(name, version string) bool {
	in := func(set []string) bool {
		for _, k := range set {
			if k == name || k == name+"@"+version {
				return true
			}
		}
		return false
	}
	if in(p.Denied) {
		return false
	}
	return !p.Active || p.AllUnreviewed || in(p.Allowed)
}

// covers says whether the policy decides about package name at version.
func (p scriptPolicy) covers(name, version string) bool {
	for _, set := range [][]string{p.Allowed, p.Denied} {
		for _, k := range set {
			if k == name || k == name+"@"+version {
				return true
			}
		}
	}
	return false
}

// notReviewed lists the lockfile's packages with install scripts that the
// policy does not decide about: those it holds back (none when every
// script runs).
func (p scriptPolicy) notReviewed(l layout.Lockfile) []string {
	if !p.Active || p.AllUnreviewed {
		return nil
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(l.Packages)) {
		pkg := l.Packages[k]
		name := layout.PackageOf(k + "/package.json")
		if !pkg.HasInstallScript || name == "" || p.covers(name, pkg.Version) {
			continue
		}
		out = append(out, name+"@"+pkg.Version)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
