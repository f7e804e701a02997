package npm

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// npmTree holds a node_modules tree that a script phase returned to the
// copy-back rule (invariant 7). Every entry, of every kind, is one
// of:
//
//   - identical to the tree before the phase (kind, executable bit, content
//     or link target): what npm extracted, before any third-party code ran;
//   - inside the own directory of a package that ran a script, where a
//     package's own directory stops at every nested node_modules (those
//     directories belong to other packages, and Node looks for modules in
//     them);
//   - a node_modules/.bin link that the lockfile as fetched declares: npm
//     derives .bin from the manifests before any script ran, so a script
//     that rewrites its own package.json cannot claim a bin;
//   - a new entry outside every package (a hidden directory of
//     node_modules, like Prisma's .prisma), allowed and named (corpus case B11,
//     cmd/safe-install/testdata/corpus/README.md);
//
// and a directory (or file, or link) where Node looks for a package
// (node_modules/<name>, node_modules/@scope/<name>, at any depth) must be
// what the fetch put there. The rule runs both ways: every entry of the
// tree before the phase, outside the own directories of the packages that
// ran scripts, is still there after it.
//
// Which packages ran scripts comes from the lockfile as the fetch left it
// (hasInstallScript, and the script policy), never from the scripts'
// output, which a script can forge.
type npmTree struct {
	before tree.Tree
	ran    func(pkgDir string) bool
	// culprits names the packages whose scripts ran in the phase, for the
	// messages: one of them did it.
	culprits string
	bins     npmBins
	seen     tree.Tree // every entry that came back
	changed  []string  // entries that are not as they were before the phase
	// earlier are entries an earlier phase changed (the dependencies',
	// before the project's own scripts).
	earlier []string
	// except are trees that do not come back (an incremental install's
	// unchanged packages inside changed ones): nothing there goes missing.
	except []string
}

func newNPMTree(before tree.Tree, ran func(pkgDir string) bool, culprits []string, bins npmBins) *npmTree {
	return &npmTree{before: before, ran: ran, culprits: tree.Culprits(culprits), bins: bins, seen: tree.Tree{}}
}

// is the finding to name, before the project file that tampering explains.
func (v *npmTree) CheckAll(t tree.Tree) (name, reason string) {
	return t.CheckAll(func(name string) bool { return layout.PositionOf(name) == layout.PosProject }, v.Check)
}

// Check judges one entry of the returned tree; "" accepts it.
func (v *npmTree) Check(name string, e tree.Entry) string {
	v.seen[name] = e
	if problem := escape.Problem(name); problem != "" {
		return problem
	}
	old, had := v.before[name]
	if had && old == e {
		return ""
	}
	v.changed = append(v.changed, name)
	if e.Kind == tree.Other {
		return "a FIFO, socket or device, which never comes back"
	}
	pos, pkg := layout.Locate(name)
	switch pos {
	case layout.PosModules, layout.PosBinDir:
		if e.Kind != tree.Dir {
			return fmt.Sprintf("a %s where npm keeps a directory of packages (scripts that ran: %s)", e.Kind, v.culprits)
		}
		return ""
	case layout.PosPackage:
		if had && old.Kind == e.Kind {
			return fmt.Sprintf("a %s the fetch made, changed by a script: where Node looks for the package %s (scripts that ran: %s)", e.Kind, layout.PackageOf(name+"/x"), v.culprits)
		}
		if had {
			return fmt.Sprintf("a %s after the fetch and a %s after the scripts: a script replaced the package (scripts that ran: %s)", old.Kind, e.Kind, v.culprits)
		}
		return fmt.Sprintf("a %s where Node looks for the package %s, which the fetch did not install: a script planted it for require() to find (scripts that ran: %s)",
			e.Kind, layout.PackageOf(name+"/x"), v.culprits)
	case layout.PosOwn:
		if v.ran(pkg) {
			return ""
		}
		what := "added"
		if had {
			what = "changed"
		}
		return fmt.Sprintf("%s during the scripts phase, but %s ran no install script of its own: another package's script wrote it (scripts that ran: %s)",
			what, layout.PackageOf(name), v.culprits)
	case layout.PosBin:
		if had && e.Kind == tree.Symlink {
			// npm made this link from the manifests before any script
			// ran, choosing between the packages that declare the name:
			// the choice is not a script's to change.
			return fmt.Sprintf("a .bin link npm made at the fetch, re-pointed from %q to %q by a script (scripts that ran: %s)", old.Target, e.Target, v.culprits)
		}
		return v.bins.check(name, e)
	case layout.PosLockfile:
		return fmt.Sprintf("npm's record of the installed tree changed during the scripts phase (scripts that ran: %s)", v.culprits)
	case layout.PosProject:
		return fmt.Sprintf("a file of the project's, in the sandbox, that a dependency's script changed or added: the project's own scripts would run on it "+
			"(as npm reads .npmrc, patch-package patches/); only node_modules may change (scripts that ran: %s)", v.culprits)
	}
	return "" // outside every package: allowed, and named (outside)
}

