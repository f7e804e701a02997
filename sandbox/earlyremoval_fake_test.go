package sandbox_test

import (
	"context"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/enginetest"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
)

const (
	removeFetch    = "Remove safe-install-RUN-fetch"
	fetchArtifacts = "CopyOut safe-install-RUN-fetch:/work/node_modules"
)

// ignoreScripts is npmWorld's project installed with npm ci
// --ignore-scripts: no scripts container follows the fetch.
func ignoreScripts(t *testing.T) *world {
	w := npmWorld(t, "ci", nil)
	home := t.TempDir()
	w.plan = func(t *testing.T) *install.Plan {
		p, err := npm.Manager{}.Plan(w.project, []string{"ci", "--ignore-scripts"}, install.PlanOptions{Home: home, Env: map[string]string{}, NPMVersion: "11.6.2", Warn: func(string) {}})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	return w
}

// index is where call first appears in calls at or after from (-1: not).
func index(calls []string, call string, from int) int {
	if i := slices.Index(calls[from:], call); i >= 0 {
		return from + i
	}
	return -1
}

// The fetch container's early removal (0d8d8b8, artifactsFrom): with no
// scripts container to follow and a local engine, the fetch container is
// removed once the fetch is read (the manifests, the session's read of
// the fetched state), while the artifacts come out of the holder, and
// removeObjects tries again what that removal left before the volumes go.
// With a scripts container to follow, with a remote engine, or with
// --keep, it stays until the end and the artifacts come from where they
// did. Mutants tried by hand, each failing a case: no early removal; no
// retry of what it left; the retry after the volumes; the early removal
// with a remote engine too (the artifacts then read from the holder).
func TestEarlyRemovalOfTheFetchContainer(t *testing.T) {
	t.Parallel()
	do := func(t *testing.T, w *world, local bool, keep bool, prepare func(*enginetest.Engine)) []string {
		t.Helper()
		e := w.engine()
		if local {
			e.Local(t.TempDir())
		}
		if prepare != nil {
			prepare(e)
		}
		before := w.state(t)
		_, err := sandbox.Run(context.Background(), e, w.plan(t), sandbox.Options{Image: "fake-image", Limits: sandbox.DefaultLimits(), Progress: io.Discard, CacheDir: t.TempDir(), Keep: keep})
		if err != nil {
			t.Fatalf("the run failed: %v\n%s", err, strings.Join(e.Calls(), "\n"))
		}
		if maps.Equal(before, w.state(t)) {
			t.Fatal("the run changed nothing in the project")
		}
		if !keep {
			assertNothingLeft(t, e)
		}
		return e.Calls()
	}

	t.Run("no scripts, a local engine: removed early", func(t *testing.T) {
		t.Parallel()
		// While the artifacts are read out of the holder, the fetch
		// container's removal comes: it does not wait for the end.
		var sawEarly bool
		c := do(t, ignoreScripts(t), true, false, func(e *enginetest.Engine) {
			e.OnCall(func(call string, _ int) {
				if call != "CopyOut safe-install-RUN-work-holder:/work/node_modules" {
					return
				}
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && !sawEarly; time.Sleep(time.Millisecond) {
					sawEarly = slices.Contains(e.Calls(), removeFetch)
				}
			})
		})
		rm := index(c, removeFetch, 0)
		if !sawEarly || rm < 0 {
			t.Fatalf("the fetch container was not removed while the artifacts were read:\n%s", strings.Join(c, "\n"))
		}
		if index(c, "CopyOut safe-install-RUN-work-holder:/work/node_modules", 0) < 0 || index(c, fetchArtifacts, 0) >= 0 {
			t.Errorf("the artifacts did not come from the holder alone:\n%s", strings.Join(c, "\n"))
		}
		if slices.ContainsFunc(c[rm+1:], func(s string) bool {
			return strings.HasSuffix(s, "safe-install-RUN-fetch") || strings.Contains(s, "safe-install-RUN-fetch:")
		}) {
			t.Errorf("the fetch container was read after its removal:\n%s", strings.Join(c, "\n"))
		}
		if rm > index(c, "Remove safe-install-RUN-work-holder", 0) || rm > index(c, "RemoveVolume safe-install-RUN-work", 0) {
			t.Errorf("the fetch container went after the holder or the work volume:\n%s", strings.Join(c, "\n"))
		}
		if n := strings.Count(strings.Join(c, "\n"), removeFetch+"\n"); n != 1 {
			t.Errorf("the fetch container was removed %d times", n)
		}
	})

	t.Run("no scripts, a local engine, the early removal fails: again before the volumes", func(t *testing.T) {
		t.Parallel()
		c := do(t, ignoreScripts(t), true, false, func(e *enginetest.Engine) { e.FailOn(removeFetch, 1) })
		first := index(c, removeFetch, 0)
		again := index(c, removeFetch, first+1)
		vol := slices.IndexFunc(c, func(s string) bool { return strings.HasPrefix(s, "RemoveVolume safe-install-RUN-") })
		if first < 0 || again < 0 || vol < 0 || again > vol {
			t.Fatalf("the failed early removal (at %d) was not tried again (at %d) before the volumes (from %d):\n%s", first, again, vol, strings.Join(c, "\n"))
		}
	})

	for _, tc := range []struct {
		name  string
		w     func(*testing.T) *world
		local bool
		from  string // the artifacts' read
	}{
		{"scripts to follow, a local engine", func(t *testing.T) *world { return npmWorld(t, "ci", nil) }, true, "CopyOut safe-install-RUN-scripts-project:/work/node_modules"},
		{"no scripts, a remote engine", ignoreScripts, false, fetchArtifacts},
	} {
		t.Run(tc.name+": not removed early", func(t *testing.T) {
			t.Parallel()
			c := do(t, tc.w(t), tc.local, false, nil)
			from, rm := index(c, tc.from, 0), index(c, removeFetch, 0)
			if from < 0 || rm < from {
				t.Errorf("the artifacts' read (%s, at %d) is not before the fetch container's removal (at %d):\n%s", tc.from, from, rm, strings.Join(c, "\n"))
			}
			if holder := index(c, "Remove safe-install-RUN-work-holder", 0); holder < 0 || rm < 0 {
				t.Errorf("the containers were not removed at the end:\n%s", strings.Join(c, "\n"))
			}
		})
	}

	t.Run("no scripts, a local engine, --keep: kept", func(t *testing.T) {
		t.Parallel()
		c := do(t, ignoreScripts(t), true, true, nil)
		if slices.Contains(c, removeFetch) || index(c, fetchArtifacts, 0) < 0 {
			t.Errorf("with --keep the fetch container went, or the artifacts did not come from it:\n%s", strings.Join(c, "\n"))
		}
	})
}
