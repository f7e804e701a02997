package sandbox

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/internal/owner"
)

// Labels every container and volume of a run carries (invariant 13:
// nothing outlives a run): which run, which client made it, and when. A
// killed run cannot remove its own objects; the next run, `safe-install
// clean` and doctor find them by these.
const (
	labelRun    = engine.LabelRun          // the run id
	labelClient = "io.safe-install.client" // host/boot id/pid/process start time
	labelCache  = "io.safe-install.cache"  // a cache volume: kept across runs, never reaped
	labelKept   = "io.safe-install.kept"   // --keep: left for inspection, removed only by clean
)

// runLabels are the labels of this run's objects; kept marks a --keep
// run's, which the user inspects and `safe-install clean` removes.
func runLabels(runID string, kept bool) map[string]string {
	l := map[string]string{labelRun: runID, labelClient: owner.This().String()}
	if kept {
		l[labelKept] = "true"
	}
	return l
}

// reapGrace spares the objects of a client on another host, whose
// liveness this machine cannot see, until they are older than any run can
// be, with this much room.
const reapGrace = 10 * time.Minute

// judge says why a leftover should be reaped, or "" to keep it: a cache
// volume never; what a --keep run left only when the user cleans
// (withKept), whatever its age, since the user may still be reading it; an object whose client was this machine's and whose
// process is gone (or is another process now, or the machine rebooted); any
// object older than the longest run (the only test for another machine's,
// or one made before clients were recorded).
func judge(l engine.Leftover, me owner.Client, maxAge time.Duration, now time.Time, withKept bool) string {
	if l.Labels[labelCache] != "" || strings.HasPrefix(l.Name, "safe-install-cache-") {
		return ""
	}
	if l.Labels[labelKept] != "" {
		if withKept {
			return "kept for inspection by --keep"
		}
		return ""
	}
	if age := now.Sub(l.Created); !l.Created.IsZero() && age > maxAge+reapGrace {
		return fmt.Sprintf("older than any run can be (%s)", age.Round(time.Minute))
	}
	c, ok := owner.Parse(l.Labels[labelClient])
	if !ok {
		return "" // no client recorded: its age decides
	}
	return c.Gone(me) // "" for a live one, or another machine's: its age decides
}

// Reaper lists and removes what runs left behind.
type Reaper interface {
	// Leftovers lists every container and volume that carries labelRun.
	Leftovers(ctx context.Context) ([]engine.Leftover, error)
	Remove(ctx context.Context, id string) error
	RemoveVolume(ctx context.Context, name string) error
}

// FindLeftovers lists what earlier runs left and should go, with why;
// withKept (`safe-install clean`) includes what --keep runs left.
func FindLeftovers(ctx context.Context, eng Reaper, lim Limits, withKept bool) ([]engine.Leftover, error) {
	all, err := eng.Leftovers(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: listing what earlier runs left: %w", ErrEngine, err)
	}
	me, now := owner.This(), time.Now()
	var out []engine.Leftover
	for _, l := range all {
		if l.Why = judge(l, me, runBound(lim), now, withKept); l.Why != "" {
			out = append(out, l)
		}
	}
	return out, nil
}

// Reap removes the leftovers, containers first (a volume in use cannot
// go), and returns what it could not remove. One that another removal
// took meanwhile (a killed run's clean-up, which the engine carries on:
// Podman then fails this one with "no such container") is gone all the
// same: what is still listed afterwards is what failed.
func Reap(ctx context.Context, eng Reaper, leftovers []engine.Leftover) []error {
	failed := map[string]error{}
	var order []string
	for _, kind := range []string{"container", "volume"} {
		for _, l := range leftovers {
			if l.Kind != kind {
				continue
			}
			var err error
			if kind == "container" {
				err = eng.Remove(ctx, l.Name)
			} else {
				err = eng.RemoveVolume(ctx, l.Name)
			}
			if err != nil {
				failed[kind+" "+l.Name] = fmt.Errorf("removing %s %s: %w", kind, l.Name, err)
				order = append(order, kind+" "+l.Name)
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if all, err := eng.Leftovers(ctx); err == nil {
		listed := map[string]bool{}
		for _, l := range all {
			listed[l.Kind+" "+l.Name] = true
		}
		order = slices.DeleteFunc(order, func(name string) bool { return !listed[name] })
	}
	var errs []error
	for _, name := range order {
		errs = append(errs, failed[name])
	}
	return errs
}

// reapLeftovers removes, at the start of a run, what earlier runs left
// behind, and says so.
func (r *runner) reapLeftovers(ctx context.Context) {
	left, err := FindLeftovers(ctx, r.eng, r.opts.Limits, false)
	if err != nil {
		r.log.Warn("looking for what earlier runs left", zap.Error(err))
		return
	}
	if len(left) == 0 {
		return
	}
	errs := Reap(ctx, r.eng, left)
	r.progress("removed %s that earlier runs left behind (%s)", fmt.Sprintf("%d containers and volumes", len(left)-len(errs)), left[0].Why)
	for _, err := range errs {
		r.log.Warn("removing a leftover", zap.Error(err))
	}
}
