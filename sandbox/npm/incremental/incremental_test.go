package incremental

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

func TestLockDiff(t *testing.T) {
	t.Parallel()
	pkg := func(v string) layout.Package {
		return layout.Package{Version: v, Resolved: "https://r/x-" + v + ".tgz", Integrity: "sha512-" + v}
	}
	old := layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"":                                  {Name: "proj"},
		"node_modules/a":                    pkg("1.0.0"),
		"node_modules/b":                    pkg("1.0.0"),
		"node_modules/c":                    pkg("1.0.0"),
		"node_modules/a/node_modules/d":     pkg("1.0.0"),
		"node_modules/@s/e":                 pkg("1.0.0"),
		"node_modules/integrity-only":       pkg("1.0.0"),
		"node_modules/link-now":             pkg("1.0.0"),
		"node_modules/removed/node_modules": pkg("1.0.0"),
	}}
	changedIntegrity := pkg("1.0.0")
	changedIntegrity.Integrity = "sha512-other"
	linked := pkg("1.0.0")
	linked.Link = true
	new := layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"":                              {Name: "proj", Version: "2.0.0"}, // the root is never a location that comes back
		"node_modules/a":                pkg("1.0.0"),
		"node_modules/b":                pkg("2.0.0"),
		"node_modules/a/node_modules/d": pkg("1.0.0"),
		"node_modules/@s/e":             pkg("1.0.0"),
		"node_modules/@s/f":             pkg("1.0.0"),
		"node_modules/integrity-only":   changedIntegrity,
		"node_modules/link-now":         linked,
	}}
	// npm extracts a package again only for other bits: with the same
	// integrity it ignores resolved (a record may leave it out), and with
	// no integrity on either side it compares resolved.
	old.Packages["node_modules/resolved-only"] = layout.Package{Version: "1.0.0", Integrity: "sha512-1.0.0"}
	new.Packages["node_modules/resolved-only"] = pkg("1.0.0")
	old.Packages["node_modules/no-integrity"] = layout.Package{Version: "1.0.0", Resolved: "https://r/x.tgz"}
	new.Packages["node_modules/no-integrity"] = layout.Package{Version: "1.0.0", Resolved: "https://other/x.tgz"}
	old.Packages["node_modules/integrity-added"] = layout.Package{Version: "1.0.0", Resolved: "https://r/x.tgz"}
	new.Packages["node_modules/integrity-added"] = pkg("1.0.0")
	changed, removed := lockDiff(old, new)
	if want := []string{"node_modules/@s/f", "node_modules/b", "node_modules/integrity-added", "node_modules/integrity-only", "node_modules/link-now", "node_modules/no-integrity"}; !slices.Equal(changed, want) {
		t.Errorf("changed = %v, want %v", changed, want)
	}
	if want := []string{"node_modules/c", "node_modules/removed/node_modules"}; !slices.Equal(removed, want) {
		t.Errorf("removed = %v, want %v", removed, want)
	}
	in := &Install{Changed: []string{"node_modules/@s/f", "node_modules/a/node_modules/g"}, Removed: []string{"node_modules/c"}}
	want := []string{"node_modules/.bin", "node_modules/.package-lock.json", "node_modules/@s/f", "node_modules/a/node_modules/.bin", "node_modules/a/node_modules/g"}
	if got := in.Roots(); !slices.Equal(got, want) {
		t.Errorf("roots = %v, want %v", got, want)
	}
}

// installedTree writes a project with a lockfile and an installed tree
// that npm's record vouches for.
func installedTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pkgs := map[string]layout.Package{
		"":                              {Name: "proj", Version: "1.0.0"},
		"node_modules/a":                {Version: "1.0.0", Resolved: "https://r/a-1.0.0.tgz", Integrity: "sha512-a"},
		"node_modules/@s/b":             {Version: "2.0.0", Resolved: "https://r/b-2.0.0.tgz", Integrity: "sha512-b"},
		"node_modules/a/node_modules/c": {Version: "3.0.0", Resolved: "https://r/c-3.0.0.tgz", Integrity: "sha512-c"},
	}
	for loc, p := range pkgs {
		if loc == "" {
			continue
		}
		write(t, filepath.Join(dir, loc, "package.json"), `{"name":"`+layout.PackageOf(loc+"/x")+`","version":"`+p.Version+`"}`)
		write(t, filepath.Join(dir, loc, "index.js"), "module.exports = 1\n")
	}
	must(t, os.MkdirAll(filepath.Join(dir, "node_modules/.bin"), 0o755))
	must(t, os.Symlink("../a/index.js", filepath.Join(dir, "node_modules/.bin/a")))
	lock, _ := json.Marshal(layout.Lockfile{Version: 3, Packages: pkgs})
	write(t, filepath.Join(dir, "package-lock.json"), string(lock))
	write(t, filepath.Join(dir, "node_modules/.package-lock.json"), string(lock))
	later := time.Now().Add(time.Second)
	must(t, os.Chtimes(filepath.Join(dir, "node_modules/.package-lock.json"), later, later))
	return dir
}

