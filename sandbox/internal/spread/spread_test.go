package spread

import (
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The staging directory carries the top-directory hint where the
// filesystem has it, the directory the tree goes into has a fresh random
// name each time and no hint (so the tree delivered has none either).
func TestMakeSpreadDir(t *testing.T) {
	parent := t.TempDir()
	outer, inner, err := MakeDir(parent, ".safe-install-")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(outer) != parent || filepath.Dir(inner) != outer {
		t.Fatalf("outer %s, inner %s: want parent/outer/inner", outer, inner)
	}
	_, inner2, err := MakeDir(parent, ".safe-install-")
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(inner) == filepath.Base(inner2) {
		t.Errorf("two staging directories share the inner name %s", filepath.Base(inner))
	}
	if fi, err := os.Stat(inner); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("inner directory: %v, %v (want 0700)", fi, err)
	}
	flags := func(dir string) (uint32, bool) {
		fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer unix.Close(fd)
		f, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
		return f, err == nil
	}
	if f, ok := flags(outer); !ok {
		t.Logf("%s has no inode flags (not ext2/3/4): only the layout is checked", parent)
	} else {
		if f&fsTopdirFlag == 0 {
			t.Errorf("outer flags %#x: no FS_TOPDIR_FL", f)
		}
		if f, _ := flags(inner); f&fsTopdirFlag != 0 {
			t.Errorf("inner flags %#x: FS_TOPDIR_FL would follow the tree into the project", f)
		}
	}
}

// Remove removes the whole tree, links and all, and nothing a link
// points at.
func TestRemoveSpread(t *testing.T) {
	parent := t.TempDir()
	outside := filepath.Join(parent, "outside")
	if err := os.MkdirAll(outside, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(outside, "keep"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	outer, inner, err := MakeDir(parent, ".safe-install-")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"node_modules/a/lib", "node_modules/b", "node_modules/@s/c/node_modules/d"} {
		if err := os.MkdirAll(filepath.Join(inner, p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(inner, p, "f.js"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(inner, "package-lock.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(inner, "node_modules", "link")); err != nil {
		t.Fatal(err)
	}
	if err := Remove(outer); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(outer); !os.IsNotExist(err) {
		t.Errorf("%s is still there: %v", outer, err)
	}
	if _, err := os.Stat(filepath.Join(outside, "keep")); err != nil {
		t.Errorf("a file the link pointed at went too: %v", err)
	}
}
