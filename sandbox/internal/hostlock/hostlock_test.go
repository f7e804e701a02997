package hostlock

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A second Lock of the same name waits for the first one's unlock, and the
// lock lives in a directory only this user can enter.
func TestLockSerializesAndIsPrivate(t *testing.T) {
	rt := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", rt)
	unlock, err := Lock(context.Background(), "x")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, "x"); err == nil {
		t.Fatal("a second Lock got the lock the first one holds")
	}
	unlock()
	unlock2, err := Lock(context.Background(), "x")
	if err != nil {
		t.Fatalf("after the unlock: %v", err)
	}
	unlock2()
	fi, err := os.Stat(filepath.Join(rt, "safe-install"))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("lock directory %v, %v; want mode 0700", fi, err)
	}
}

// With no runtime directory the locks go to the user's cache directory,
// never the shared /tmp.
func TestLockWithoutRuntimeDirUsesTheCacheDir(t *testing.T) {
	cache := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("XDG_CACHE_HOME", cache)
	unlock, err := Lock(context.Background(), "y")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if _, err := os.Stat(filepath.Join(cache, "safe-install", "y.lock")); err != nil {
		t.Fatal(err)
	}
}