func write(t *testing.T, file, data string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(file), 0o755))
	must(t, os.WriteFile(file, []byte(data), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTrustTree(t *testing.T) {
	t.Parallel()
	later := time.Now().Add(time.Hour)
	cases := []struct {
		name string
		edit func(t *testing.T, dir string)
		want string // "" trusts the tree
	}{
		{"as recorded", func(*testing.T, string) {}, ""},
		{"a file edited after the record", func(t *testing.T, dir string) {
			must(t, os.Chtimes(filepath.Join(dir, "node_modules/a/index.js"), later, later))
		}, "node_modules/a/index.js (changed after npm recorded the tree)"},
		{"a package copied in", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "node_modules/z/package.json"), `{"name":"z","version":"1.0.0"}`)
			rec := filepath.Join(dir, "node_modules/.package-lock.json")
			must(t, os.Chtimes(rec, later, later))
		}, "node_modules/z (a package npm's record does not list)"},
		{"an installed version that is not the recorded one", func(t *testing.T, dir string) {
			write(t, filepath.Join(dir, "node_modules/@s/b/package.json"), `{"name":"@s/b","version":"9.9.9"}`)
			must(t, os.Chtimes(filepath.Join(dir, "node_modules/.package-lock.json"), later, later))
		}, "node_modules/@s/b (@s/b@9.9.9 installed, @s/b@2.0.0 recorded)"},
		{"a lockfile that says another version", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "package-lock.json"), `"version":"3.0.0"`, `"version":"3.0.1"`)
		}, "node_modules/a/node_modules/c (3.0.1 in package-lock.json, 3.0.0 installed)"},
		{"a lockfile that says another integrity", func(t *testing.T, dir string) {
			edit(t, filepath.Join(dir, "package-lock.json"), `sha512-a"`, `sha512-x"`)
		}, "node_modules/a (1.0.0 in package-lock.json, 1.0.0 installed)"},
		{"no record", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "node_modules/.package-lock.json")))
		}, "node_modules/.package-lock.json (npm's record of the tree is missing)"},
		{"a FIFO", func(t *testing.T, dir string) {
			must(t, syscall.Mkfifo(filepath.Join(dir, "node_modules/a/fifo"), 0o644))
			must(t, os.Chtimes(filepath.Join(dir, "node_modules/.package-lock.json"), later, later))
		}, "node_modules/a/fifo (not a file, directory or symlink)"},
		// A cloned repository's node_modules may hold links: the check
		// reads nothing through one (a link to /dev/stdin would wait for
		// the terminal; a FIFO stands for it here), and a package npm's
		// record has is a directory of the tree, not a link to one.
		{"a package.json that links to a FIFO", func(t *testing.T, dir string) {
			fifo := filepath.Join(t.TempDir(), "fifo")
			must(t, syscall.Mkfifo(fifo, 0o644))
			must(t, os.Remove(filepath.Join(dir, "node_modules/a/package.json")))
			must(t, os.Symlink(fifo, filepath.Join(dir, "node_modules/a/package.json")))
		}, "node_modules/a (its package.json is missing or does not parse)"},
		{"a package.json that is a FIFO", func(t *testing.T, dir string) {
			must(t, os.Remove(filepath.Join(dir, "node_modules/@s/b/package.json")))
			must(t, syscall.Mkfifo(filepath.Join(dir, "node_modules/@s/b/package.json"), 0o644))
		}, "node_modules/@s/b (its package.json is missing or does not parse)"},
		{"a package directory that is a link", func(t *testing.T, dir string) {
			elsewhere := t.TempDir()
			write(t, filepath.Join(elsewhere, "package.json"), `{"name":"@s/b","version":"2.0.0"}`)
			must(t, os.RemoveAll(filepath.Join(dir, "node_modules/@s/b")))
			must(t, os.Symlink(elsewhere, filepath.Join(dir, "node_modules/@s/b")))
		}, "node_modules/@s/b (a link or no directory where npm's record has a package)"},
		{"a link on the way to a package", func(t *testing.T, dir string) {
			elsewhere := t.TempDir()
			must(t, os.Rename(filepath.Join(dir, "node_modules/a"), filepath.Join(elsewhere, "a")))
			must(t, os.Symlink(filepath.Join(elsewhere, "a"), filepath.Join(dir, "node_modules/a")))
		}, "node_modules/a (a link or no directory where npm's record has a package)"},
		{"a missing package directory", func(t *testing.T, dir string) {
			must(t, os.RemoveAll(filepath.Join(dir, "node_modules/a/node_modules/c")))
		}, "node_modules/a/node_modules/c (its package.json is missing or does not parse)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := installedTree(t)
			c.edit(t, dir)
			var lock layout.Lockfile
			data, _ := os.ReadFile(filepath.Join(dir, "package-lock.json"))
			must(t, json.Unmarshal(data, &lock))
			done := make(chan string, 1)
			go func() { _, _, _, why := trustTree(dir, "package-lock.json", lock); done <- why }()
			select {
			case got := <-done:
				if got != c.want {
					t.Errorf("trustTree = %q, want %q", got, c.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("trustTree still reading after 10 s")
			}
		})
	}
}

