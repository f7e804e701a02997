package pnpm

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// pnpmTree is the copy-back rule (invariant 7) for pnpm's isolated layout:
//
//	node_modules/<name>                                 a link into the virtual store
//	node_modules/.bin/<bin>                             a shim (shell script)
//	node_modules/.modules.yaml                          pnpm's record of the install
//	node_modules/.pnpm/lock.yaml                        pnpm's copy of the lockfile
//	node_modules/.pnpm/node_modules/<name>              a hoisted link
//	node_modules/.pnpm/<dir>/node_modules/<name>/...    a package's own files (a directory)
//	node_modules/.pnpm/<dir>/node_modules/<dep>         a link to a dependency
//
// After a scripts phase every entry, of every kind, is one of:
//
//   - identical to what the fetch made (kind, executable bit, content, link
//     target), before any third-party code ran;
//   - inside the own directory of a package whose build ran (its bundled
//     node_modules included: pnpm keeps bundled dependencies there), or
//     beside it in its virtual store entry, where node-gyp writes the
//     makefiles of a dependency's .gyp target;
//   - a shim the fetch made, rewritten as pnpm rewrites it for a built
//     package whose bin became a native binary (shim.go);
//   - node_modules/.modules.yaml, which pnpm rewrites when it builds:
//     judged by content once staged (session.Finish);
//   - a new entry outside every package (a hidden directory of
//     node_modules, like Prisma's .prisma), allowed and named (corpus B11).
//
// A workspace package's node_modules (<dir>/node_modules) holds links and
// .bin shims only, as the top level does: links to the workspace packages
// themselves (<dir>, exactly) and into the root's virtual store.
//
// A link, wherever it is, resolves inside a node_modules tree of the
// project or to a workspace package's directory. The rule runs both
// ways: what the fetch made outside the built packages is still there.
// Which packages built comes from pnpm's record of the builds it skipped
// in the fetch (pendingBuilds) and the policy, never from the scripts'
// output.
type pnpmTree struct {
	workspaces []string // the workspace packages' directories ("packages/a")
	before     tree.Tree
	built      map[string]bool     // own directories of the packages that built
	shims      map[string]tree.Sum // a shim's accepted rewrite
	culprits   string
	seen       tree.Tree
	changed    []string
}

func newPnpmTree(before tree.Tree, built map[string]bool, shims map[string]tree.Sum, culprits []string) *pnpmTree {
	return &pnpmTree{before: before, built: built, shims: shims, culprits: tree.Culprits(culprits), seen: tree.Tree{}}
}

type position uint8

const (
	posModules position = iota // a directory of packages (node_modules, @scope, a virtual store entry)
	posPackage                 // where Node finds a package: a link the fetch made
	posOwn                     // inside a package's own directory
	posBinDir                  // a .bin directory
	posBin                     // a shim in a .bin directory
	posState                   // node_modules/.modules.yaml
	posRecord                  // pnpm's other records (.pnpm/lock.yaml, the workspace state)
	posOutside                 // a hidden entry of node_modules: outside every package
	posProject                 // the project's own files, outside node_modules
)

// locate finds an entry's position and, for posOwn and posPackage, the
// package's directory. isDir says whether the fetch made a directory
// there: a virtual store entry's own package is the directory among its
// node_modules, its dependencies are links.
func locate(name string, isDir func(string) bool) (position, string) {
	parts := strings.Split(name, "/")
	if parts[0] != "node_modules" {
		return posProject, ""
	}
	if len(parts) == 1 {
		return posModules, ""
	}
	switch first := parts[1]; {
	case first == ".bin":
		return binPosition(len(parts) == 2), ""
	case first == ".modules.yaml" && len(parts) == 2:
		return posState, ""
	case first == ".pnpm":
		return locateStore(parts, isDir)
	case strings.HasPrefix(first, ".pnpm-") && len(parts) == 2:
		return posRecord, ""
	case strings.HasPrefix(first, "."):
		return posOutside, ""
	}
	return locateLinks(parts, 1)
}

func binPosition(dir bool) position {
	if dir {
		return posBinDir
	}
	return posBin
}

// locateLinks places an entry of a node_modules directory (parts[:at]) that
// holds only links to packages: the top level, and the hoisted one.
func locateLinks(parts []string, at int) (position, string) {
	rest := parts[at:]
	switch {
	case len(rest) == 0:
		return posModules, ""
	case rest[0] == ".bin":
		return binPosition(len(rest) == 1), ""
	case strings.HasPrefix(rest[0], "@") && len(rest) == 1:
		return posModules, ""
	case strings.HasPrefix(rest[0], "@"):
		return posPackage, strings.Join(parts[:at+2], "/")
	}
	return posPackage, strings.Join(parts[:at+1], "/")
}

