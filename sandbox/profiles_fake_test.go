package sandbox_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/enginetest"
	"github.com/safe-install/safe-install/seccomp"
)

// profileVolume is the seccomp profiles' volume the engine holds.
func profileVolume(t *testing.T, e *enginetest.Engine) *enginetest.FS {
	t.Helper()
	for _, o := range e.Objects() {
		if name, ok := strings.CutPrefix(o, "volume "); ok && strings.HasPrefix(name, "safe-install-cache-seccomp-") {
			return e.Volume(name)
		}
	}
	t.Fatalf("no seccomp profiles' volume among %v", e.Objects())
	return nil
}

// profileWrites counts the copies into the profiles' volume.
func profileWrites(e *enginetest.Engine) int {
	return len(slices.DeleteFunc(e.Calls(), func(c string) bool {
		return !strings.HasPrefix(c, "CopyIn ") || !strings.HasSuffix(c, "-seccomp:/seccomp")
	}))
}

// A run killed while it copied the profiles into their lasting volume
// leaves some of them, or part of one; the engine would load that as the
// profile of every later container. The next run finds the volume not
// whole and writes it again; a whole one it leaves alone.
func TestHalfWrittenProfileVolumeIsRewritten(t *testing.T) {
	w := npmWorld(t, "ci", nil)
	e := w.engine()
	if _, err := w.run(context.Background(), t, e); err != nil {
		t.Fatal(err)
	}
	if n := profileWrites(e); n != 1 {
		t.Fatalf("the first run copied the profiles %d times, want 1", n)
	}
	if _, err := w.run(context.Background(), t, e); err != nil {
		t.Fatal(err)
	}
	if n := profileWrites(e); n != 1 {
		t.Errorf("a run that found the profiles whole copied them again (%d copies in all)", n)
	}

	vol := profileVolume(t, e)
	phases := seccomp.Phases()
	cut := vol.Get(string(phases[0]) + ".json")
	if cut == nil {
		t.Fatalf("the volume holds %v", vol.Files())
	}
	cut.Data = cut.Data[:len(cut.Data)/2] // killed in the middle of it
	if _, err := w.run(context.Background(), t, e); err != nil {
		t.Fatal(err)
	}
	if n := profileWrites(e); n != 2 {
		t.Fatalf("the run after the half-written volume copied the profiles %d times in all, want 2", n)
	}
	for _, ph := range phases {
		want, err := seccomp.JSON(seccomp.Profile(ph))
		if err != nil {
			t.Fatal(err)
		}
		if f := vol.Get(string(ph) + ".json"); f == nil || !bytes.Equal(f.Data, want) {
			t.Errorf("%s.json is not this build's profile after the rewrite", ph)
		}
	}
}