func edit(t *testing.T, file, old, new string) {
	t.Helper()
	data, err := os.ReadFile(file)
	must(t, err)
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s has no %s", file, old)
	}
	must(t, os.WriteFile(file, []byte(strings.Replace(string(data), old, new, 1)), 0o644))
}

// fill builds the staged tree from the host's by hard links, skipping what
// came back and what was removed; removing the staging directory (a
// failed run) leaves every host file as it was, the same inode, the same
// content, and the record is dated only when it is the staging's own.
func TestFillLinksAndLeavesTheHostTree(t *testing.T) {
	t.Parallel()
	dir := installedTree(t)
	staging := t.TempDir()
	// What came back: a changed @s/b, npm's record.
	write(t, filepath.Join(staging, "node_modules/@s/b/package.json"), `{"name":"@s/b","version":"2.1.0"}`)
	write(t, filepath.Join(staging, "node_modules/.package-lock.json"), "{}")
	in := &Install{project: dir, Changed: []string{"node_modules/@s/b"}, Removed: []string{"node_modules/a/node_modules/c"}}
	must(t, os.Symlink("index.js", filepath.Join(dir, "node_modules/a/self")))
	hostFile := filepath.Join(dir, "node_modules/a/index.js")
	before, err := os.Stat(hostFile)
	must(t, err)
	n, err := fill(t, in, staging)
	must(t, err)
	if n != 2 { // a's package.json and index.js
		t.Errorf("linked %d files, want 2", n)
	}
	staged, err := os.Stat(filepath.Join(staging, "node_modules/a/index.js"))
	must(t, err)
	if !os.SameFile(before, staged) {
		t.Error("a/index.js is not a link to the host's file")
	}
	// .bin beside a changed package comes back from the sandbox.
	for _, gone := range []string{"node_modules/a/node_modules/c", "node_modules/@s/b/index.js", "node_modules/.bin"} {
		if _, err := os.Lstat(filepath.Join(staging, gone)); err == nil {
			t.Errorf("%s was staged from the host", gone)
		}
	}
	if got, _ := os.Readlink(filepath.Join(staging, "node_modules/a/self")); got != "index.js" {
		t.Errorf("the symlink a/self = %q", got)
	}
	if data, _ := os.ReadFile(filepath.Join(staging, "node_modules/.package-lock.json")); string(data) != "{}" {
		t.Error("the host's record replaced the staged one")
	}
	// A record that is a link to a host file is never dated.
	recordHost := filepath.Join(dir, "node_modules/.package-lock.json")
	hostRecord, _ := os.Stat(recordHost)
	linkedStaging := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(linkedStaging, "node_modules"), 0o755))
	must(t, os.Link(recordHost, filepath.Join(linkedStaging, "node_modules/.package-lock.json")))
	must(t, DateRecord(linkedStaging))
	if after, _ := os.Stat(recordHost); !after.ModTime().Equal(hostRecord.ModTime()) {
		t.Error("dateRecord changed a host file through a hard link")
	}
	must(t, DateRecord(staging))
	// The failed run's clean-up.
	must(t, os.RemoveAll(staging))
	after, err := os.Stat(hostFile)
	must(t, err)
	if !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
		t.Error("the host file changed")
	}
	if data, _ := os.ReadFile(hostFile); string(data) != "module.exports = 1\n" {
		t.Errorf("the host file holds %q", data)
	}
}

