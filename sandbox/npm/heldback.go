package npm

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// heldBack lists the fetched lockfile's packages whose scripts the policy
// holds back, with the scripts each declares, read from the staged
// package.json: as the fetch left it, since the copy-back rule refuses any
// change to a package whose scripts did not run.
func heldBack(lock layout.Lockfile, pol scriptPolicy, staging string) []install.HeldBack {
	if !pol.Active || pol.AllUnreviewed {
		return nil
	}
	byPkg := map[string]install.HeldBack{}
	for _, loc := range slices.Sorted(maps.Keys(lock.Packages)) {
		p := lock.Packages[loc]
		name := layout.PackageOf(loc + "/x")
		if loc == "" || !p.HasInstallScript || name == "" || pol.covers(name, p.Version) {
			continue
		}
		id := name + "@" + p.Version
		if _, seen := byPkg[id]; !seen {
			byPkg[id] = install.HeldBack{Package: id, Scripts: declaredScripts(filepath.Join(staging, filepath.FromSlash(loc)))}
		}
	}
	return slices.SortedFunc(maps.Values(byPkg), func(a, b install.HeldBack) int { return strings.Compare(a.Package, b.Package) })
}

// declaredScripts reads the install scripts a staged package declares,
// with npm's implicit one for a binding.gyp.
func declaredScripts(dir string) []string {
	var m struct {
		Scripts map[string]string `json:"scripts"`
	}
	if f, err := os.OpenFile(filepath.Join(dir, "package.json"), os.O_RDONLY|syscall.O_NOFOLLOW, 0); err == nil {
		_ = json.NewDecoder(io.LimitReader(f, 1<<20)).Decode(&m)
		f.Close()
	}
	var out []string
	for _, ev := range []string{"preinstall", "install", "postinstall"} {
		if cmd := m.Scripts[ev]; cmd != "" {
			out = append(out, ev+": "+cmd)
		}
	}
	if m.Scripts["install"] == "" && m.Scripts["preinstall"] == "" {
		if fi, err := os.Lstat(filepath.Join(dir, "binding.gyp")); err == nil && fi.Mode().IsRegular() {
			out = append(out, "install: node-gyp rebuild (implicit, for binding.gyp)")
		}
	}
	return out
}

// linkedScripts names the linked packages (workspaces, file: directories)
// that declare install scripts: their directories are the project's own,
// which no copy-back brings back, so their scripts do not run in the
// sandbox at all (npm rebuild is given only the packages below
// node_modules).
func linkedScripts(lock layout.Lockfile) []string {
	var out []string
	for _, loc := range slices.Sorted(maps.Keys(lock.Packages)) {
		if p := lock.Packages[loc]; loc != "" && !strings.HasPrefix(loc, "node_modules/") && p.HasInstallScript {
			out = append(out, loc)
		}
	}
	return out
}

// heldBackWarning is the one line that names every held-back package and
// the ways to let it run.
func heldBackWarning(hb []install.HeldBack) string {
	var pkgs, names, entries []string
	for _, h := range hb {
		pkgs = append(pkgs, fmt.Sprintf("%s (%s)", h.Package, strings.Join(h.Scripts, "; ")))
		names = append(names, PolicyName(h.Package))
		entries = append(entries, fmt.Sprintf("%q: true", h.Package))
	}
	names = slices.Compact(names)
	return fmt.Sprintf("%s with install scripts not reviewed, so held back (not in allowScripts; npm 12's rule: unreviewed install scripts do not run), and the tree may not work: %s. "+
		"After review, allow them in package.json with `npm install-scripts approve %s` (it writes \"allowScripts\": {%s}), "+
		"or for this run with --allow-scripts %s; or run every unreviewed script in the sandbox with --sandbox-all-scripts",
		install.Plural(len(hb), "package"), strings.Join(pkgs, ", "), strings.Join(names, " "), strings.Join(entries, ", "), strings.Join(names, ","))
}
