package sandbox

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
