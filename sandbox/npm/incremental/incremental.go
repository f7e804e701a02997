// Package incremental is an npm install, update or uninstall into an
// installed tree that npm's own record of it vouches for (trust.go): npm
// changes the tree in place in the fetch, only what it added or changed
// comes back, held to the copy-back rule, and the rest of the staged tree
// is built from the host's unchanged files. Package npm plans the run and
// holds it to the rule; this package decides what comes in, what comes
// back and what stays the host's.
package incremental

import (
	"fmt"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// Install is an npm install, update or uninstall into an installed tree that
// npm's own record of it vouches for: what npm reads of the host's
// node_modules is copied in (Split; the rest before a scripts phase), npm
// changes it in place in the fetch, only the locations npm added or
// changed come back (Roots, held to the same copy-back rule), and Deliver
// builds the rest of the staged tree from the host's unchanged files
// (Fill). What a script does to the sandbox's copy of an unchanged
// package never reaches the host: that package is the host's own files.
type Install struct {
	project string
	old     layout.Lockfile // the host's node_modules/.package-lock.json
	record  []byte          // its bytes
	// Changed are the locations npm added or changed in the fetch,
	// Removed those it took away (lockDiff of the two hidden lockfiles).
	Changed, Removed []string
	// Nested are the unchanged locations inside changed ones (debug
	// changed, its node_modules/debug/node_modules/ms did not): they stay
	// out of the copy-back and come from the host with the rest. The
	// fetch had only their package.json and bin files.
	Nested []string
	// tree is the installed tree as inputs, as the trust check walked it
	// (Inputs); rest are its files the fetch goes without (Split).
	tree, rest []install.Input
	// Whole: the project's own install scripts run, and may change any
	// package (patch-package's patches): the whole tree came in before
	// the fetch and comes back whole, held to the copy-back rule.
	Whole bool
	// mirrored counts the host's files Prefill linked or copied.
	mirrored int
	// seen is the host's tree as the trust check found it (Unchanged).
	seen stamp
}

// incrementalFlags are the npm flags the incremental path handles: they
// change what is saved or how npm talks to the registry, not how the tree
// is laid out (--install-strategy, --install-links, --omit and --force do,
// and take the full rebuild).
var incrementalFlags = []string{
	"--save", "-S", "--no-save", "--save-dev", "-D", "--save-optional", "-O",
	"--save-peer", "--save-exact", "-E", "--save-prod", "-P",
	"--no-audit", "--no-fund", "--prefer-offline", "--prefer-online",
}

// Plan decides whether an npm install, update or uninstall may start from
// the host's tree: nil and why not ("" when there is nothing to say: no
// tree). workspaces says the project has some; links are its file:
// directory dependencies.
func Plan(project string, flags []string, workspaces bool, lock string, lockfile layout.Lockfile, links []string) (*Install, string) {
	if fi, err := os.Lstat(filepath.Join(project, "node_modules")); err != nil || !fi.IsDir() {
		return nil, ""
	}
	for _, f := range flags {
		if !slices.Contains(incrementalFlags, f) {
			return nil, fmt.Sprintf("%s changes how the tree is laid out: rebuilding node_modules whole", f)
		}
	}
	if workspaces {
		return nil, "the project has workspaces: rebuilding node_modules whole"
	}
	if len(links) > 0 {
		// npm records a link's target at its own location (libs/x),
		// outside node_modules, which no incremental copy-back carries.
		return nil, fmt.Sprintf("the project links %s (a file: directory): rebuilding node_modules whole", links[0])
	}
	// Before the check: a tree changed while it is checked is told by it.
	seen, serr := stampOf(project)
	old, record, tree, why := trustTree(project, lock, lockfile)
	if why == "" && serr != nil {
		why = "node_modules (changed while it was checked)"
	}
	if why != "" {
		return nil, "the installed tree differs from its lockfile at " + why + ": rebuilding it whole"
	}
	return &Install{project: project, old: old, record: record, tree: tree, seen: seen}, ""
}

// Inputs is the installed tree as it comes in (install.TreeInputs'),
// listed by the trust check's walk.
func (in *Install) Inputs() []install.Input { return in.tree }

// Dated gives npm's record, among the copied-in tree, a time after the
// directories the copy-in makes (dated then): npm in the fetch trusts a
// record no older than the tree's directories, as it does on the host,
// and reads it instead of every installed package.json. The trust check
// has just held the tree to it. The record goes in as the bytes the check
// read (a copied-in file takes its host file's time).
func (in *Install) Dated(inputs []install.Input) []install.Input {
	for i := range inputs {
		if inputs[i].Name == "node_modules/.package-lock.json" {
			inputs[i] = install.Input{Name: inputs[i].Name, Data: in.record, Mode: 0o644, ModTime: time.Now().Add(time.Hour)}
		}
	}
	return inputs
}

// Split keeps of the installed tree what npm reads when its record is
// trusted (the record, every package's package.json and bin files, the
// links: .bin)
// and puts the rest aside for a scripts phase (Late): a new package's
// script may require an installed one. Those files are in no listing of
// the fetch, and none of them comes back: the copy-back takes only the
// locations npm changed, which npm wrote itself.
func (in *Install) Split(inputs []install.Input) []install.Input {
	// npm holds a package whose bin file is missing for broken, and
	// reinstalls it.
	bins := map[string]bool{}
	for loc, p := range in.old.Packages {
		for _, file := range p.Bin {
			bins[path.Join(loc, strings.ReplaceAll(file, `\`, "/"))] = true
		}
	}
	var first []install.Input
	for _, i := range inputs {
		// A .bin directory comes back beside a changed package: all of it
		// must be in the fetch's listing, a file there too.
		inBin := path.Base(path.Dir(i.Name)) == ".bin"
		if i.Link != "" || inBin || i.Name == "node_modules/.package-lock.json" || bins[i.Name] || (path.Base(i.Name) == "package.json" && recorded(in.old, path.Dir(i.Name))) {
			first = append(first, i)
		} else {
			in.rest = append(in.rest, i)
		}
	}
	return first
}

// Late is what Split put aside, but for the locations npm changed or
// removed: the sandbox's tree has those as npm left them.
func (in *Install) Late() []install.Input {
	gone := slices.Concat(in.Changed, in.Removed)
	return slices.DeleteFunc(slices.Clone(in.rest), func(i install.Input) bool {
		return under(gone, i.Name) && !under(in.Nested, i.Name)
	})
}

// nestedUnchanged lists the locations of now that did not change but sit
// inside a location that did.
func nestedUnchanged(now layout.Lockfile, changed []string) []string {
	var nested []string
	for loc := range now.Packages {
		if loc != "" && !slices.Contains(changed, loc) && slices.ContainsFunc(changed, func(c string) bool { return strings.HasPrefix(loc, c+"/") }) {
			nested = append(nested, loc)
		}
	}
	slices.Sort(nested)
	return nested
}

// lockDiff is what changed between two records of a tree: the locations
// the new one has that the old one has not, or has as a package npm
// extracted again (refetched), and those only the old one has.
func lockDiff(old, new layout.Lockfile) (changed, removed []string) {
	for loc, n := range new.Packages {
		o, ok := old.Packages[loc]
		if loc != "" && (!ok || refetched(o, n)) {
			changed = append(changed, loc)
		}
	}
	for loc := range old.Packages {
		if _, ok := new.Packages[loc]; loc != "" && !ok {
			removed = append(removed, loc)
		}
	}
	slices.Sort(changed)
	slices.Sort(removed)
	return changed, removed
}

// refetched is npm's own test (arborist's diff.js getAction) of whether
// the package at a location both records have is extracted again: another
// version, or other bits (an integrity left out on one side counts as
// other); with no integrity on either side, another resolved. A location
// npm leaves alone must not count as changed: the fetch had only its
// package.json and bin files (Split), and those alone would come back.
// With the same integrity npm ignores resolved, which a record may leave
// out where the lockfile has it (after a --no-save install): the next run
// brought that package back with its package.json alone.
func refetched(o, n layout.Package) bool {
	if o.Version != n.Version || o.Link != n.Link {
		return true
	}
	if o.Integrity == "" && n.Integrity == "" {
		return o.Resolved != n.Resolved
	}
	// ssri's match: a hash the two have in common.
	return o.Integrity == "" || n.Integrity == "" || !slices.ContainsFunc(strings.Fields(n.Integrity), func(h string) bool { return slices.Contains(strings.Fields(o.Integrity), h) })
}

// Diff takes npm's record of the tree after the fetch, before any
// third-party code ran: what changed against the host's record, which
// comes back, and the refusals of check.
func (in *Install) Diff(now layout.Lockfile) error {
	in.Changed, in.Removed = lockDiff(in.old, now)
	in.Nested = nestedUnchanged(now, in.Changed)
	return in.check()
}

// check refuses a changed location of npm's record that is no package
// directory of node_modules (a link's target, like libs/x): the
// incremental copy-back brings back node_modules alone. It refuses too a
// changed location inside an unchanged one that is itself inside a changed
// one (npm update: a 1.0.0 to 1.0.1, its b the same, b's own c 2.0.0 to
// 2.0.1, or removed, now deduplicated): everything below the unchanged b
// is the host's (ScriptsPlan.Except, the Fill), so c would keep its old
// files under a record saying 2.0.1, be missing if it is new, or stay if
// it is removed. The whole tree's copy-back (Whole) has no such gap.
func (in *Install) check() error {
	for _, loc := range in.Changed {
		if layout.PositionOf(loc) != layout.PosPackage {
			return fmt.Errorf("%w: npm's record after the fetch has %s, which is no package directory of node_modules (a linked package?), and an incremental install brings back node_modules alone; "+
				"remove node_modules/.package-lock.json and run again to rebuild the tree whole", install.ErrPolicy, loc)
		}
	}
	for _, loc := range slices.Concat(in.Changed, in.Removed) {
		if !in.Whole && under(in.Nested, loc) {
			return fmt.Errorf("%w: npm changed or removed %s inside a package it left as installed, inside one it changed, which an incremental install cannot bring back; "+
				"remove node_modules/.package-lock.json and run again to rebuild the tree whole", install.ErrPolicy, loc)
		}
	}
	return nil
}

// Roots are what comes back from the sandbox: the changed locations, the
// .bin directory beside each changed or removed one, and npm's record.
func (in *Install) Roots() []string {
	roots := append([]string{"node_modules/.package-lock.json"}, in.Changed...)
	for _, loc := range slices.Concat(in.Changed, in.Removed) {
		roots = append(roots, loc[:strings.LastIndex(loc, "node_modules/")]+"node_modules/.bin")
	}
	slices.Sort(roots)
	return slices.Compact(roots)
}

// leadsTo says whether one of roots is below dir.
func leadsTo(roots []string, dir string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return strings.HasPrefix(r, dir+"/") })
}

// under says whether name is at or below one of roots.
func under(roots []string, name string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return name == r || strings.HasPrefix(name, r+"/") })
}

// DateRecord makes npm's record the newest entry of the staged tree, as
// npm leaves it (the trust check of the next incremental run, and npm's
// own, rely on that): only a file the extraction wrote, never a link to
// a host file.
func DateRecord(staging string) error {
	record := filepath.Join(staging, "node_modules", ".package-lock.json")
	fi, err := os.Lstat(record)
	if err != nil || !fi.Mode().IsRegular() || linkCount(fi) != 1 {
		return nil
	}
	// Now: the extraction dates no file ahead of the clock (the tar's
	// times are rounded to the nearest second), and a date ahead would
	// hide from the next run's trust check a file edited within it.
	now := time.Now()
	if err := os.Chtimes(record, now, now); err != nil {
		return fmt.Errorf("dating node_modules/.package-lock.json: %w", err)
	}
	return nil
}

// Only is l with the locations npm added or changed alone.
func (in *Install) Only(l layout.Lockfile) layout.Lockfile {
	out := layout.Lockfile{Version: l.Version, Packages: map[string]layout.Package{}}
	for _, loc := range in.Changed {
		if p, ok := l.Packages[loc]; ok {
			out.Packages[loc] = p
		}
	}
	return out
}

// KeepChanged leaves of dirs (package directories whose scripts run) those
// at a location npm added or changed.
func (in *Install) KeepChanged(dirs map[string]bool) {
	maps.DeleteFunc(dirs, func(d string, _ bool) bool { return !slices.Contains(in.Changed, d) })
}
