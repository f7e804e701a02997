package sandbox_test

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/install"
)

func holderStarted(call string) bool {
	return strings.HasPrefix(call, "Start ") && strings.HasSuffix(call, "-holder")
}

// RunPlanned makes what needs no plan (the volumes, the holder) while
// the plan is made, and a plan that fails then leaves nothing behind and
// the project as it was; a plan that succeeds runs as Run does.
func TestRunPlannedPreparesWhileThePlanIsMade(t *testing.T) {
	t.Parallel()
	w := npmWorld(t, "install", nil)
	for _, fail := range []bool{false, true} {
		before := w.state(t)
		e := w.engine()
		// The plan waits for the holder to start: a preparation that
		// waited for the plan would never start it.
		var atPlan []string
		plan := func() (*install.Plan, error) {
			for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(time.Millisecond) {
				if atPlan = e.Calls(); slices.ContainsFunc(atPlan, holderStarted) {
					break
				}
			}
			if fail {
				return nil, errors.New("the plan failed")
			}
			return w.plan(t), nil
		}
		_, err := sandbox.RunPlanned(context.Background(), e, "npm", plan, sandbox.Options{Image: "fake-image", Limits: sandbox.DefaultLimits(), Progress: io.Discard, CacheDir: t.TempDir()})
		if !slices.ContainsFunc(atPlan, holderStarted) {
			t.Errorf("the holder did not start while the plan was made: %v", atPlan)
		}
		if fail {
			if err == nil || err.Error() != "the plan failed" {
				t.Errorf("the run with a failed plan = %v, want the plan's error", err)
			}
			if !maps.Equal(before, w.state(t)) {
				t.Error("the run with a failed plan changed the project")
			}
		} else if err != nil || maps.Equal(before, w.state(t)) {
			t.Fatalf("the control: the run with a plan failed (%v) or changed nothing", err)
		}
		assertNothingLeft(t, e)
	}
}

// A plan that fails makes no run: with --keep too, nothing it made for
// the plan's run is kept (a running holder no later run reaps), as
// before RunPlanned, when a failed plan never reached the engine. The
// control: a run whose plan succeeded keeps its objects.
func TestRunPlannedFailedPlanKeepsNothing(t *testing.T) {
	t.Parallel()
	w := npmWorld(t, "install", nil)
	opts := sandbox.Options{Image: "fake-image", Limits: sandbox.DefaultLimits(), Progress: io.Discard, CacheDir: t.TempDir(), Keep: true}
	e := w.engine()
	res, err := sandbox.RunPlanned(context.Background(), e, "npm", func() (*install.Plan, error) { return nil, errors.New("the plan failed") }, opts)
	if err == nil || err.Error() != "the plan failed" {
		t.Fatalf("the run with a failed plan = %v, want the plan's error", err)
	}
	if res != nil && len(res.Kept) > 0 {
		t.Errorf("a failed plan with --keep kept %v", res.Kept)
	}
	assertNothingLeft(t, e)

	res, err = sandbox.RunPlanned(context.Background(), w.engine(), "npm", func() (*install.Plan, error) { return w.plan(t), nil }, opts)
	if err != nil || res == nil || len(res.Kept) == 0 {
		t.Fatalf("control: a run with --keep kept nothing (%v)", err)
	}
}
