package archive

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// entry is one member of a crafted archive.
type entry struct {
	name, link string
	typ        byte
	mode       int64
	body       string
	size       int64 // header size when it differs from len(body)
	pax        map[string]string
}

func file(name, body string) entry {
	return entry{name: name, typ: tar.TypeReg, mode: 0o644, body: body}
}
func dir(name string) entry { return entry{name: name, typ: tar.TypeDir, mode: 0o755} }
func symlink(name, target string) entry {
	return entry{name: name, typ: tar.TypeSymlink, link: target, mode: 0o777}
}

func craft(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		size := int64(len(e.body))
		if e.size != 0 {
			size = e.size
		}
		if e.pax != nil {
			// Go's writer would replace a "path" record with Name, so the
			// attacker's extended header is written by hand.
			buf.Write(rawPAX(t, e.pax))
		}
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode}
		if e.typ == tar.TypeReg {
			hdr.Size = size
		}
		if e.typ == tar.TypeChar || e.typ == tar.TypeBlock {
			hdr.Devmajor, hdr.Devminor = 1, 3
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("crafting %q: %v", e.name, err)
		}
		if e.typ == tar.TypeReg && e.size == 0 {
			if _, err := tw.Write([]byte(e.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Flush may fail for entries whose declared size was not written
	// (the truncated-file case); the bytes so far are what we want.
	_ = tw.Close()
	return buf.Bytes()
}

// rawPAX is a PAX extended header block ('x') carrying records as given.
func rawPAX(t testing.TB, records map[string]string) []byte {
	t.Helper()
	var body bytes.Buffer
	for k, v := range records {
		rec := " " + k + "=" + v + "\n"
		n := len(rec)
		for n != len(strconv.Itoa(n))+len(rec) {
			n = len(strconv.Itoa(n)) + len(rec)
		}
		body.WriteString(strconv.Itoa(n) + rec)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	if err := tw.WriteHeader(&tar.Header{Name: "PaxHeaders/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(body.Len()), Format: tar.FormatUSTAR}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body.Bytes())
	tw.Flush()
	b := out.Bytes()
	b[156] = tar.TypeXHeader
	copy(b[148:156], "        ")
	sum := 0
	for _, c := range b[:512] {
		sum += int(c)
	}
	copy(b[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return b
}

// hostTree stands for a user's home: the staging dir sits inside a project
// inside it, so a "../../.." escape would land here.
func hostTree(t *testing.T) (home, dest string) {
	t.Helper()
	home = t.TempDir()
	dest = filepath.Join(home, "proj", ".staging")
	if err := os.MkdirAll(dest, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, ".bashrc"), []byte("original\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return home, dest
}

// hostile are crafted archives the extractor must refuse (corpus cases
// RT-10, RT-12, RT-13, RT-15, RT-52 of
// cmd/safe-install/testdata/corpus/README.md, as crafted tar streams);
// they also seed the fuzz corpus.
var hostile = []struct {
	name    string
	entries []entry
	reason  string
}{
	// RT-13: traversal and absolute names.
	{"dotdot", []entry{dir("node_modules/"), file("node_modules/../../.bashrc", "pwned")}, `".."`},
	{"deep dotdot", []entry{file("node_modules/evil/../../../../x", "x")}, `".."`},
	{"dotdot dir", []entry{dir("node_modules/evil/..")}, `".."`},
	{"absolute", []entry{file("/tmp/sicanary", "x")}, "absolute"},
	{"outside root", []entry{file("package.json", "{}")}, "outside node_modules"},
	{"pax path override", []entry{{name: "node_modules/a", typ: tar.TypeReg, mode: 0o644, body: "x", pax: map[string]string{"path": "node_modules/../../x"}}}, `".."`},
	{"long gnu name", []entry{file("node_modules/"+strings.Repeat("a/", 60)+"../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../../x", "x")}, `".."`},
	// RT-10: symlinks that leave the tree, then a file through them.
	{"symlink up", []entry{symlink("node_modules/evil/rc", "../../../.bashrc"), file("node_modules/evil/rc", "curl | sh")}, "leaves node_modules"},
	{"symlink absolute", []entry{symlink("node_modules/evil/abs", "/home/u/.ssh/authorized_keys")}, "leaves node_modules"},
	{"symlink climbs after descending", []entry{symlink("node_modules/a/up", ".."), symlink("node_modules/x", "a/up/../..")}, "climbs after descending"},
	{"write through symlink dir", []entry{symlink("node_modules/d", "e"), dir("node_modules/e/"), file("node_modules/d/f", "x")}, "not a directory"},
	{"root is a symlink", []entry{symlink("node_modules", "x")}, "not a directory"},
	{"replace file", []entry{file("node_modules/a", "1"), file("node_modules/a", "2")}, "replaces"},
	{"replace dir with symlink", []entry{dir("node_modules/a/"), symlink("node_modules/a", "b")}, "replaces"},
	// RT-12: hard links.
	{"hardlink outside", []entry{{name: "node_modules/evil/p", typ: tar.TypeLink, link: "../../../.ssh/authorized_keys"}}, "hard link"},
	{"hardlink absolute", []entry{{name: "node_modules/evil/p", typ: tar.TypeLink, link: "/etc/passwd"}}, "hard link"},
	{"hardlink to later", []entry{{name: "node_modules/evil/p", typ: tar.TypeLink, link: "node_modules/other/index.js"}}, "not an earlier file"},
	// RT-15: special files and modes.
	{"char device", []entry{{name: "node_modules/evil/null", typ: tar.TypeChar, mode: 0o666}}, "device"},
	{"block device", []entry{{name: "node_modules/evil/sda", typ: tar.TypeBlock, mode: 0o666}}, "device"},
	{"fifo", []entry{{name: "node_modules/evil/fifo", typ: tar.TypeFifo, mode: 0o644}}, "FIFO"},
	{"setuid", []entry{{name: "node_modules/evil/bin.sh", typ: tar.TypeReg, mode: 0o4755, body: "#!/bin/sh"}}, "setuid"},
	{"setgid", []entry{{name: "node_modules/evil/bin.sh", typ: tar.TypeReg, mode: 0o2755, body: "#!/bin/sh"}}, "setgid"},
	// RT-52: size bombs.
	{"escape in name", []entry{file("node_modules/evil/x\x1b]0;pwned\x07.txt", "x")}, "control character"},
	{"newline in name", []entry{file("node_modules/evil/line\nbreak", "x")}, "control character"},
	{"bidi in name", []entry{file("node_modules/evil/a\u202ejs.exe", "x")}, "bidi"},
	{"C1 in name", []entry{dir("node_modules/evil\u009b/")}, "control character"},
	{"invalid utf-8 name", []entry{file("node_modules/evil/\xff\xfe", "x")}, "UTF-8"},
	{"escape in link target", []entry{symlink("node_modules/evil/l", "x\x1b]52;c;eA==\x07")}, "symlink target"},
	{"sparse bomb", []entry{{name: "node_modules/evil/sparse", typ: tar.TypeReg, mode: 0o644, size: 1 << 40}}, "exceeds"},
}

func TestExtractRefusesHostileArchives(t *testing.T) {
	t.Parallel()
	tests := hostile
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			home, dest := hostTree(t)
			_, err := Extract(bytes.NewReader(craft(t, tt.entries...)), dest, "node_modules", DefaultLimits())
			var ae *RefusedError
			if !errors.As(err, &ae) {
				t.Fatalf("Extract = %v, want an *RefusedError", err)
			}
			if !strings.Contains(ae.Reason, tt.reason) && !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("refused for %q, want a reason containing %q", ae.Reason, tt.reason)
			}
			assertHomeUntouched(t, home, dest)
		})
	}
}

// assertHomeUntouched checks that nothing outside dest changed and nothing
// inside it is special.
func assertHomeUntouched(t *testing.T, home, dest string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(home, ".bashrc"))
	if err != nil || string(b) != "original\n" {
		t.Errorf(".bashrc = %q, %v; want it untouched", b, err)
	}
	err = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == home || p == filepath.Join(home, ".bashrc") || p == filepath.Join(home, "proj") || p == dest || strings.HasPrefix(p, dest+"/") {
			fi, _ := d.Info()
			if fi != nil && fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0 {
				t.Errorf("%s has mode %v", p, fi.Mode())
			}
			return nil
		}
		t.Errorf("extraction created %s outside its destination", p)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestExtractAcceptsNodeModules(t *testing.T) {
	t.Parallel()
	home, dest := hostTree(t)
	archive := craft(t,
		dir("node_modules/"),
		dir("./node_modules//left-pad/./"),
		file("node_modules/left-pad/package.json", `{"name":"left-pad","version":"1.3.0"}`),
		entry{name: "node_modules/left-pad/index.js", typ: tar.TypeReg, mode: 0o000, body: "module.exports=1"},
		entry{name: "node_modules/left-pad/cli.js", typ: tar.TypeReg, mode: 0o777, body: "#!/usr/bin/env node"},
		dir("node_modules/.bin/"),
		symlink("node_modules/.bin/left-pad", "../left-pad/cli.js"),
		symlink("node_modules/a/node_modules/b/up", "../../../left-pad"),
		entry{name: "node_modules/left-pad/copy.js", typ: tar.TypeLink, link: "node_modules/left-pad/index.js"},
	)
	stats, err := Extract(bytes.NewReader(archive), dest, "node_modules", DefaultLimits())
	if err != nil {
		t.Fatalf("Extract: %v", err)
	}
	if stats.Files != 3 || stats.Symlinks != 2 || stats.Hardlinks != 1 {
		t.Errorf("stats = %+v, want 3 files, 1 hard link written as a copy, 2 symlinks", stats)
	}
	modes := map[string]fs.FileMode{"left-pad/index.js": 0o644, "left-pad/cli.js": 0o755, "left-pad/copy.js": 0o644}
	for name, want := range modes {
		fi, err := os.Lstat(filepath.Join(dest, "node_modules", name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	orig, _ := os.Stat(filepath.Join(dest, "node_modules/left-pad/index.js"))
	cp, _ := os.Stat(filepath.Join(dest, "node_modules/left-pad/copy.js"))
	if os.SameFile(orig, cp) {
		t.Error("the hard link was recreated as a link; want an independent copy")
	}
	got, err := os.ReadFile(filepath.Join(dest, "node_modules/.bin/left-pad"))
	if err != nil || string(got) != "#!/usr/bin/env node" {
		t.Errorf("reading through .bin/left-pad = %q, %v", got, err)
	}
	assertHomeUntouched(t, home, dest)
}

// B9: npm links workspaces and file: directories into node_modules with
// symlinks that leave it; only the exact declared targets pass.
func TestExtractWorkspaceLinks(t *testing.T) {
	t.Parallel()
	opts := Options{Links: []string{"packages/a", "vendor/dep"}}
	ok := craft(t,
		dir("node_modules/"),
		symlink("node_modules/@me/a", "../../packages/a"),
		symlink("node_modules/dep", "../vendor/dep"),
	)
	_, dest := hostTree(t)
	if stats, err := ExtractWith(bytes.NewReader(ok), dest, "node_modules", DefaultLimits(), opts); err != nil || stats.Symlinks != 2 {
		t.Fatalf("ExtractWith(declared links) = %+v, %v", stats, err)
	}
	for name, links := range map[string][]entry{
		"another directory":      {symlink("node_modules/@me/a", "../../packages/b")},
		"inside a declared one":  {symlink("node_modules/x", "../packages/a/src")},
		"above a declared one":   {symlink("node_modules/x", "../packages")},
		"declared, then climbs":  {symlink("node_modules/x", "../packages/a/../../..")},
		"the project's home dir": {symlink("node_modules/x", "../..")},
	} {
		_, dest := hostTree(t)
		if _, err := ExtractWith(bytes.NewReader(craft(t, links...)), dest, "node_modules", DefaultLimits(), opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := Extract(bytes.NewReader(ok), t.TempDir(), "node_modules", DefaultLimits()); err == nil {
		t.Error("Extract without declared links accepted a workspace link")
	}
}

// A pnpm workspace package's node_modules is a nested root, named by the
// engine from its last element, whose links reach the root's virtual
// store (another artifact root) and the workspace packages themselves;
// nothing else outside it.
func TestExtractNestedRoot(t *testing.T) {
	t.Parallel()
	opts := Options{Links: []string{"packages/a"}, Trees: []string{"node_modules", "packages/b/node_modules"}}
	ok := craft(t,
		dir("node_modules/"),
		symlink("node_modules/a", "../../a"),
		symlink("node_modules/dep", "../../../node_modules/.pnpm/dep@1.0.0/node_modules/dep"),
		dir("node_modules/.bin/"),
		file("node_modules/.bin/dep", "#!/bin/sh\n"),
	)
	_, dest := hostTree(t)
	stats, err := ExtractWith(bytes.NewReader(ok), dest, "packages/b/node_modules", DefaultLimits(), opts)
	if err != nil || stats.Symlinks != 2 || stats.Files != 1 {
		t.Fatalf("ExtractWith(a workspace package's node_modules) = %+v, %v", stats, err)
	}
	if target, err := os.Readlink(filepath.Join(dest, "packages", "b", "node_modules", "a")); err != nil || target != "../../a" {
		t.Errorf("packages/b/node_modules/a -> %q, %v", target, err)
	}
	for name, entries := range map[string][]entry{
		"the project's root":       {dir("node_modules/"), symlink("node_modules/x", "../../..")},
		"a project file":           {dir("node_modules/"), symlink("node_modules/x", "../../../package.json")},
		"out of the project":       {dir("node_modules/"), symlink("node_modules/x", "../../../../.bashrc")},
		"another workspace's dir":  {dir("node_modules/"), symlink("node_modules/x", "../../c")},
		"another root's name":      {dir("packages/b/node_modules/")},
		"its own root, then climb": {dir("node_modules/"), symlink("node_modules/x", "../../../node_modules/../..")},
	} {
		_, dest := hostTree(t)
		var refused *RefusedError
		_, err := ExtractWith(bytes.NewReader(craft(t, entries...)), dest, "packages/b/node_modules", DefaultLimits(), opts)
		if !errors.As(err, &refused) {
			t.Errorf("%s: not refused (%v)", name, err)
		} else if !strings.HasPrefix(refused.Path, "packages/b/") {
			t.Errorf("%s: refused as %q, not by the project's name for it", name, refused.Path)
		}
	}
}

// Check sees every entry exactly once, of every kind, implicit parent
// directories included, and its answer refuses the entry.
func TestExtractChecksEveryEntry(t *testing.T) {
	t.Parallel()
	arch := craft(t,
		file("node_modules/a/lib/x.js", "x"), // parents implicit
		dir("node_modules/a/"),
		entry{name: "node_modules/a/cli.js", typ: tar.TypeReg, mode: 0o755, body: "#!"},
		symlink("node_modules/.bin/a", "../a/cli.js"),
		entry{name: "node_modules/a/copy.js", typ: tar.TypeLink, link: "node_modules/a/lib/x.js"},
	)
	seen := map[string]tree.Entry{}
	check := func(name string, e tree.Entry) string {
		if _, dup := seen[name]; dup {
			t.Errorf("%s checked twice", name)
		}
		seen[name] = e
		return ""
	}
	_, dest := hostTree(t)
	if _, err := ExtractWith(bytes.NewReader(arch), dest, "node_modules", DefaultLimits(), Options{Check: check}); err != nil {
		t.Fatal(err)
	}
	sum := func(s string) tree.Sum { return sha256.Sum256([]byte(s)) }
	want := tree.Tree{
		"node_modules": {Kind: tree.Dir}, "node_modules/a": {Kind: tree.Dir}, "node_modules/a/lib": {Kind: tree.Dir},
		"node_modules/a/lib/x.js": {Kind: tree.File, Sum: sum("x")}, "node_modules/a/cli.js": {Kind: tree.File, Exec: true, Sum: sum("#!")},
		"node_modules/.bin": {Kind: tree.Dir}, "node_modules/.bin/a": {Kind: tree.Symlink, Target: "../a/cli.js"},
		"node_modules/a/copy.js": {Kind: tree.File, Sum: sum("x")},
	}
	if !maps.Equal(seen, want) {
		t.Errorf("checked %v\nwant    %v", seen, want)
	}
	if got, err := Hash(bytes.NewReader(arch), "node_modules", DefaultLimits()); err != nil || !maps.Equal(got, want) {
		t.Errorf("Hash = %v, %v\nwant %v", got, err, want)
	}
	refuse := func(name string, e tree.Entry) string {
		if e.Kind == tree.Symlink {
			return "no links here"
		}
		return ""
	}
	_, dest = hostTree(t)
	_, err := ExtractWith(bytes.NewReader(arch), dest, "node_modules", DefaultLimits(), Options{Check: refuse})
	var re *RefusedError
	if !errors.As(err, &re) || re.Path != "node_modules/.bin/a" || re.Reason != "no links here" {
		t.Errorf("refusing links: %v", err)
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	lim := DefaultLimits()
	lim.MaxBytes = 10
	lim.MaxEntries = 3
	for _, tt := range []struct {
		name    string
		entries []entry
	}{
		{"total bytes", []entry{file("node_modules/a", "123456"), file("node_modules/b", "123456")}},
		{"entries", []entry{dir("node_modules/"), file("node_modules/a", "1"), file("node_modules/b", "2"), file("node_modules/c", "3")}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, dest := hostTree(t)
			_, err := Extract(bytes.NewReader(craft(t, tt.entries...)), dest, "node_modules", lim)
			var ae *RefusedError
			if !errors.As(err, &ae) || !strings.Contains(ae.Reason, "limit") {
				t.Fatalf("Extract = %v, want a limit refusal", err)
			}
		})
	}
}

// FuzzExtract feeds arbitrary bytes to the extractor: whatever it accepts or
// refuses, nothing may appear outside the destination, and every symlink it
// leaves must resolve inside node_modules.
var updateCorpus = flag.Bool("update-corpus", false, "write the hostile archives to testdata/fuzz/FuzzExtract")

// TestFuzzCorpus keeps the hostile archives in the fuzz corpus in testdata,
// so `go test -fuzz FuzzExtract` starts from every known attack.
func TestFuzzCorpus(t *testing.T) {
	dir := filepath.Join("testdata", "fuzz", "FuzzExtract")
	for _, h := range hostile {
		name := filepath.Join(dir, strings.ReplaceAll(h.name, " ", "-"))
		want := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", craft(t, h.entries...))
		if *updateCorpus {
			os.MkdirAll(dir, 0o755)
			os.WriteFile(name, []byte(want), 0o644)
		}
		got, err := os.ReadFile(name)
		if err != nil || string(got) != want {
			t.Errorf("corpus file %s is missing or stale (go test ./sandbox/archive -run FuzzCorpus -update-corpus): %v", name, err)
		}
	}
}

func FuzzExtract(f *testing.F) {
	f.Add(craft(f, dir("node_modules/"), file("node_modules/a/package.json", "{}"), symlink("node_modules/.bin/a", "../a/x")))
	f.Add(craft(f, symlink("node_modules/evil/rc", "../../../.bashrc"), file("node_modules/evil/rc", "x")))
	f.Add(craft(f, symlink("node_modules/a/up", ".."), symlink("node_modules/x", "a/up/../..")))
	f.Add(craft(f, entry{name: "node_modules/p", typ: tar.TypeLink, link: "node_modules/../x"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		home, dest := hostTree(t)
		_, _ = Extract(bytes.NewReader(data), dest, "node_modules", Limits{MaxBytes: 1 << 20, MaxFileBytes: 1 << 20, MaxEntries: 1000, MaxNameLen: 4096})
		assertHomeUntouched(t, home, dest)
		root := filepath.Join(dest, "node_modules")
		_ = filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if problem := escape.Problem(d.Name()); problem != "" {
				t.Errorf("%q on the host: %s", p, problem)
			}
			if d.Type()&fs.ModeSymlink == 0 {
				return nil
			}
			real, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // dangling or looping: harmless, it points nowhere
			}
			if real != root && !strings.HasPrefix(real, root+"/") {
				t.Errorf("symlink %s resolves to %s, outside %s", p, real, root)
			}
			return nil
		})
	})
}

// Keep passes over what it says no to: never written, never checked, so a
// refused entry outside what is kept does not stop the extraction.
func TestExtractKeeps(t *testing.T) {
	t.Parallel()
	arch := craft(t,
		dir("node_modules/"),
		file("node_modules/a/index.js", "a"),
		symlink("node_modules/b/evil", "/etc/passwd"),
		file("node_modules/c/index.js", "c"),
	)
	var checked []string
	opts := Options{
		Check: func(name string, _ tree.Entry) string { checked = append(checked, name); return "" },
		Keep:  func(name string) bool { return name == "node_modules" || strings.HasPrefix(name, "node_modules/a") },
	}
	_, dest := hostTree(t)
	if _, err := ExtractWith(bytes.NewReader(arch), dest, "node_modules", DefaultLimits(), opts); err != nil {
		t.Fatal(err)
	}
	if want := []string{"node_modules", "node_modules/a", "node_modules/a/index.js"}; !slices.Equal(checked, want) {
		t.Errorf("checked %v, want %v", checked, want)
	}
	for _, gone := range []string{"node_modules/b", "node_modules/c"} {
		if _, err := os.Lstat(filepath.Join(dest, gone)); err == nil {
			t.Errorf("%s was written", gone)
		}
	}
}
