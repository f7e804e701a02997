package archive

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// What Keep passes over is still read, so the limits hold for it too: a
// script can fill the tree outside the kept entries with sparse files (no
// disk used, each under the scripts' fsize limit, so the engine's archive
// endpoint streams their full size in zeros), and an extraction that read
// past them unbounded would read as long as the script liked. The same
// entries kept are refused (the control).
func TestExtractKeepReadsPastWithinLimits(t *testing.T) {
	t.Parallel()
	lim := DefaultLimits()
	lim.MaxBytes, lim.MaxFileBytes = 1<<20, 256<<10
	zeros := strings.Repeat("\x00", 256<<10)
	many := []entry{dir("node_modules/"), file("node_modules/a/index.js", "a")}
	for i := range 8 {
		many = append(many, file(fmt.Sprintf("node_modules/b/sparse%d", i), zeros))
	}
	huge := []entry{dir("node_modules/"), file("node_modules/a/index.js", "a"), {name: "node_modules/b/sparse", typ: tar.TypeReg, mode: 0o644, size: 1 << 40}}
	keepA := func(name string) bool { return name == "node_modules" || strings.HasPrefix(name, "node_modules/a") }
	for _, c := range []struct {
		name    string
		entries []entry
	}{{"many files past the byte limit", many}, {"one file past the file limit", huge}} {
		t.Run(c.name, func(t *testing.T) {
			for _, keep := range []func(string) bool{nil, keepA} {
				_, dest := hostTree(t)
				_, err := ExtractWith(bytes.NewReader(craft(t, c.entries...)), dest, "node_modules", lim, Options{Keep: keep})
				var refused *RefusedError
				if !errors.As(err, &refused) || !strings.Contains(refused.Reason, "resource limit") {
					t.Errorf("keep %v: got %v, want a refusal at the limit", keep != nil, err)
				}
			}
		})
	}
}

// A file's time from the archive is kept, but never later than the
// extraction: the engine's tar rounds times to the nearest second (a file
// a script wrote at 10.6 s reads 11 s), and a file dated ahead of the
// clock would be newer than npm's record of the tree written just after
// it, which npm, and the incremental trust check, then distrust.
func TestExtractNoFileFromTheFuture(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	past := time.Now().Add(-time.Hour).Truncate(time.Second)
	for name, mtime := range map[string]time.Time{"node_modules/a/past.js": past, "node_modules/a/ahead.js": time.Now().Add(time.Hour)} {
		must(t, tw.WriteHeader(&tar.Header{Name: name, Typeflag: tar.TypeReg, Mode: 0o644, Size: 1, ModTime: mtime}))
		_, err := tw.Write([]byte("x"))
		must(t, err)
	}
	must(t, tw.Close())
	_, dest := hostTree(t)
	if _, err := ExtractWith(&buf, dest, "node_modules", DefaultLimits(), Options{}); err != nil {
		t.Fatal(err)
	}
	done := time.Now()
	for name, want := range map[string]func(time.Time) bool{
		"node_modules/a/past.js":  func(m time.Time) bool { return m.Equal(past) },
		"node_modules/a/ahead.js": func(m time.Time) bool { return !m.After(done) },
	} {
		fi, err := os.Lstat(filepath.Join(dest, name))
		must(t, err)
		if !want(fi.ModTime()) {
			t.Errorf("%s is dated %v (extraction done at %v)", name, fi.ModTime(), done)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
