package staging

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// Two runs in one project: the second waits, told once, until the first
// lets go, also when it names the project by another path (a symlink);
// a run in another project does not wait; a wait ends with its context.
func TestLockSerializesRunsInOneProject(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	base := t.TempDir()
	proj, other := filepath.Join(base, "proj"), filepath.Join(base, "other")
	must(t, os.Mkdir(proj, 0o755))
	must(t, os.Mkdir(other, 0o755))
	must(t, os.Symlink(proj, filepath.Join(base, "alias")))
	unlock, err := Lock(context.Background(), proj, func() { t.Error("the first run was told to wait") })
	must(t, err)

	// Another project: no wait.
	u, err := Lock(context.Background(), other, func() { t.Error("a run in another project waited") })
	must(t, err)
	u()

	var told atomic.Int32
	got := make(chan func(), 1)
	go func() {
		u, err := Lock(context.Background(), filepath.Join(base, "alias"), func() { told.Add(1) })
		if err != nil {
			t.Error(err)
		}
		got <- u
	}()
	select {
	case <-got:
		t.Fatal("ATTACK WORKS: a second run in the project went on while the first held it")
	case <-time.After(300 * time.Millisecond):
	}
	if told.Load() != 1 {
		t.Errorf("the waiting run was told %d times, want once", told.Load())
	}
	unlock()
	select {
	case u := <-got:
		u()
	case <-time.After(5 * time.Second):
		t.Fatal("the second run did not get the lock after the first let go")
	}

	// A wait ends with its context (Ctrl-C).
	unlock, err = Lock(context.Background(), proj, nil)
	must(t, err)
	defer unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Lock(ctx, proj, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a wait past its context: %v", err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// What the lock adds to a run that finds it free: a stat, the lock
// directory's MkdirAll, an open and an flock, and the close.
func BenchmarkLock(b *testing.B) {
	b.Setenv("XDG_RUNTIME_DIR", b.TempDir())
	proj := b.TempDir()
	for b.Loop() {
		unlock, err := Lock(context.Background(), proj, nil)
		if err != nil {
			b.Fatal(err)
		}
		unlock()
	}
}