// locateStore places an entry below node_modules/.pnpm.
func locateStore(parts []string, isDir func(string) bool) (position, string) {
	switch {
	case len(parts) == 2:
		return posModules, ""
	case parts[2] == "node_modules":
		return locateLinks(parts, 3)
	case len(parts) == 3 && parts[2] == "lock.yaml":
		return posRecord, ""
	case len(parts) == 3:
		return posModules, "" // a virtual store entry: <name>@<version>
	case parts[3] != "node_modules":
		// Beside the entry's node_modules: node-gyp writes there the
		// makefiles of a dependency's .gyp target (node-pty's of
		// node-addon-api's: build/ plus the relative path to it), which
		// under npm's layout land in the package's own directory. Node
		// resolves nothing from there, so it is the entry's own package's
		// (allowed when that package built, else another's write).
		if own := entryPackage(parts[2]); own != "" && isDir(own) {
			return posOwn, own
		}
		return posRecord, ""
	case len(parts) == 4:
		return posModules, ""
	}
	end := 5
	if strings.HasPrefix(parts[4], "@") {
		if len(parts) == 5 {
			return posModules, ""
		}
		end = 6
	}
	pkg := strings.Join(parts[:end], "/")
	if !isDir(pkg) {
		return posPackage, pkg
	}
	if i := slices.Index(parts[end:], ".bin"); i > 0 && parts[end+i-1] == "node_modules" {
		return binPosition(end+i == len(parts)-1), pkg
	}
	return posOwn, pkg
}

func (v *pnpmTree) isDir(name string) bool { return v.before[name].Kind == tree.Dir }

func (v *pnpmTree) locate(name string) (position, string) {
	return locateIn(v.workspaces, name, v.isDir)
}

// locateIn is locate for a workspace: an entry of a workspace package's
// node_modules is placed as the top level's are.
func locateIn(workspaces []string, name string, isDir func(string) bool) (position, string) {
	ws := modulesRoot(workspaces, name)
	if ws == "" || ws == "node_modules" {
		return locate(name, isDir)
	}
	parts := strings.Split(name, "/")
	at := strings.Count(ws, "/") + 1
	if len(parts) > at && strings.HasPrefix(parts[at], ".") && parts[at] != ".bin" {
		return posOutside, ""
	}
	return locateLinks(parts, at)
}

// modulesRoot is the node_modules tree name is in: "node_modules", a
// workspace package's "<dir>/node_modules", or "" (a project file).
func modulesRoot(workspaces []string, name string) string {
	for _, ws := range workspaces {
		if root := ws + "/node_modules"; name == root || strings.HasPrefix(name, root+"/") {
			return root
		}
	}
	if name == "node_modules" || strings.HasPrefix(name, "node_modules/") {
		return "node_modules"
	}
	return ""
}

// linkInside says whether a link's target (lexical, from the work
// directory) stays in the install: inside a node_modules tree, or exactly
// a workspace package's directory.
func (v *pnpmTree) linkInside(target string) bool {
	return modulesRoot(v.workspaces, target) != "" && !slices.Contains(v.modulesRoots(), target) || slices.Contains(v.workspaces, target)
}

// modulesRoots are the node_modules trees of the project.
func (v *pnpmTree) modulesRoots() []string {
	out := []string{"node_modules"}
	for _, ws := range v.workspaces {
		out = append(out, ws+"/node_modules")
	}
	return out
}

// CheckAll judges a listing, node_modules first: a package tampered with
// is the finding to name, before the project file that tampering explains.
func (v *pnpmTree) CheckAll(t tree.Tree) (name, reason string) {
	return t.CheckAll(func(name string) bool { pos, _ := v.locate(name); return pos == posProject }, v.Check)
}