// Missing returns an entry of the tree before the phase, below roots
// (everywhere when none: the listing before the project's scripts), that
// is gone and was not a script package's own, and why that is refused: the
// first in name order that is not a directory, for the message to name a
// file. A copy-back sees only the artifacts (roots: node_modules), and
// nothing else comes back.
func (v *npmTree) Missing(roots []string) (name, reason string) {
	for _, n := range v.before.FilesFirst(roots) {
		if _, ok := v.seen[n]; ok || tree.Below(v.except, n) {
			continue
		}
		pos, pkg := layout.Locate(n)
		switch {
		case pos == layout.PosOutside:
			continue // nobody's: a cache a script may clean
		case pos == layout.PosOwn && v.ran(pkg):
			continue
		case pos == layout.PosOwn || pos == layout.PosPackage:
			return n, fmt.Sprintf("deleted during the scripts phase, but %s ran no install script of its own: another package's script removed it (scripts that ran: %s)",
				layout.PackageOf(n+"/x"), v.culprits)
		}
		return n, fmt.Sprintf("deleted during the scripts phase (scripts that ran: %s)", v.culprits)
	}
	return "", ""
}

// allChanged is every entry that came back changed by any scripts phase.
func (v *npmTree) allChanged() []string {
	all := slices.Clone(v.changed)
	for _, name := range v.earlier {
		if _, ok := v.seen[name]; ok && !slices.Contains(all, name) {
			all = append(all, name)
		}
	}
	return all
}

// Changed is every entry that came back changed by any scripts phase, as
// it is now.
func (v *npmTree) Changed() tree.Tree {
	out := tree.Tree{}
	for _, name := range v.allChanged() {
		out[name] = v.seen[name]
	}
	return out
}

// Culprits names the packages whose scripts ran in the phase.
func (v *npmTree) Culprits() string { return v.culprits }

// Warnings name, per hidden directory of node_modules, what scripts wrote
// outside every package: allowed (Prisma generates its client there), but
// the user is told (corpus B11).
func (v *npmTree) Warnings() []string {
	var out []string
	counts := v.outside()
	for _, dir := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, fmt.Sprintf("install scripts wrote outside any package: %s (%s; allowed: a generated client such as Prisma's lives there)", dir, install.Plural(counts[dir], "file")))
	}
	return out
}

// outside counts, per hidden directory of node_modules (node_modules/.prisma),
// the files and links scripts added or changed outside every package.
func (v *npmTree) outside() map[string]int {
	dirs := map[string]int{}
	for _, name := range v.allChanged() {
		if pos, _ := layout.Locate(name); pos != layout.PosOutside || v.seen[name].Kind == tree.Dir {
			continue
		}
		i := strings.LastIndex(name, "node_modules/.")
		top, _, _ := strings.Cut(name[i+len("node_modules/"):], "/")
		dirs[name[:i]+"node_modules/"+top]++
	}
	return dirs
}

