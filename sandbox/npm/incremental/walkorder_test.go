package incremental

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// checkWalk walks node_modules' top entries four at a time (2c359d2);
// what it finds must be what one walk in order finds: the same inputs in
// the same order (the fetch's copy-in and the fill take them so), and on
// a tree that differs from npm's record the same first failing entry,
// whichever goroutine comes on a failure first. The one walk in order is
// the descriptor walk over node_modules itself, in one goroutine, whose
// inputs are in filepath.WalkDir's order (oneWalk checks that) (with
// node_modules' own time before the record's: the parallel walk does not
// hold it, the swap's rename dates it). The tree has scoped packages, a
// nested node_modules, .bin links, top entries that are links and a
// subtree large enough that the goroutines behind it finish first. Mutants tried by hand: the merge
// loop over the parts reversed, and a merge in the order the parts ended;
// each failed every case (the later of two failures reported, or the
// inputs out of order).
func TestTrustWalkIsOneWalkInOrder(t *testing.T) {
	t.Parallel()
	later := time.Now().Add(time.Hour)
	cases := []struct {
		name  string
		edits []string // files dated after the record, in walk order
		want  string   // the first of them, or a package npm does not record
		plant string   // a package directory the record does not list
	}{
		{name: "as recorded"},
		{name: "one entry in a nested node_modules", edits: []string{"node_modules/a/node_modules/c/index.js"}},
		{name: "the last file of the large subtree, and a small subtree after it",
			edits: []string{"node_modules/big/f299.js", "node_modules/zz/index.js"}},
		{name: "a scoped package's file, then a .bin link's target's package",
			edits: []string{"node_modules/@s/b/index.js", "node_modules/p5/index.js"}},
		{name: "a large subtree's file, then a package planted after it", edits: []string{"node_modules/big/f150.js"}, plant: "node_modules/zy"},
		{name: "a planted package, then a later edit", plant: "node_modules/@s/a", edits: []string{"node_modules/p3/index.js"},
			want: "node_modules/@s/a (a package npm's record does not list)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir, hidden, recordTime := walkTree(t)
			for _, e := range c.edits {
				must(t, os.Chtimes(filepath.Join(dir, e), later, later))
			}
			if c.plant != "" {
				write(t, filepath.Join(dir, c.plant, "package.json"), `{"name":"planted","version":"1.0.0"}`)
				old := recordTime.Add(-time.Minute)
				for _, p := range []string{c.plant, filepath.Join(c.plant, "package.json"), filepath.Dir(c.plant)} {
					must(t, os.Chtimes(filepath.Join(dir, p), old, old))
				}
			}
			root := filepath.Join(dir, "node_modules")
			old := recordTime.Add(-time.Minute)
			must(t, os.Chtimes(root, old, old))
			wantTree, wantWhy, err := oneWalk(dir, hidden, recordTime)
			must(t, err)
			if len(wantTree) > 0 && wantTree[0].Name == "node_modules" {
				t.Fatalf("the one walk lists node_modules itself: %+v", wantTree[0])
			}
			switch {
			case c.want != "" && wantWhy != c.want:
				t.Fatalf("the one walk in order finds %q, want %q: the case is not what it says", wantWhy, c.want)
			case c.want == "" && len(c.edits) > 0 && wantWhy != c.edits[0]+" (changed after npm recorded the tree)":
				t.Fatalf("the one walk in order finds %q, want the first edit %s: the case is not what it says", wantWhy, c.edits[0])
			case len(c.edits) == 0 && c.plant == "" && (wantWhy != "" || len(wantTree) < 300):
				t.Fatalf("the control: the untouched tree fails the one walk (%q) or lists %d inputs", wantWhy, len(wantTree))
			}
			// Which goroutine ends first varies from run to run.
			for range 20 {
				tree, why := checkWalk(dir, hidden, recordTime)
				if why != wantWhy {
					t.Fatalf("the parallel walk finds %q, one walk in order %q", why, wantWhy)
				}
				if !reflect.DeepEqual(tree, wantTree) {
					t.Fatalf("the parallel walk's inputs (%d) are not one walk's (%d) in order:\n%s", len(tree), len(wantTree), firstDiff(tree, wantTree))
				}
			}
		})
	}
}