// Check judges one entry of the returned tree; "" accepts it.
func (v *pnpmTree) Check(name string, e tree.Entry) string {
	v.seen[name] = e
	if problem := escape.Problem(name); problem != "" {
		return problem
	}
	if e.Kind == tree.Symlink {
		if t := path.Join(path.Dir(name), e.Target); path.IsAbs(e.Target) || !v.linkInside(t) {
			return fmt.Sprintf("a link to %q, outside node_modules: a package's files may only link inside the install or to a workspace package (scripts that ran: %s)", e.Target, v.culprits)
		}
	}
	old, had := v.before[name]
	if had && old == e {
		return ""
	}
	v.changed = append(v.changed, name)
	if e.Kind == tree.Other {
		return "a FIFO, socket or device, which never comes back"
	}
	pos, pkg := v.locate(name)
	switch pos {
	case posModules, posBinDir:
		if e.Kind != tree.Dir {
			return fmt.Sprintf("a %s where pnpm keeps a directory of packages (scripts that ran: %s)", e.Kind, v.culprits)
		}
		if !had {
			return fmt.Sprintf("a directory of packages that the fetch did not make, so pnpm-lock.yaml does not explain it (scripts that ran: %s)", v.culprits)
		}
		return ""
	case posPackage:
		if had {
			return fmt.Sprintf("a %s the fetch made where Node finds %s, changed by a script (scripts that ran: %s)", old.Kind, packageName(pkg), v.culprits)
		}
		return fmt.Sprintf("a %s where Node finds the package %s, which the fetch did not install (pnpm-lock.yaml does not explain it): a script planted it for require() to find (scripts that ran: %s)",
			e.Kind, packageName(pkg), v.culprits)
	case posOwn:
		if v.built[pkg] && (name != pkg || e.Kind == tree.Dir) {
			return ""
		}
		what := "added"
		if had {
			what = "changed"
		}
		return fmt.Sprintf("%s during the scripts phase, but %s ran no build of its own: another package's script wrote it (scripts that ran: %s)", what, packageID(pkg), v.culprits)
	case posBin:
		if sum, ok := v.shims[name]; ok && had && e.Kind == tree.File && e.Exec && e.Sum == sum {
			return ""
		}
		return fmt.Sprintf("a .bin shim pnpm made at the fetch, changed by a script other than as pnpm rewrites it for a built package (scripts that ran: %s)", v.culprits)
	case posState:
		if e.Kind == tree.File && had {
			return "" // judged by content when staged (session.Finish)
		}
		return fmt.Sprintf("pnpm's record of the install, made a %s by a script (scripts that ran: %s)", e.Kind, v.culprits)
	case posRecord:
		return fmt.Sprintf("pnpm's record of the installed tree changed during the scripts phase (scripts that ran: %s)", v.culprits)
	case posProject:
		return fmt.Sprintf("a file of the project's, in the sandbox, that a dependency's script changed or added; only node_modules may change (scripts that ran: %s)", v.culprits)
	}
	return "" // outside every package: allowed, and named (Warnings)
}

// Missing returns an entry of the tree before the phase, below roots
// (everywhere when none), that is gone and was not a built package's own.
func (v *pnpmTree) Missing(roots []string) (name, reason string) {
	for _, n := range v.before.FilesFirst(roots) {
		if _, ok := v.seen[n]; ok {
			continue
		}
		switch pos, pkg := v.locate(n); {
		case pos == posOutside:
			continue // nobody's: a cache a script may clean
		case pos == posOwn && v.built[pkg] && n != pkg:
			continue
		case pos == posOwn || pos == posPackage:
			return n, fmt.Sprintf("deleted during the scripts phase, but %s ran no build of its own: another package's script removed it (scripts that ran: %s)", packageID(pkg), v.culprits)
		}
		return n, fmt.Sprintf("deleted during the scripts phase (scripts that ran: %s)", v.culprits)
	}
	return "", ""
}

// Changed is every entry that came back changed, as it is now.
func (v *pnpmTree) Changed() tree.Tree {
	out := tree.Tree{}
	for _, name := range v.changed {
		out[name] = v.seen[name]
	}
	return out
}

func (v *pnpmTree) Culprits() string { return v.culprits }

// Warnings name, per hidden directory of node_modules, what scripts wrote
// outside every package (corpus B11).
func (v *pnpmTree) Warnings() []string {
	counts := map[string]int{}
	for _, name := range v.changed {
		if pos, _ := v.locate(name); pos != posOutside || v.seen[name].Kind == tree.Dir {
			continue
		}
		root := modulesRoot(v.workspaces, name)
		top, _, _ := strings.Cut(strings.TrimPrefix(name, root+"/"), "/")
		counts[root+"/"+top]++
	}
	var out []string
	for _, dir := range slices.Sorted(maps.Keys(counts)) {
		out = append(out, fmt.Sprintf("install scripts wrote outside any package: %s (%s; allowed: a generated client such as Prisma's lives there)", dir, install.Plural(counts[dir], "file")))
	}
	return out
}

// entryPackage is the own directory of a virtual store entry's package
// (<name>@<version>[_peers], a scope's "/" spelled "+"), "" when the
// entry's name is not one.
func entryPackage(entry string) string {
	scoped := strings.HasPrefix(entry, "@")
	name, _, ok := strings.Cut(strings.TrimPrefix(entry, "@"), "@")
	if !ok || name == "" {
		return ""
	}
	if scoped {
		name = "@" + strings.Replace(name, "+", "/", 1)
	}
	return "node_modules/.pnpm/" + entry + "/node_modules/" + name
}

// packageName is the package a node_modules path names: the part after
// its last node_modules.
func packageName(dir string) string {
	i := strings.LastIndex(dir, "node_modules/")
	if i < 0 {
		return dir
	}
	return dir[i+len("node_modules/"):]
}

// packageID is name@version for a package's own directory in the virtual
// store (node_modules/.pnpm/<name>@<version>[_peers]/node_modules/<name>),
// else its name.
func packageID(dir string) string {
	name := packageName(dir)
	parts := strings.Split(dir, "/")
	if len(parts) < 5 || parts[1] != ".pnpm" {
		return name
	}
	entry := parts[2]
	if v, ok := strings.CutPrefix(entry, strings.ReplaceAll(name, "/", "+")+"@"); ok {
		v, _, _ = strings.Cut(v, "_")
		return name + "@" + v
	}
	return name
}