// npmBins are the .bin links npm makes from the lockfile as the fetch left
// it: link path -> the files it may point at.
type npmBins struct {
	targets map[string][]string
	// claims lists, per link, the packages that declare it.
	claims map[string][]string
}

// lockBins reads the bins every package of a (v2+) lockfile declares, as
// npm normalises them (npm-normalize-package-bin: a bin's name is its base
// name, its file a path inside the package).
func lockBins(l layout.Lockfile) npmBins {
	b := npmBins{targets: map[string][]string{}, claims: map[string][]string{}}
	for _, loc := range slices.Sorted(maps.Keys(l.Packages)) {
		p := l.Packages[loc]
		pos, _ := layout.Locate(loc)
		if !strings.HasPrefix(loc, "node_modules/") || pos != layout.PosPackage {
			continue
		}
		bins := p.Bin
		if p.Link {
			bins = l.Packages[p.Resolved].Bin // a workspace: its own entry declares them
		}
		modules := loc[:strings.LastIndex(loc, "node_modules/")+len("node_modules")]
		for name, file := range bins {
			name = path.Base(strings.NewReplacer(`\`, "/", ":", "/").Replace(name))
			file = strings.TrimPrefix(path.Join("/", strings.ReplaceAll(file, `\`, "/")), "/")
			if name == "" || name == "." || name == "/" || file == "" {
				continue
			}
			link := modules + "/.bin/" + name
			b.targets[link] = append(b.targets[link], path.Join(loc, file))
			b.claims[link] = append(b.claims[link], layout.PackageOf(loc+"/x")+"@"+p.Version)
		}
	}
	return b
}

func (b npmBins) check(name string, e tree.Entry) string {
	if path.Base(path.Dir(name)) != ".bin" {
		return "inside a .bin directory, where npm makes only links"
	}
	if e.Kind != tree.Symlink {
		return fmt.Sprintf("not a symlink but a %s: npm links bins, so an install script wrote it", e.Kind)
	}
	want := b.targets[name]
	if len(want) == 0 {
		return fmt.Sprintf("no package declares the bin %q in the lockfile as the fetch left it, before any script ran: an install script made this link", path.Base(name))
	}
	if got := path.Join(path.Dir(name), e.Target); !slices.Contains(want, got) {
		return fmt.Sprintf("points at %q, but the bin %q of %s is %s in the manifests as they were before any script ran",
			e.Target, path.Base(name), strings.Join(b.claims[name], ", "), strings.Join(want, ", "))
	}
	return ""
}

// warnings are the bins worth a word before anyone runs them: one claimed
// by two packages (npm links one of them), and one that shadows a common
// command when a project script calls it (npm puts node_modules/.bin first
// in PATH).
func (b npmBins) warnings() []string {
	var out []string
	for _, link := range slices.Sorted(maps.Keys(b.claims)) {
		who := b.claims[link]
		if len(who) > 1 {
			out = append(out, fmt.Sprintf("the bin %s is declared by %s; npm links one of them", link, strings.Join(who, " and ")))
		}
		if slices.Contains(shadowedBins, path.Base(link)) {
			out = append(out, fmt.Sprintf("a bin shadows a common command: %s (from %s)", link, strings.Join(who, ", ")))
		}
	}
	return out
}

// shadowedBins are commands a bin of the same name would hijack when a
// project script calls them.
var shadowedBins = []string{"node", "npm", "npx", "git", "sh", "bash", "sudo", "python", "python3", "pip", "pip3", "curl", "ssh"}

// scriptDirs are the package directories whose install scripts run, from a
// lockfile (v2+) and the policy; ok is false when the lockfile cannot say.
func scriptDirs(l layout.Lockfile, pol scriptPolicy) (dirs map[string]bool, ok bool) {
	if l.Version < 2 {
		return nil, false
	}
	dirs = map[string]bool{}
	for k, p := range l.Packages {
		name := layout.PackageOf(k + "/package.json")
		if k != "" && p.HasInstallScript && name != "" && pol.runs(name, p.Version) {
			dirs[k] = true
		}
	}
	return dirs, true
}
