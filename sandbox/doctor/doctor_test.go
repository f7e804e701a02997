package doctor

import (
	"os"
	"path/filepath"
	"testing"
)

func TestHasRange(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "subuid")
	if err := os.WriteFile(f, []byte("alice:100000:65536\n1002:165536:65536\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, uid string
		want      bool
	}{{"alice", "1001", true}, {"bob", "1002", true}, {"carol", "1003", false}} {
		if got := hasRange(f, tt.name, tt.uid); got != tt.want {
			t.Errorf("hasRange(%s, %s) = %v", tt.name, tt.uid, got)
		}
	}
	if hasRange(filepath.Join(t.TempDir(), "missing"), "alice", "1001") {
		t.Error("a missing file has ranges")
	}
}

// The range doctor proposes overlaps none that another user holds.
func TestFreeRange(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	sub := filepath.Join(dir, "subuid")
	gid := filepath.Join(dir, "subgid")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.WriteFile(sub, []byte("safeinstall:100000:65536\nother:165536:65536\n"), 0o644))
	must(os.WriteFile(gid, []byte("safeinstall:100000:65536\nthird:300000:65536\n"), 0o644))
	if got := freeRange([]string{sub, gid}, 100000, 65536); got != 231072 {
		t.Errorf("freeRange = %d, want 231072 (after other's, before third's)", got)
	}
	must(os.WriteFile(gid, []byte("third:240000:65536\n"), 0o644))
	if got := freeRange([]string{sub, gid}, 100000, 65536); got != 305536 {
		t.Errorf("freeRange = %d, want 305536 (third's range is in the gap)", got)
	}
	if got := freeRange([]string{filepath.Join(dir, "none")}, 100000, 65536); got != 100000 {
		t.Errorf("freeRange with no files = %d", got)
	}
}
