package sandbox

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/internal/owner"
)

func TestJudgeLeftovers(t *testing.T) {
	t.Parallel()
	me := owner.This()
	if me.Start == "" || me.Boot == "" {
		t.Fatalf("this process's identity %+v", me)
	}
	now := time.Now()
	max := runBound(DefaultLimits())
	gone := me
	gone.PID = 1 << 22 // beyond pid_max's default: no such process
	reused := me
	reused.Start = "1" // this pid, but started at boot: another process
	rebooted := me
	rebooted.Boot = "another-boot"
	elsewhere := me
	elsewhere.Host = "buildbox"
	for _, c := range []struct {
		name   string
		l      engine.Leftover
		reaped string // a word of why, or ""
	}{
		{"this run's", engine.Leftover{Name: "x", Labels: map[string]string{labelClient: me.String()}, Created: now}, ""},
		{"client gone", engine.Leftover{Name: "x", Labels: map[string]string{labelClient: gone.String()}, Created: now}, "gone"},
		{"pid reused", engine.Leftover{Name: "x", Labels: map[string]string{labelClient: reused.String()}, Created: now}, "gone"},
		{"rebooted", engine.Leftover{Name: "x", Labels: map[string]string{labelClient: rebooted.String()}, Created: now}, "booted"},
		{"another machine's, young", engine.Leftover{Name: "x", Labels: map[string]string{labelClient: elsewhere.String()}, Created: now.Add(-time.Hour)}, ""},
		{"another machine's, old", engine.Leftover{Name: "x", Labels: map[string]string{labelClient: elsewhere.String()}, Created: now.Add(-max - time.Hour)}, "older"},
		{"no client, young", engine.Leftover{Name: "x", Labels: map[string]string{labelRun: "true"}, Created: now}, ""},
		{"no client, old", engine.Leftover{Name: "x", Labels: map[string]string{labelRun: "true"}, Created: now.Add(-max - time.Hour)}, "older"},
		{"cache", engine.Leftover{Name: "safe-install-cache-npm", Labels: map[string]string{labelClient: gone.String()}, Created: now.Add(-100 * time.Hour)}, ""},
		{"cache by label", engine.Leftover{Name: "c", Labels: map[string]string{labelCache: "npm", labelClient: gone.String()}}, ""},
	} {
		for _, withKept := range []bool{false, true} {
			if got := judge(c.l, me, max, now, withKept); (got == "") != (c.reaped == "") || !strings.Contains(got, c.reaped) {
				t.Errorf("%s: judge = %q, want %q", c.name, got, c.reaped)
			}
		}
	}
	// What --keep left stays, whoever made it and however old, until the
	// user cleans.
	kept := engine.Leftover{Name: "k", Labels: map[string]string{labelClient: gone.String(), labelKept: "true"}, Created: now.Add(-max - time.Hour)}
	if got := judge(kept, me, max, now, false); got != "" {
		t.Errorf("a run would reap what --keep left: %q", got)
	}
	if got := judge(kept, me, max, now, true); !strings.Contains(got, "--keep") {
		t.Errorf("clean would leave what --keep left: %q", got)
	}
	if runLabels("r", true)[labelKept] == "" || runLabels("r", false)[labelKept] != "" {
		t.Error("runLabels does not mark a --keep run's objects")
	}
	if owner.ProcessStart(os.Getpid()) != me.Start {
		t.Error("processStart is not stable")
	}
}

// A changed ID mapping gets a cache volume of its own; the same mapping
// keeps its cache.
func TestCacheNamePerIDMapping(t *testing.T) {
	a, b := "0:1006:1 1:427680:65536 / 0:1006:1 1:427680:65536", "0:1006:1 1:900000:65536 / 0:1006:1 1:900000:65536"
	if cacheName("npm", a) != cacheName("npm", a) {
		t.Error("the same mapping gave two cache names")
	}
	if cacheName("npm", a) == cacheName("npm", b) {
		t.Error("two mappings share a cache volume")
	}
}

// racingReaper fails every removal; what another removal took meanwhile
// (gone) is no longer listed.
type racingReaper struct{ gone map[string]bool }

func (r racingReaper) Leftovers(context.Context) ([]engine.Leftover, error) {
	var out []engine.Leftover
	for _, l := range []engine.Leftover{{Kind: "container", Name: "c1"}, {Kind: "container", Name: "c2"}, {Kind: "volume", Name: "c1"}} {
		if !r.gone[l.Kind+" "+l.Name] {
			out = append(out, l)
		}
	}
	return out, nil
}

func (r racingReaper) Remove(context.Context, string) error {
	return errors.New("no such container")
}

func (r racingReaper) RemoveVolume(context.Context, string) error { return errors.New("volume in use") }

// A killed run's clean-up, which the engine carries on, may remove a
// container while `safe-install clean` removes it too (Podman: "does not
// exist in database: no such container"): it is gone all the same, and
// only what is still there counts as not removed.
func TestReapCountsWhatIsGone(t *testing.T) {
	t.Parallel()
	eng := racingReaper{gone: map[string]bool{"container c1": true}}
	left, _ := eng.Leftovers(context.Background())
	left = append(left, engine.Leftover{Kind: "container", Name: "c1"})
	errs := Reap(context.Background(), eng, left)
	var got []string
	for _, err := range errs {
		got = append(got, err.Error())
	}
	want := []string{"removing container c2: no such container", "removing volume c1: volume in use"}
	if !slices.Equal(got, want) {
		t.Errorf("Reap = %q, want %q", got, want)
	}
}
