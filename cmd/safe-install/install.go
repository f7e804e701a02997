package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/safe-install/safe-install/images"
	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/staging"
)

// runInstall plans, prints the plan for --dry-run, or runs it.
func runInstall(c *cli.Context, e *env, log *zap.Logger, mgr install.Manager, f runFlags) error {
	lim, err := f.limits()
	if err != nil {
		return err
	}
	e.useConnection(f.Connection, f.Identity)
	// From before the plan reads the project to after the swap: another
	// run in it meanwhile would plan from what this one replaces.
	unlock := func() {}
	if !f.DryRun {
		let, err := staging.Lock(c.Context, e.dir, func() {
			e.say("another safe-install run is installing in %s; waiting for it to end", e.dir)
		})
		if err != nil {
			return err
		}
		unlock = sync.OnceFunc(let)
		defer unlock()
	}
	// Before the plan reads the manifests: a killed run may have left its
	// swap half done.
	if err := recoverProject(e, e.dir, f.DryRun); err != nil {
		return err
	}
	// The engine is reached while the plan reads the project (and asks the
	// host's npm its version): both take a tenth of a second or more, and
	// neither needs the other. A dry run never touches Podman.
	var conn func() connection // nil for a dry run, which returns before it is needed
	if !f.DryRun {
		conn = connectEngine(c.Context, e.remote(), log)
		defer func() {
			if cn := conn(); cn.err == nil {
				cn.stop()
			}
		}()
	}
	// The host's node and npm name the default image: asked while the
	// engine is reached and the plan made.
	hostSpec := sync.OnceValues(func() (images.Spec, error) { return images.Detect(c.Context) })
	if !f.DryRun && f.Image == "" {
		go hostSpec()
	}
	makePlan := sync.OnceValues(func() (*install.Plan, error) {
		plan, err := mgr.Plan(e.dir, c.Args().Slice(), install.PlanOptions{
			AllowGit:        f.AllowGit,
			AllowRegistries: f.AllowRegistry.Value(),
			AllowScripts:    f.AllowScripts.Value(),
			DenyScripts:     f.DenyScripts.Value(),
			AllUnreviewed:   f.AllScripts,
			MinReleaseAge:   f.MinReleaseAge,
			NPMVersion:      npmVersion(c.Context, mgr),
			PNPMVersion:     f.PNPMVersion,
			PNPMStoreDir:    f.PNPMStoreDir,
			AllowPnpmfile:   f.AllowPnpmfile,
			AllowIndex:      f.AllowIndex,
			AllowPth:        f.AllowPth.Value(),
			AllowCommand:    f.AllowCommand.Value(),
			Python:          f.Python,
			Home:            e.home,
			Env:             e.vars,
			Warn:            func(msg string) { e.say("WARN %s", msg) },
		})
		if err != nil {
			return nil, err
		}
		if plan.Project != e.dir {
			if err := recoverProject(e, plan.Project, f.DryRun); err != nil {
				return nil, err
			}
		}
		if pol := plan.Policy; pol.Active && !f.DryRun {
			e.say("script policy from %s: allowed %s", strings.Join(pol.Sources, ", "), listOrNone(pol.Allowed))
		}
		return plan, nil
	})
	// The sandbox is prepared while the plan is made (sandbox.RunPlanned),
	// but for pip, whose image follows from the plan (its Python), and a
	// dry run, which never touches Podman.
	early := !f.DryRun && mgr.Name() != "pip"
	python := ""
	if early {
		go makePlan()
	} else {
		plan, err := makePlan()
		if err != nil {
			return err
		}
		if f.DryRun {
			return printDryRun(c, e, plan, f, lim)
		}
		python = plan.Python
	}
	// The plan's error, when there is one, says more than the engine's.
	planFirst := func(err error) error {
		if _, perr := makePlan(); perr != nil {
			return perr
		}
		return err
	}
	connecting := time.Now()
	cn := conn()
	if cn.err != nil {
		return planFirst(cn.err)
	}
	eng := cn.eng
	image, err := sandbox.EnsureImageOf(c.Context, eng, f.Image, hostSpec, python, e.stderr, func() error { _, err := makePlan(); return err })
	if err != nil {
		return planFirst(err)
	}
	start := time.Now()
	engine := sandbox.Timing{Step: "engine", MS: start.Sub(connecting).Milliseconds()}
	opts := sandbox.Options{Image: image, Limits: lim, Keep: f.Keep, Log: log, Progress: e.stderr, Live: isTerminal(e.stderr),
		Quiet: f.Quiet, Strict: f.Strict}
	res, err := sandbox.RunPlanned(c.Context, eng, mgr.Name(), makePlan, opts)
	if res != nil && len(res.Kept) > 0 {
		// Containers first: Podman 4.3 deadlocks in `volume rm -f` of the
		// tmpfs work volume while its holder container runs (seen here).
		e.say("kept for inspection (later runs leave them; safe-install clean removes them): %s", strings.Join(res.Kept, " "))
	}
	plan, perr := makePlan()
	if perr != nil {
		return perr
	}
	rep := sandbox.NewReport(plan, lim, res, err, time.Since(start))
	rep.Timings = append([]sandbox.Timing{engine}, rep.Timings...)
	if rerr := writeReport(e, f, rep); rerr != nil && err == nil {
		err = rerr
	}
	if res != nil {
		for _, ref := range res.Refused {
			e.say("refused in the fetch phase: %s %s%s: %s", ref.Method, ref.Host, ref.Path, ref.Reason)
		}
	}
	if err != nil {
		return err
	}
	// Only a run that succeeded leaves what it learnt of the engine.
	eng.RecordInfo()
	summarize(e, plan, res, time.Since(start))
	if len(plan.HostAfter) > 0 {
		// The project's own test may run safe-install in it.
		unlock()
		return runHostAfter(c.Context, e, plan.HostAfter, f.JSON)
	}
	return nil
}

// connection is what engine.Connect returned.
type connection struct {
	eng  *engine.Podman
	stop func()
	err  error
}

// connectEngine connects in the background; the function waits for the
// result, as often as it is called.
func connectEngine(ctx context.Context, to engine.Remote, log *zap.Logger) func() connection {
	ch := make(chan connection, 1)
	go func() {
		eng, stop, err := engine.Connect(ctx, to, log)
		ch <- connection{eng: eng, stop: stop, err: err}
	}()
	return sync.OnceValue(func() connection { return <-ch })
}

// recoverProject removes the staging directories that killed runs left in
// dir, undoing a swap one left half done (sandbox/staging).
func recoverProject(e *env, dir string, dryRun bool) error {
	said, err := staging.Recover(dir, dryRun)
	for _, s := range said {
		e.say("%s", s)
	}
	if err != nil {
		return fmt.Errorf("cleaning up after a killed run in %s: %w; see what it left there", dir, err)
	}
	return nil
}

// npmVersion is the host's npm version for an npm plan ("" otherwise, or
// when it cannot be found: the image build names the problem then).
func npmVersion(ctx context.Context, mgr install.Manager) string {
	if mgr.Name() != "npm" {
		return ""
	}
	v, _ := images.NPMVersion(ctx)
	return v
}
