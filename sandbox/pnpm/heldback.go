package pnpm

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
)

// heldBack lists the pending builds that did not run, with the scripts
// each package declares (read from its staged package.json, which the
// copy-back rule held to the fetch's).
func (s *session) heldBack(staging string) []install.HeldBack {
	var out []install.HeldBack
	for _, dp := range s.held {
		name, version := splitDepPath(dp)
		dir := filepath.Join(staging, "node_modules", ".pnpm", storePrefix(dp), "node_modules", filepath.FromSlash(name))
		out = append(out, install.HeldBack{Package: name + "@" + version, Scripts: declaredScripts(dir)})
	}
	slices.SortFunc(out, func(a, b install.HeldBack) int { return strings.Compare(a.Package, b.Package) })
	return slices.CompactFunc(out, func(a, b install.HeldBack) bool { return a.Package == b.Package })
}

// declaredScripts reads a staged package's install scripts, with the
// implicit node-gyp build of a binding.gyp.
func declaredScripts(dir string) []string {
	var m struct {
		Scripts map[string]string `json:"scripts"`
	}
	if data, err := readStaged(filepath.Join(dir, "package.json"), 1<<20); err == nil {
		_ = json.Unmarshal(data, &m)
	}
	var out []string
	for _, ev := range []string{"preinstall", "install", "postinstall"} {
		if cmd := m.Scripts[ev]; cmd != "" {
			out = append(out, ev+": "+cmd)
		}
	}
	if m.Scripts["install"] == "" && m.Scripts["preinstall"] == "" {
		if _, err := readStaged(filepath.Join(dir, "binding.gyp"), 1<<20); err == nil {
			out = append(out, "install: node-gyp rebuild (implicit, for binding.gyp)")
		}
	}
	return out
}

// heldBackWarning names every build that did not run and the ways to let
// it, as pnpm itself does (allowBuilds, pnpm approve-builds).
func heldBackWarning(hb []install.HeldBack) string {
	var pkgs, names, entries []string
	for _, h := range hb {
		what := h.Package
		if len(h.Scripts) > 0 {
			what += " (" + strings.Join(h.Scripts, "; ") + ")"
		}
		pkgs = append(pkgs, what)
		names = append(names, npm.PolicyName(h.Package))
	}
	names = slices.Compact(names)
	for _, n := range names {
		entries = append(entries, fmt.Sprintf("%q: true", n))
	}
	return fmt.Sprintf("%s with builds the project has not allowed, so not run (pnpm's rule: only allowed builds run), and the tree may not work: %s. "+
		"After review, allow them in pnpm-workspace.yaml (allowBuilds: {%s}, which `pnpm approve-builds` writes), "+
		"or for this run with --allow-scripts %s",
		install.Plural(len(hb), "package"), strings.Join(pkgs, ", "), strings.Join(entries, ", "), strings.Join(names, ","))
}