// split sends into the fetch what npm reads of a trusted tree, and late
// gives a scripts phase the rest, but for the locations npm changed or
// removed.
func TestSplitAndLate(t *testing.T) {
	t.Parallel()
	in := &Install{old: layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"node_modules/a": {Version: "1.0.0", Bin: map[string]string{"a": "./cli.js"}}, "node_modules/@s/b": {Version: "1.0.0"}, "node_modules/c": {Version: "1.0.0"},
	}}}
	inputs := []install.Input{
		{Name: "node_modules/.package-lock.json", Source: "x"},
		{Name: "node_modules/.bin/a", Link: "../a/cli.js"},
		{Name: "node_modules/.bin/tool", Source: "x"}, // a file some tool put there: the .bin comes back, so it is listed
		{Name: "node_modules/a/package.json", Source: "x"},
		{Name: "node_modules/a/cli.js", Source: "x"},
		{Name: "node_modules/a/test/package.json", Source: "x"}, // no location
		{Name: "node_modules/@s/b/package.json", Source: "x"},
		{Name: "node_modules/@s/b/index.js", Source: "x"},
		{Name: "node_modules/c/index.js", Source: "x"},
	}
	names := func(ins []install.Input) (out []string) {
		for _, i := range ins {
			out = append(out, i.Name)
		}
		return out
	}
	if got, want := names(in.Split(inputs)), []string{"node_modules/.package-lock.json", "node_modules/.bin/a", "node_modules/.bin/tool", "node_modules/a/package.json", "node_modules/a/cli.js", "node_modules/@s/b/package.json"}; !slices.Equal(got, want) {
		t.Errorf("split = %v, want %v", got, want)
	}
	in.Changed, in.Removed = []string{"node_modules/@s/b"}, []string{"node_modules/c"}
	if got, want := names(in.Late()), []string{"node_modules/a/test/package.json"}; !slices.Equal(got, want) {
		t.Errorf("late = %v, want %v", got, want)
	}
}

// copyFile, the fill's way when no hard link can be made, writes a new
// file: the source keeps its inode and content, the executable bit goes
// over, and nothing is written through a link at dst.
func TestCopyFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := filepath.Join(dir, "cli.js")
	must(t, os.WriteFile(src, []byte("#!/usr/bin/env node\n"), 0o755))
	dst := filepath.Join(dir, "copy.js")
	must(t, copyFile(src, dst))
	a, _ := os.Stat(src)
	b, err := os.Stat(dst)
	must(t, err)
	if os.SameFile(a, b) || b.Mode().Perm() != 0o755 {
		t.Errorf("copy: same file %v, mode %v", os.SameFile(a, b), b.Mode())
	}
	if data, _ := os.ReadFile(dst); string(data) != "#!/usr/bin/env node\n" {
		t.Errorf("copy holds %q", data)
	}
	victim := filepath.Join(dir, "victim")
	must(t, os.WriteFile(victim, []byte("mine"), 0o644))
	link := filepath.Join(dir, "link")
	must(t, os.Symlink(victim, link))
	if err := copyFile(src, link); err == nil {
		t.Error("copyFile wrote at an existing symlink")
	}
	if data, _ := os.ReadFile(victim); string(data) != "mine" {
		t.Errorf("the symlink's target holds %q", data)
	}
}

// A changed package's unchanged nested one (a changed, a/node_modules/c
// not) stays out of what comes back and is staged from the host's files,
// whole: the fetch had only its package.json.
func TestFillTakesNestedUnchangedFromTheHost(t *testing.T) {
	t.Parallel()
	dir := installedTree(t)
	now := layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"node_modules/a":                {Version: "1.1.0"},
		"node_modules/@s/b":             {Version: "2.0.0"},
		"node_modules/a/node_modules/c": {Version: "3.0.0"},
	}}
	in := &Install{project: dir, Changed: []string{"node_modules/a"}}
	in.Nested = nestedUnchanged(now, in.Changed)
	if want := []string{"node_modules/a/node_modules/c"}; !slices.Equal(in.Nested, want) {
		t.Fatalf("nested = %v, want %v", in.Nested, want)
	}
	staging := t.TempDir()
	write(t, filepath.Join(staging, "node_modules/a/package.json"), `{"name":"a","version":"1.1.0"}`)
	if _, err := fill(t, in, staging); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(staging, "node_modules/a/index.js")); err == nil {
		t.Error("the changed a got the host's old index.js")
	}
	for _, f := range []string{"node_modules/a/node_modules/c/index.js", "node_modules/a/node_modules/c/package.json"} {
		host, err := os.Stat(filepath.Join(dir, f))
		must(t, err)
		staged, err := os.Stat(filepath.Join(staging, f))
		if err != nil || !os.SameFile(host, staged) {
			t.Errorf("%s is not the host's file: %v", f, err)
		}
	}
	in.rest = []install.Input{{Name: "node_modules/a/index.js"}, {Name: "node_modules/a/node_modules/c/index.js"}}
	if late := in.Late(); len(late) != 1 || late[0].Name != "node_modules/a/node_modules/c/index.js" {
		t.Errorf("late = %v, want c's index.js alone", late)
	}
}

