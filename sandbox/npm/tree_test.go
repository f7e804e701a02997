package npm

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/npm/layout"
	"github.com/safe-install/safe-install/sandbox/tree"
)

func file(body string) tree.Entry {
	return tree.Entry{Kind: tree.File, Sum: sha256.Sum256([]byte(body))}
}
func link(target string) tree.Entry {
	return tree.Entry{Kind: tree.Symlink, Target: target}
}

var dirEntry = tree.Entry{Kind: tree.Dir}

// A small fetched tree: victim (no script), tamper (a script), addon
// (a script) with a nested plain package, and has-bin's bin.
func sampleTree() (tree.Tree, layout.Lockfile) {
	before := tree.Tree{
		"node_modules":                                dirEntry,
		"node_modules/victim":                         dirEntry,
		"node_modules/victim/index.js":                file("v"),
		"node_modules/tamper":                         dirEntry,
		"node_modules/tamper/inject.js":               file("t"),
		"node_modules/addon":                          dirEntry,
		"node_modules/addon/binding.gyp":              file("g"),
		"node_modules/addon/node_modules":             dirEntry,
		"node_modules/addon/node_modules/nested":      dirEntry,
		"node_modules/addon/node_modules/nested/i.js": file("n"),
		"node_modules/has-bin":                        dirEntry,
		"node_modules/has-bin/cli.js":                 {Kind: tree.File, Exec: true, Sum: sha256.Sum256([]byte("c"))},
		"node_modules/.bin":                           dirEntry,
		"node_modules/.bin/has-bin":                   link("../has-bin/cli.js"),
		"node_modules/.package-lock.json":             file("lock"),
	}
	lock := layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"":                                       {Name: "proj"},
		"node_modules/victim":                    {Version: "1.0.0"},
		"node_modules/tamper":                    {Version: "1.0.0", HasInstallScript: true},
		"node_modules/addon":                     {Version: "2.0.0", HasInstallScript: true, Bin: map[string]string{"addon-cli": "./bin/cli.js"}},
		"node_modules/addon/node_modules/nested": {Version: "1.0.0"},
		"node_modules/has-bin":                   {Version: "1.0.0", Bin: map[string]string{"has-bin": "cli.js"}},
	}}
	return before, lock
}

func newSampleCheck() *npmTree {
	before, lock := sampleTree()
	dirs, _ := scriptDirs(lock, scriptPolicy{})
	return newNPMTree(before, func(d string) bool { return dirs[d] }, []string{"tamper@1.0.0", "addon@2.0.0"}, lockBins(lock))
}

func TestNPMTreeRule(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name   string
		entry  tree.Entry
		refuse string // a word of the reason, or "" to accept
	}{
		{"node_modules/victim/index.js", file("v"), ""},
		{"node_modules/victim/index.js", file("v+payload"), "ran no install script"},
		{"node_modules/victim/index.js", tree.Entry{Kind: tree.File, Exec: true, Sum: sha256.Sum256([]byte("v"))}, "ran no install script"},
		{"node_modules/victim/extra.js", file("planted"), "added during"},
		{"node_modules/victim/lib", dirEntry, "added during"},
		{"node_modules/victim/link", link("../tamper/inject.js"), "added during"},
		{"node_modules/tamper/inject.js", file("t2"), ""},
		{"node_modules/tamper/new", link("../victim"), ""},
		{"node_modules/addon/build/Release/a.node", file("x"), ""},
		{"node_modules/addon/node_modules/nested/i.js", file("n2"), "ran no install script"},
		{"node_modules/addon/node_modules/planted", dirEntry, "did not install"},
		{"node_modules/addon/lib/node_modules/planted", dirEntry, "did not install"},
		{"node_modules/optional-ext", dirEntry, "did not install"},
		{"node_modules/optional-ext", link("tamper"), "did not install"},
		{"node_modules/optional-ext.js", file("x"), "did not install"},
		{"node_modules/@evil/x", dirEntry, "did not install"},
		{"node_modules/@evil", dirEntry, ""},
		{"node_modules/victim", link("tamper"), "replaced the package"},
		{"node_modules/addon/node_modules", link("../tamper"), "directory of packages"},
		{"node_modules/.prisma/client/index.js", file("x"), ""},
		{"node_modules/.package-lock.json", file("edited"), "record of the installed tree"},
		{"node_modules/.bin/has-bin", link("../has-bin/cli.js"), ""},
		{"node_modules/.bin/has-bin", link("../tamper/inject.js"), "re-pointed"},
		{"node_modules/.bin/has-bin", link("../addon/bin/cli.js"), "re-pointed"}, // even to a target another package declares
		{".npmrc", file("node-options=--require ./x.js"), "only node_modules may change"},
		{"patches/victim+1.0.0.patch", file("evil"), "only node_modules may change"},
		{"package.json", file("{}"), "only node_modules may change"},
		{"node_modules/.bin/has-bin", file("#!/bin/sh"), "npm links bins"},
		{"node_modules/.bin/addon-cli", link("../addon/bin/cli.js"), ""},
		{"node_modules/.bin/node", link("../tamper/inject.js"), "no package declares"},
		{"node_modules/.bin/sub/x", link("../../tamper"), "only links"},
		{"node_modules/.bin", link("tamper"), "directory of packages"},
		{"node_modules/tamper/fifo", tree.Entry{Kind: tree.Other}, "FIFO"},
		{"node_modules/tamper/evil\x1b]0;x\x07", file("x"), "control character"},
	} {
		v := newSampleCheck()
		got := v.Check(c.name, c.entry)
		if (got == "") != (c.refuse == "") || !strings.Contains(got, c.refuse) {
			t.Errorf("%q %+v: %q, want %q", c.name, c.entry, got, c.refuse)
		}
	}
	// Whoever did it ran a script in this phase: the reason names them.
	if got := newSampleCheck().Check("node_modules/optional-ext", dirEntry); !strings.Contains(got, "scripts that ran: tamper@1.0.0, addon@2.0.0") {
		t.Errorf("the reason does not name the scripts that ran: %q", got)
	}
}