// oneWalk is checkWalk's walk over node_modules itself, in one goroutine;
// its inputs' names are those of a filepath.WalkDir over the same tree, in
// its order, up to the failure.
func oneWalk(dir string, hidden layout.Lockfile, recordTime time.Time) ([]install.Input, string, error) {
	var tree []install.Input
	w := walker{project: dir, hidden: hidden, newest: recordTime.Add(10 * time.Millisecond)}
	why, err := w.entry(unix.AT_FDCWD, filepath.Join(dir, "node_modules"), "node_modules", &tree)
	if err != nil {
		return nil, "", err
	}
	var names []string
	err = filepath.WalkDir(filepath.Join(dir, "node_modules"), func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			names = append(names, filepath.ToSlash(rel))
		}
		return err
	})
	for i, in := range tree {
		if err == nil && (i >= len(names) || names[i] != in.Name) {
			err = fmt.Errorf("the walk lists %s at %d, filepath.WalkDir %v", in.Name, i, names[min(i, len(names)-1)])
		}
	}
	if why == "" && err == nil && len(tree) != len(names) {
		err = fmt.Errorf("the walk lists %d inputs, filepath.WalkDir %d entries", len(tree), len(names))
	}
	return tree, why, err
}

// walkTree is an installed tree with scoped packages, a nested
// node_modules, .bin links, a large package first in order and small
// ones after it, npm's record dated after all of it.
func walkTree(t *testing.T) (dir string, hidden layout.Lockfile, recordTime time.Time) {
	t.Helper()
	dir = t.TempDir()
	pkgs := map[string]layout.Package{"": {Name: "proj", Version: "1.0.0"}}
	locs := []string{"node_modules/a", "node_modules/a/node_modules/c", "node_modules/@s/b", "node_modules/@s/d", "node_modules/big", "node_modules/zz"}
	for i := range 8 {
		locs = append(locs, fmt.Sprintf("node_modules/p%d", i))
	}
	for _, loc := range locs {
		pkgs[loc] = layout.Package{Version: "1.0.0"}
		write(t, filepath.Join(dir, loc, "package.json"), `{"name":"`+layout.PackageOf(loc+"/x")+`","version":"1.0.0"}`)
		write(t, filepath.Join(dir, loc, "index.js"), "module.exports = 1\n")
	}
	for i := range 300 {
		write(t, filepath.Join(dir, "node_modules/big", fmt.Sprintf("f%03d.js", i)), "//\n")
	}
	must(t, os.Chmod(filepath.Join(dir, "node_modules/p5/index.js"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "node_modules/.bin"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "node_modules/a/node_modules/.bin"), 0o755))
	for link, target := range map[string]string{
		"node_modules/.bin/a": "../a/index.js", "node_modules/.bin/p5": "../p5/index.js", "node_modules/.bin/b": "../@s/b/index.js",
		"node_modules/a/node_modules/.bin/c": "../c/index.js",
		// A top entry that is a link (each top entry is a walk's root,
		// which filepath.WalkDir does not follow either).
		"node_modules/p9": "p1", "node_modules/@s/e": "../p2",
	} {
		must(t, os.Symlink(target, filepath.Join(dir, link)))
	}
	hidden = layout.Lockfile{Version: 3, Packages: pkgs}
	rec := filepath.Join(dir, "node_modules/.package-lock.json")
	write(t, rec, "{}")
	recordTime = time.Now().Add(time.Second)
	must(t, os.Chtimes(rec, recordTime, recordTime))
	return dir, hidden, recordTime
}

func firstDiff(got, want []install.Input) string {
	for i := range min(len(got), len(want)) {
		if !reflect.DeepEqual(got[i], want[i]) {
			return fmt.Sprintf("at %d: %+v, one walk %+v", i, got[i], want[i])
		}
	}
	return fmt.Sprintf("one is a prefix of the other (%d, %d)", len(got), len(want))
}