// A changed location of npm's record that is no package directory of
// node_modules (a file: directory dependency's target, libs/x) is refused,
// never sliced (it crashed the run in roots, seen with real npm); the
// planning side is TestIncrementalPlanLinkedDependency.
func TestIncrementalLinkedDependency(t *testing.T) {
	t.Parallel()
	in := &Install{}
	in.Changed, in.Removed = lockDiff(layout.Lockfile{}, layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"node_modules/locallib": {Resolved: "libs/locallib", Link: true}, "libs/locallib": {Version: "1.0.0"},
	}})
	if err := in.check(); !errors.Is(err, install.ErrPolicy) || !strings.Contains(err.Error(), "libs/locallib") {
		t.Errorf("check = %v, want a refusal naming libs/locallib", err)
	}
}

// npm update may change a package nested in an unchanged one that is
// itself nested in a changed one (a 1.0.0 to 1.1.0, its c the same, c's
// own d 4.0.0 to 4.0.1). Everything below the unchanged c is the host's,
// so the fill would keep d's old files under a record saying 4.0.1 (the
// control below shows it): the run is refused instead, naming d.
func TestIncrementalChangeInsideNestedUnchanged(t *testing.T) {
	t.Parallel()
	dir := installedTree(t)
	d := "node_modules/a/node_modules/c/node_modules/d"
	write(t, filepath.Join(dir, d, "package.json"), `{"name":"d","version":"4.0.0"}`)
	write(t, filepath.Join(dir, d, "index.js"), "module.exports = 'old'\n")
	now := layout.Lockfile{Version: 3, Packages: map[string]layout.Package{
		"node_modules/a":                {Version: "1.1.0"},
		"node_modules/@s/b":             {Version: "2.0.0"},
		"node_modules/a/node_modules/c": {Version: "3.0.0"},
		d:                               {Version: "4.0.1"},
	}}
	in := &Install{project: dir, Changed: []string{"node_modules/a", d}}
	in.Nested = nestedUnchanged(now, in.Changed)
	staging := t.TempDir()
	write(t, filepath.Join(staging, "node_modules/a/package.json"), `{"name":"a","version":"1.1.0"}`)
	if _, err := fill(t, in, staging); err != nil {
		t.Fatal(err)
	}
	host, err := os.Stat(filepath.Join(dir, d, "index.js"))
	must(t, err)
	if staged, err := os.Stat(filepath.Join(staging, d, "index.js")); err != nil || !os.SameFile(host, staged) {
		t.Fatalf("the control: the fill did not stage the host's old d (%v); the refusal below would guard nothing", err)
	}
	if err := in.check(); !errors.Is(err, install.ErrPolicy) || !strings.Contains(err.Error(), d) {
		t.Errorf("check = %v, want a refusal naming %s", err, d)
	}
	// d removed from under c (deduplicated to a's node_modules): the fill
	// would keep the host's d there.
	delete(now.Packages, d)
	now.Packages["node_modules/a/node_modules/d"] = layout.Package{Version: "4.0.1"}
	in = &Install{project: dir, Changed: []string{"node_modules/a", "node_modules/a/node_modules/d"}, Removed: []string{d}}
	in.Nested = nestedUnchanged(now, in.Changed)
	staging = t.TempDir()
	if _, err := fill(t, in, staging); err != nil {
		t.Fatal(err)
	}
	if staged, err := os.Stat(filepath.Join(staging, d, "index.js")); err != nil || !os.SameFile(host, staged) {
		t.Fatalf("the control: the fill did not keep the host's removed d (%v)", err)
	}
	if err := in.check(); !errors.Is(err, install.ErrPolicy) || !strings.Contains(err.Error(), d) {
		t.Errorf("check = %v, want a refusal naming the removed %s", err, d)
	}
	if in.Whole = true; in.check() != nil {
		t.Errorf("the whole tree's copy-back is refused: %v", in.check())
	}
}