// A copy-back sees node_modules only: the project's files are not missing
// from it; the listing before the project's scripts sees them all.
func TestNPMTreeOnly(t *testing.T) {
	t.Parallel()
	before, _ := sampleTree()
	before["."] = dirEntry
	before["package.json"] = file("{}")
	v := newNPMTree(before, func(string) bool { return false }, nil, npmBins{})
	if name, _ := v.Missing([]string{"node_modules"}); !strings.HasPrefix(name, "node_modules/") {
		t.Errorf("Missing(node_modules) = %q, want an entry of node_modules, not the project's files", name)
	}
	if name, _ := v.Missing([]string{"package.json"}); name != "package.json" {
		t.Errorf("Missing(package.json) = %q, want package.json: a listing of the whole work directory sees it", name)
	}
}

func TestNPMTreeMissing(t *testing.T) {
	t.Parallel()
	before, _ := sampleTree()
	for _, c := range []struct {
		gone, want string
	}{
		{"", ""},
		{"node_modules/tamper/inject.js", ""}, // its own file
		{"node_modules/victim/index.js", "node_modules/victim/index.js"},
		{"node_modules/victim", "node_modules/victim"},
		{"node_modules/.bin/has-bin", "node_modules/.bin/has-bin"},
		{"node_modules/.package-lock.json", "node_modules/.package-lock.json"},
		{"node_modules/addon/node_modules/nested/i.js", "node_modules/addon/node_modules/nested/i.js"},
	} {
		v := newSampleCheck()
		for name, e := range before {
			if name != c.gone {
				if r := v.Check(name, e); r != "" {
					t.Fatalf("%s: %s", name, r)
				}
			}
		}
		if name, reason := v.Missing(nil); name != c.want || (name != "" && !strings.Contains(reason, "deleted")) {
			t.Errorf("without %q: missing() = %q, %q; want %q", c.gone, name, reason, c.want)
		}
	}
}

func TestLockBins(t *testing.T) {
	t.Parallel()
	l := layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"node_modules/a":                {Version: "1.0.0", Bin: map[string]string{"x": "./bin/x.js", "../../evil": "y.js"}},
		"node_modules/b":                {Version: "2.0.0", Bin: map[string]string{"x": "b.js", "node": "n.js"}},
		"node_modules/@s/c":             {Version: "3.0.0", Bin: map[string]string{"c": "c.js"}},
		"node_modules/a/node_modules/d": {Version: "4.0.0", Bin: map[string]string{"d": "d.js"}},
		"node_modules/ws":               {Link: true, Resolved: "packages/ws"},
		"packages/ws":                   {Version: "0.1.0", Bin: map[string]string{"ws": "cli.js"}},
	}}
	b := lockBins(l)
	for link, want := range map[string][]string{
		"node_modules/.bin/x":                {"node_modules/a/bin/x.js", "node_modules/b/b.js"},
		"node_modules/.bin/evil":             {"node_modules/a/y.js"},
		"node_modules/.bin/c":                {"node_modules/@s/c/c.js"},
		"node_modules/a/node_modules/.bin/d": {"node_modules/a/node_modules/d/d.js"},
		"node_modules/.bin/ws":               {"node_modules/ws/cli.js"},
	} {
		if got := b.targets[link]; !slices.Equal(got, want) {
			t.Errorf("%s -> %v, want %v", link, got, want)
		}
	}
	w := strings.Join(b.warnings(), "\n")
	for _, want := range []string{"node_modules/.bin/x is declared by a@1.0.0 and b@2.0.0", "shadows a common command: node_modules/.bin/node (from b@2.0.0)"} {
		if !strings.Contains(w, want) {
			t.Errorf("warnings %q lack %q", w, want)
		}
	}
}

// The property: on a random fetched tree, any mix of changes a script may
// make is accepted, and adding any one change it may not make gets the run
// refused. The verdict comes from how each change was made, not from a
// second copy of the rule.
func TestNPMTreeProperty(t *testing.T) {
	t.Parallel()
	for seed := range uint64(400) {
		rng := rand.New(rand.NewPCG(seed, 7))
		w := randomWorld(rng)
		after := maps.Clone(w.before)
		for range rng.IntN(6) {
			w.allowed[rng.IntN(len(w.allowed))](rng, after)
		}
		forbidden := rng.IntN(3) > 0
		what := "nothing forbidden"
		if forbidden {
			i := rng.IntN(len(w.forbidden))
			what = w.forbiddenNames[i]
			if !w.forbidden[i](rng, after) {
				forbidden, what = false, "nothing forbidden (no target)"
			}
		}
		v := newNPMTree(w.before, func(d string) bool { return w.ran[d] }, []string{"s@1"}, lockBins(w.lock))
		refused := ""
		for _, name := range slices.Sorted(maps.Keys(after)) {
			if r := v.Check(name, after[name]); r != "" {
				refused = name + ": " + r
				break
			}
		}
		if refused == "" {
			if name, r := v.Missing(nil); name != "" {
				refused = name + ": " + r
			}
		}
		if forbidden != (refused != "") {
			t.Fatalf("seed %d, %s: refused %q", seed, what, refused)
		}
	}
}

type mutation func(rng *rand.Rand, t tree.Tree) bool

type propWorld struct {
	before         tree.Tree
	lock           layout.Lockfile
	ran            map[string]bool
	allowed        []mutation
	forbidden      []mutation
	forbiddenNames []string
}

// randomWorld makes a fetched tree of random packages (scoped, nested,
// some running scripts, some with bins) and the changes a script may and
// may not make to it.
func randomWorld(rng *rand.Rand) *propWorld {
	w := &propWorld{before: tree.Tree{"node_modules": dirEntry}, lock: layout.Lockfile{Version: 3, Packages: map[string]layout.Package{}}, ran: map[string]bool{}}
	var pkgs []string
	addPkg := func(modules string) {
		name := fmt.Sprintf("p%d", len(pkgs))
		if rng.IntN(4) == 0 {
			w.before[modules+"/@s"] = dirEntry
			name = "@s/" + name
		}
		dir := modules + "/" + name
		pkgs = append(pkgs, dir)
		w.before[dir] = dirEntry
		w.before[dir+"/package.json"] = file(dir)
		w.before[dir+"/lib"] = dirEntry
		w.before[dir+"/lib/index.js"] = file(dir + "x")
		lp := layout.Package{Version: "1.0.0", HasInstallScript: rng.IntN(3) == 0}
		if rng.IntN(3) == 0 {
			bin := fmt.Sprintf("b%d", len(pkgs))
			lp.Bin = map[string]string{bin: "lib/index.js"}
			w.before[modules+"/.bin"] = dirEntry
			w.before[modules+"/.bin/"+bin] = link("../" + name + "/lib/index.js")
		}
		w.lock.Packages[dir] = lp
		w.ran[dir] = lp.HasInstallScript
	}
	for range 2 + rng.IntN(5) {
		addPkg("node_modules")
	}
	for range rng.IntN(3) {
		parent := pkgs[rng.IntN(len(pkgs))]
		w.before[parent+"/node_modules"] = dirEntry
		addPkg(parent + "/node_modules")
	}
	w.before["node_modules/.package-lock.json"] = file("lock")
	pick := func(rng *rand.Rand, ran bool) (string, bool) {
		var c []string
		for _, p := range pkgs {
			if w.ran[p] == ran {
				c = append(c, p)
			}
		}
		if len(c) == 0 {
			return "", false
		}
		return c[rng.IntN(len(c))], true
	}
	ownFiles := func(t tree.Tree, pkg string) []string {
		var out []string
		for name := range t {
			if pos, p := layout.Locate(name); pos == layout.PosOwn && p == pkg {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out
	}
	// changes inside pkg's own directory: allowed when it ran a script
	ownChange := func(ran bool) mutation {
		return func(rng *rand.Rand, t tree.Tree) bool {
			pkg, ok := pick(rng, ran)
			if !ok {
				return false
			}
			files := ownFiles(t, pkg)
			switch rng.IntN(5) {
			case 0:
				t[pkg+"/build/out.node"] = file(fmt.Sprint(rng.Int()))
				t[pkg+"/build"] = dirEntry
			case 1:
				if len(files) == 0 {
					return false
				}
				t[files[rng.IntN(len(files))]] = file("edited")
			case 2:
				if len(files) == 0 {
					return false
				}
				f := files[rng.IntN(len(files))]
				if t[f].Kind == tree.Dir {
					return false
				}
				delete(t, f)
			case 3:
				t[pkg+"/ln"] = link("lib/index.js")
			case 4:
				if len(files) == 0 {
					return false
				}
				f := files[rng.IntN(len(files))]
				if t[f].Kind != tree.File {
					return false
				}
				e := t[f]
				e.Exec = !e.Exec
				t[f] = e
			}
			return true
		}
	}
	w.allowed = []mutation{
		ownChange(true),
		func(rng *rand.Rand, t tree.Tree) bool { // outside every package
			t["node_modules/.cache"] = dirEntry
			t[fmt.Sprintf("node_modules/.cache/f%d", rng.IntN(9))] = file("c")
			return true
		},
	}
	named := map[string]mutation{
		"own change in a package that ran no script": func(rng *rand.Rand, t tree.Tree) bool {
			for range 10 {
				if ownChange(false)(rng, t) {
					return true
				}
			}
			return false
		},
		"a new package at a package position": func(rng *rand.Rand, t tree.Tree) bool {
			parent := "node_modules"
			if rng.IntN(2) == 0 {
				parent = pkgs[rng.IntN(len(pkgs))] + "/node_modules"
				t[parent] = dirEntry
			}
			t[parent+"/planted"] = dirEntry
			t[parent+"/planted/index.js"] = file("evil")
			return true
		},
		"a file at a package position": func(rng *rand.Rand, t tree.Tree) bool {
			t["node_modules/planted.js"] = file("evil")
			return true
		},
		"a package replaced by a symlink": func(rng *rand.Rand, t tree.Tree) bool {
			pkg := pkgs[rng.IntN(len(pkgs))]
			for name := range t {
				if strings.HasPrefix(name, pkg+"/") {
					delete(t, name)
				}
			}
			t[pkg] = link("elsewhere")
			return true
		},
		"a package deleted": func(rng *rand.Rand, t tree.Tree) bool {
			pkg := pkgs[rng.IntN(len(pkgs))]
			for name := range t {
				if name == pkg || strings.HasPrefix(name, pkg+"/") {
					delete(t, name)
				}
			}
			return true
		},
		"an undeclared .bin link": func(rng *rand.Rand, t tree.Tree) bool {
			t["node_modules/.bin"] = dirEntry
			t["node_modules/.bin/node"] = link("../" + strings.TrimPrefix(pkgs[0], "node_modules/") + "/lib/index.js")
			return true
		},
		"a .bin link re-pointed": func(rng *rand.Rand, t tree.Tree) bool {
			for _, name := range slices.Sorted(maps.Keys(t)) {
				if pos, _ := layout.Locate(name); pos == layout.PosBin {
					t[name] = link(t[name].Target + ".evil")
					return true
				}
			}
			return false
		},
		"a .bin link made a file": func(rng *rand.Rand, t tree.Tree) bool {
			for _, name := range slices.Sorted(maps.Keys(t)) {
				if pos, _ := layout.Locate(name); pos == layout.PosBin {
					t[name] = file("#!/bin/sh")
					return true
				}
			}
			return false
		},
		"npm's hidden lockfile edited": func(rng *rand.Rand, t tree.Tree) bool {
			t["node_modules/.package-lock.json"] = file("edited")
			return true
		},
	}
	for _, name := range slices.Sorted(maps.Keys(named)) {
		w.forbidden = append(w.forbidden, named[name])
		w.forbiddenNames = append(w.forbiddenNames, name)
	}
	return w
}
