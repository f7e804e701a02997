package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/safe-install/safe-install/seccomp"

	"github.com/safe-install/safe-install/sandbox/archive"
	"github.com/safe-install/safe-install/sandbox/decoy"
	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/fetchedtree"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/faultpoint"
	"github.com/safe-install/safe-install/sandbox/internal/native"
	"github.com/safe-install/safe-install/sandbox/internal/progress"
	"github.com/safe-install/safe-install/sandbox/internal/stopwatch"
	"github.com/safe-install/safe-install/sandbox/staging"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// Options are a run's settings besides its plan.
type Options struct {
	Image  string // image reference or ID; Run does not build it (see EnsureImage)
	Limits Limits
	Keep   bool // leave containers and volumes for inspection
	Log    *zap.Logger
	// Progress gets one line per step, for a person to read; with Live
	// (a terminal) the current step's line shows its elapsed time.
	Progress io.Writer
	Live     bool
	Quiet    bool // only warnings reach Progress
	// Strict fails the run when a package touched a decoy credential.
	Strict bool
	// CacheDir holds the host's records of fetched trees (package
	// fetchedtree); "": os.UserCacheDir.
	CacheDir string
}

// PhaseResult is what one container did.
type PhaseResult struct {
	Name      string              `json:"name"`
	Container string              `json:"container"`
	ExitCode  int                 `json:"exit_code"`
	Duration  time.Duration       `json:"duration_ns"`
	Scripts   []install.ScriptRun `json:"scripts,omitempty"`
	output    string              // the fetch's, for fetchedtree.Parse
}

// Result is a finished run.
type Result struct {
	Image  string            `json:"image"`
	Engine engine.EngineInfo `json:"engine"`
	Phases []PhaseResult     `json:"phases"`
	Copied archive.Stats     `json:"copied"`
	// Seccomp holds each phase's profile hash.
	Seccomp map[seccomp.Phase]string `json:"seccomp"`
	Swapped []string                 `json:"swapped"`
	// Contacted and Refused are what the fetch phase's egress proxy saw.
	Contacted []string         `json:"contacted"`
	Refused   []egress.Refusal `json:"refused,omitempty"`
	Kept      []string         `json:"kept,omitempty"` // with --keep: what was left behind
	// Installed is what a plan's host install step put into the host
	// environment (pip).
	Installed any `json:"installed,omitempty"`
	// Decoys are the decoy credentials planted in the scripts container,
	// and Theft what packages did with them.
	Decoys []string       `json:"decoys,omitempty"`
	Theft  []TheftAttempt `json:"theft_attempts,omitempty"`
	// Timings split the run into its steps.
	Timings []Timing `json:"timings"`
	// ScriptsRan counts the install scripts that npm's own record says
	// ran; HeldBack are the dependencies whose scripts the policy held
	// back (npm 12's rule), with the scripts they declare.
	ScriptsRan int                `json:"scripts_ran"`
	HeldBack   []install.HeldBack `json:"held_back,omitempty"`
	// NetworkAttempts are the hosts scripts tried to reach (netlog.js).
	NetworkAttempts []install.NetworkAttempt `json:"network_attempts,omitempty"`
	// FetchedTree says what the fetch did with the fetched-tree cache:
	// "first" (these inputs' first fetch: nothing saved), "saved",
	// "restored", "mismatch" (fetched again); "": not used.
	FetchedTree string `json:"fetched_tree,omitempty"`
}

// Run carries out a plan in the sandbox and, when every phase succeeded and
// every artifact entry passed validation, swaps the artifacts into the
// project. On any error the project is as it was.
func Run(ctx context.Context, eng engine.Engine, p *install.Plan, opts Options) (*Result, error) {
	return RunPlanned(ctx, eng, p.Manager, func() (*install.Plan, error) { return p, nil }, opts)
}

// RunPlanned is Run while the plan (of manager's) is still being made:
// what needs none, the run's volumes and the holder of its work volume, is
// made in the meantime (for the one-package npm install the plan took
// 0.08-0.13 s and that part of the preparation as long, one after the
// other). plan is called once, from Run's goroutine; its error ends the
// run, with nothing left behind.
func RunPlanned(ctx context.Context, eng engine.Engine, manager string, plan func() (*install.Plan, error), opts Options) (_ *Result, runErr error) {
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	info, err := eng.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEngine, err)
	}
	if !info.Rootless {
		return nil, ErrRootful
	}
	r := &runner{eng: eng, makePlan: plan, opts: opts, log: log, res: &Result{Image: opts.Image, Engine: info},
		steps: progress.New(opts.Progress, opts.Live, opts.Quiet), watch: stopwatch.New(), staged: map[string]bool{}}
	defer r.steps.End()
	r.runID = newRunID()
	r.names = namesFor(r.runID, manager, info.IDMap)
	r.labels = runLabels(r.runID, opts.Keep)
	defer func() {
		if runErr != nil {
			// The step that failed, whichever it was.
			r.watch.Lap("until the error")
		}
		r.cleanup()
		runErr = engineGone(ctx, eng, runErr)
		r.watch.Lap("clean-up")
		r.res.Timings = r.watch.Steps()
	}()
	if err := r.run(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

// engineGone says so when a run failed on the engine because its service
// went away (killed, crashed, its connection lost): the run could not
// remove what it made. The calls that the loss of a connection ended
// failed as canceled: unless the user interrupted the run, the error keeps
// only their words, so that it ends as the engine's failure.
func engineGone(ctx context.Context, eng engine.Engine, err error) error {
	if !errors.Is(err, ErrEngine) || ctx.Err() != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, ierr := eng.Info(ctx); ierr == nil {
		return err
	}
	if errors.Is(err, context.Canceled) {
		err = fmt.Errorf("%w: %s", ErrEngine, strings.TrimPrefix(err.Error(), ErrEngine.Error()+": "))
	}
	return fmt.Errorf("%w\nthe Podman service stopped answering during the run (killed or crashed, or the connection to it lost?); the project is as it was; "+
		"the run's containers and volumes stay until the service is back: then `safe-install clean` removes them (the next run does too)", err)
}

type runner struct {
	eng         engine.Engine
	runID       string
	makePlan    func() (*install.Plan, error) // RunPlanned's; planned sets plan
	plan        *install.Plan
	session     install.Session   // the manager's part (NoSession when it has none)
	labels      map[string]string // on every container and volume of the run (reap.go)
	opts        Options
	log         *zap.Logger
	names       Names
	res         *Result
	containers  []string
	volumes     []string
	staging     string // where the artifacts are staged, inside stagingRoot
	stagingRoot string
	seen        staging.Stamps // what the swap replaces, before the copy-in
	profiles    Profiles
	egress      *egress.Egress
	steps       *progress.Steps
	watch       *stopwatch.Stopwatch
	decoys      *decoy.Set
	decoyScan   *decoy.OutputScanner
	toolsCopied bool          // the tools volume holds the plan's Tools (the first scripts container copies them in)
	rule        install.Rule  // the copy-back rule of the last scripts phase (nil: none)
	only        []string      // what of the artifacts comes back (ScriptsPlan.Only; nil: all)
	except      []string      // and what below it does not (ScriptsPlan.Except)
	copied      *atomic.Int64 // bytes of the current copy-back, for progress
	staged      map[string]bool
	// waitAudit waits for the decoy audit, which runs while the artifacts
	// are copied back.
	waitAudit func() error
	// auditFinished is closed when the decoy audit's goroutine is done
	// with its container; clean-up waits for it, or a removal racing the
	// audit's start leaves the container (and so its volume) behind.
	auditFinished chan struct{}
	// localWork is where this machine can read the work volume (a local
	// engine: through the holder container's root, see ContainerDir), for
	// copy-back without the archive endpoint; "" otherwise. releaseWork
	// lets go of it.
	localWork   string
	releaseWork func()
	// holder is the holder container when localWork is set: the fetch's
	// inputs go in through it (extractInputs).
	holder string
	// engineReleased is closed when the containers and volumes, removed
	// while the host's side of the run goes on, are gone (releaseEngine).
	engineReleased chan struct{}
	// recordTree notes what the fetch did with the fetched-tree cache,
	// once the run has succeeded.
	recordTree func() error
	// stopPrefill ends the session's prefill (install.Prefilling) and
	// waits for it: clean-up removes its directory only then.
	stopPrefill func()
	// fetchCreated waits for the fetch container's creation, started in
	// the preparation: fetchID and relay are then set. cached is the
	// fetched-tree cache's part (nil: none).
	holderID     string         // the holder container, local or not (holder: only when local)
	objects      sync.Mutex     // containers and volumes are made from more than one goroutine
	early        sync.WaitGroup // removals started before the engine's release (artifactsFrom)
	earlyLeft    []string       // what they could not remove
	fetchCreated func() error
	fetchID      string
	relay        *relayed
	cached       *fetchedtree.Use
}

func (r *runner) progress(format string, args ...any) { r.steps.Note(format, args...) }

// run is one install, step by step (the README's "How a run goes").
func (r *runner) run(ctx context.Context) error {
	if err := r.prepare(ctx); err != nil {
		return err
	}
	fetchID, err := r.fetch(ctx)
	if err != nil {
		return err
	}
	plan, err := r.fetched(ctx, fetchID)
	if err != nil {
		return err
	}
	from, err := r.scripts(ctx, fetchID, plan)
	if err != nil {
		return err
	}
	r.only, r.except = plan.Only, plan.Except
	if err := r.copyArtifacts(ctx, from); err != nil {
		return err
	}
	if err := r.checks(); err != nil {
		return err
	}
	if err := r.deliver(ctx); err != nil {
		return err
	}
	if r.recordTree != nil {
		if err := r.recordTree(); err != nil {
			r.log.Debug("the fetched tree was not recorded", zap.Error(err))
		}
	}
	return nil
}

// prepare makes what every phase needs: the seccomp profiles on the
// engine, the run's volumes, the holder of the work volume and the egress
// proxy. Leftovers of earlier runs go first.
func (r *runner) prepare(ctx context.Context) error {
	var err error
	r.reapLeftovers(ctx)
	if r.profiles, r.res.Seccomp, err = r.ensureProfiles(ctx); err != nil {
		return err
	}
	// The work volume is a tmpfs: on this machine's ext4, creating a
	// file cost about 0.8 ms in the inode allocator (perf: ext4's
	// recently_deleted scan), so node_modules written to a disk volume and
	// again to the project cost twice what plain npm's one write costs.
	// In memory, only the copy into the project touches the disk.
	if err := r.createVolumeSpec(ctx, engine.VolumeSpec{Name: r.names.Work, Memory: true, MaxBytes: r.opts.Limits.DiskBytes, MaxFiles: r.opts.Limits.DiskFiles}); err != nil {
		return err
	}
	if err := r.createVolume(ctx, r.names.FetchConfig); err != nil {
		return err
	}
	// The holder starts while the plan is waited for, and the fetch
	// container is created and attached to while the holder starts: each
	// takes the engine 20-70 ms.
	holder := make(chan error, 1)
	go func(n Names) { holder <- r.startHolder(ctx, n) }(r.names) // the plan may name another cache
	err = r.afterPlan(ctx)
	if herr := <-holder; err == nil {
		err = herr
	}
	if err != nil {
		if r.fetchCreated != nil {
			_ = r.fetchCreated() // clean-up then finds every container made
		}
		return err
	}
	r.watch.Lap("prepare")
	return nil
}

// startHolder starts the holder of the work volume and, for a local
// engine, opens the work volume through its root.
func (r *runner) startHolder(ctx context.Context, n Names) error {
	holder, err := r.create(ctx, holderSpec(r.opts.Image, n, r.opts.Limits, r.profiles))
	if err != nil {
		return err
	}
	r.holderID = holder
	if err := r.eng.Start(ctx, holder); err != nil {
		return fmt.Errorf("%w: starting the container that holds the work volume: %w", ErrEngine, err)
	}
	if dir, done, err := r.eng.ContainerDir(ctx, holder, install.WorkDir); err == nil {
		r.holder = holder
		r.localWork = dir
		r.releaseWork = done
	} else {
		r.log.Debug("copy-back goes through the engine's archive endpoint", zap.Error(err))
	}
	return nil
}

// afterPlan is the part of the preparation that needs the plan: the
// cache volume, the egress proxy, and the fetch container, whose creation
// goes on in the background (fetchCreated waits for it).
func (r *runner) afterPlan(ctx context.Context) error {
	p, err := r.planned()
	if err != nil {
		return err
	}
	if p.PrivateCache {
		r.names.Cache = "safe-install-" + r.runID + "-cache"
		if err := r.createVolume(ctx, r.names.Cache); err != nil {
			return err
		}
	} else if err := r.eng.CreateVolume(ctx, engine.VolumeSpec{Name: r.names.Cache, Shared: true, Labels: map[string]string{labelCache: p.Manager}}); err != nil {
		// The lasting cache outlives runs by design: it carries no run's
		// labels, so no reaper takes it.
		return fmt.Errorf("%w: %w", ErrEngine, err)
	}
	if r.egress, err = egress.New(p.Registries); err != nil {
		return err
	}
	spec := r.specs(nil).Fetch
	if r.cached, err = fetchedtree.Begin(p, r.opts.Image, r.names.Cache, r.res.Engine.Host, r.opts.CacheDir); err != nil {
		r.log.Debug("no fetched-tree cache for this run", zap.Error(err))
	} else if r.cached != nil {
		spec.Env = r.cached.Env(spec.Env)
	}
	ch := make(chan error, 1)
	go func() { ch <- r.createFetch(ctx, spec) }()
	r.fetchCreated = sync.OnceValue(func() error { return <-ch })
	return nil
}

// createFetch creates the fetch container and attaches to it. A local
// engine's fetch container starts at once, while it is attached to and
// while its inputs go in through the holder: relay.js, which is the
// container's command and not one of its inputs, writes and reads nothing
// before the host's word (egress.StartCommand, in phase, which needs the
// attach) and runs the package manager only then. (The attach took 90 ms
// here and the start, to relay.js running, 120-170 ms: one after the
// other they were the run's critical path.) Any other engine's inputs go
// in through the archive endpoint into the created container, which
// starts after.
func (r *runner) createFetch(ctx context.Context, spec engine.ContainerSpec) error {
	id, err := r.create(ctx, spec)
	if err != nil {
		return err
	}
	r.fetchID = id
	early := r.res.Engine.Host == "local" && egress.Relayed(spec.Command)
	started := make(chan error, 1)
	if early {
		go func() { started <- r.eng.Start(ctx, id) }()
	}
	relay, err := r.attachRelay(ctx, id)
	if early {
		if serr := <-started; serr != nil && err == nil {
			err = fmt.Errorf("%w: starting the fetch container: %w", ErrEngine, serr)
		}
	}
	if err != nil {
		return err
	}
	relay.started = early
	r.relay = relay
	return nil
}

// planned waits for the plan RunPlanned was given.
func (r *runner) planned() (*install.Plan, error) {
	p, err := r.makePlan()
	if err != nil {
		return nil, err
	}
	r.plan, r.session = p, p.Session
	if r.session == nil {
		r.session = install.NoSession{}
	}
	return p, nil
}

// fetch copies the inputs in and runs the fetch phase: the package
// manager downloads with scripts disabled, through the egress proxy.
func (r *runner) fetch(ctx context.Context) (string, error) {
	p := r.plan
	fetchOnly := append(append([]install.Input{}, p.FetchOnly...),
		install.Input{Name: "ca.pem", Data: r.egress.CACert(), Mode: 0o644})
	r.steps.Begin("fetching: %s (%d input files copied in)", p.FetchSummary, len(p.Inputs))
	r.seen = staging.StampOf(p.Project, append(slices.Clone(p.Manifests), p.Artifacts...))
	configIn, workIn, err := r.extractInputs(ctx, fetchOnly)
	if cerr := r.fetchCreated(); cerr != nil {
		return "", cerr
	}
	if err != nil {
		return "", err
	}
	fetchID, relay, cached := r.fetchID, r.relay, r.cached
	// What did not go in through the holder, through the archive
	// endpoint: into the fetch container (the config, when the fetch
	// container runs, through the holder: it is read-only to the fetch,
	// where the archive endpoint answered 500, seen here).
	if !workIn {
		if err := r.copyInAt(ctx, fetchID, install.WorkDir, p.Inputs, faultpoint.CopyIn); err != nil {
			return "", err
		}
	}
	if !configIn {
		into := fetchID
		if relay.started {
			into = r.holderID
		}
		if err := r.copyIn(ctx, into, install.FetchConfigDir, fetchOnly); err != nil {
			return "", err
		}
	}
	r.watch.Lap("copy-in")
	// After the copy-in, which it slowed (both are the host's disk and
	// CPU): the package manager's start-up and downloads leave room.
	if err := r.startPrefill(ctx); err != nil {
		return "", err
	}
	ph, err := r.phase(ctx, "fetch", fetchID, relay)
	r.res.Contacted, r.res.Refused = r.egress.Contacted(), r.egress.Refused()
	if err != nil {
		return "", err
	}
	if cached != nil {
		o := cached.Outcome(ph.output)
		if r.egress.Failed() > 0 || len(r.res.Refused) > 0 {
			o = o.Doubt()
		}
		r.fetchedTree(o)
		r.recordTree = func() error { return cached.Record(o) }
	}
	r.watch.Lap("fetch")
	return fetchID, nil
}

// extractInputs puts the fetch's inputs and config into the work and fetch
// config volumes through the running holder, for a local engine: the
// volumes are fresh, and no third-party code has run (the condition of
// ExtractInto). configIn is called once the config is in. It says which
// went in; the archive endpoint copies in the rest, with no error: a
// remote engine, no nsenter here, or an extraction that failed (whatever
// it had written, the copy writes over with the same entries).
func (r *runner) extractInputs(ctx context.Context, fetchOnly []install.Input) (config, work bool, err error) {
	if r.holder == "" {
		return false, false, nil
	}
	for _, set := range []struct {
		dir    string
		inputs []install.Input
		step   string
		in     *bool
	}{
		// The config first: a symlink among the inputs (npm rebuild copies
		// the project's node_modules in, links and all) cannot lead it
		// astray, and tar replaces one it would write through (see
		// nsextract.go).
		{install.FetchConfigDir, fetchOnly, faultpoint.CopyInConfig, &config}, {install.WorkDir, r.plan.Inputs, faultpoint.CopyIn, &work},
	} {
		err := r.putInputs(ctx, set.inputs, set.step, func(ctx context.Context, tar io.Reader) error {
			return r.eng.ExtractInto(ctx, r.holder, set.dir, tar)
		})
		if err != nil && ctx.Err() == nil && !errors.Is(err, ErrEngine) && !errors.Is(err, install.ErrPolicy) {
			r.log.Debug("copy-in goes through the engine's archive endpoint", zap.String("dir", set.dir), zap.Error(err))
			return config, work, nil
		}
		if err != nil {
			return config, work, err
		}
		*set.in = true
	}
	return config, work, nil
}

// fetched stages the manifests and lets the manager read the fetched
// state, before any third-party code runs.
func (r *runner) fetched(ctx context.Context, fetchID string) (install.ScriptsPlan, error) {
	if err := r.makeStaging(); err != nil {
		return install.ScriptsPlan{}, err
	}
	// Manifests come from here, before any third-party code ran, so no
	// script can rewrite what the user's package.json says (invariant 9).
	for _, m := range r.plan.Manifests {
		if err := r.copyBack(ctx, fetchID, m, archive.ExtractFile); err != nil {
			return install.ScriptsPlan{}, err
		}
	}
	return r.session.Fetched(ctx, r.files(fetchID), r.steps)
}

// scripts runs the third-party code: the dependencies' scripts (the
// plan's Scripts phase with the session's arguments), then the project's
// own, each held to the manager's copy-back rule; it returns the container
// the artifacts come from.
func (r *runner) scripts(ctx context.Context, fetchID string, sp install.ScriptsPlan) (string, error) {
	p := r.plan
	runDeps := p.Scripts != nil && !sp.Skip // Skip: nothing whose scripts run
	if !runDeps && p.ProjectScripts == nil {
		r.steps.End()
		r.progress("no install scripts to run: no scripts container")
		return r.artifactsFrom(fetchID), nil
	}
	// The work directory as the fetch left it, before any third-party
	// code ran: the baseline that tells a package's own build from
	// tampering.
	var before tree.Tree
	var err error
	switch {
	case p.Baseline != "" && p.BaselineLater:
		before, err = r.listWork(ctx, *r.specs(nil).Baseline, FetchedListing, "listing the work directory as the fetch left it")
	case p.Baseline != "" && !p.BaselineLater:
		before, err = r.readListing(ctx, fetchID, path.Join(install.WorkDir, p.Baseline))
	}
	if err != nil {
		return "", err
	}
	if err := r.plantDecoys(ctx); err != nil {
		return "", err
	}
	specs := r.specs(sp.Args)
	r.watch.Lap("baseline")
	from := fetchID
	var ran []install.ScriptRun // every phase's, for the decoy audit
	if runDeps {
		detail := ""
		if sp.Detail != "" {
			detail = " (" + sp.Detail + ")"
		}
		id, ph, err := r.scriptsPhase(ctx, "scripts", *specs.Scripts, sp.Inputs, fmt.Sprintf("running %ss with no network%s", r.output().Kind(), detail))
		if err != nil {
			return "", err
		}
		from, ran = id, ph.Scripts
		r.watch.Lap("scripts")
		r.rule = r.session.Rule("scripts", before)
	}
	if p.ProjectScripts != nil {
		if r.rule != nil {
			// The dependencies' scripts are over: hold what they left in
			// the whole work directory to the rule before the project's
			// own scripts start on it (they run what node_modules/.bin
			// holds and read .npmrc, patches/ and the like, and may
			// change other packages by design, as patch-package does).
			var err error
			if before, err = r.checkDependencyScripts(ctx); err != nil {
				return "", err
			}
			r.watch.Lap("hash")
		}
		if err := r.createVolume(ctx, r.names.ProjectHome); err != nil {
			return "", err
		}
		id, ph, err := r.scriptsPhase(ctx, "project", *specs.Project, p.ProjectInputs, "running the project's own scripts with no network: "+strings.Join(p.ProjectEvents, ", "))
		if err != nil {
			return "", err
		}
		from, ran = id, append(ran, ph.Scripts...)
		r.watch.Lap("project")
		r.progress("note: the project's own scripts ran in the sandbox; what they set up outside the artifacts (git hooks, build output) stays there: run them on the host if you need that (%s)", strings.Join(p.ProjectEvents, ", "))
		r.rule = r.session.Rule("project", before)
	}
	r.waitAudit = r.startAudit(ctx, PhaseResult{Scripts: ran})
	return from, nil
}

// checks hold the staged artifacts to what the extractor could not judge
// entry by entry: nothing missing, no decoy stashed or read, what the
// manager finds, code native to this machine.
func (r *runner) checks() error {
	if r.rule != nil {
		// Only the artifacts came back: what else of the work directory a
		// phase changed stays in the sandbox.
		roots := r.plan.Artifacts
		if len(r.only) > 0 {
			roots = r.only
		}
		if name, reason := r.rule.Missing(roots); name != "" {
			return &install.ArtifactError{Package: r.blame(name), Path: name, Reason: reason}
		}
		for _, w := range r.rule.Warnings() {
			r.steps.Warn("%s", w)
		}
	}
	if r.waitAudit != nil {
		if err := r.waitAudit(); err != nil {
			return err
		}
	}
	// Nothing more is read from the sandbox.
	r.releaseEngine()
	if err := r.decoysInArtifacts(); err != nil {
		return err
	}
	if err := r.reportTheft(); err != nil {
		return err
	}
	found, err := r.session.Finish(r.staging)
	if err != nil {
		return err
	}
	r.res.HeldBack, r.res.NetworkAttempts = found.HeldBack, found.NetworkAttempts
	for _, w := range found.Warnings {
		r.steps.Warn("%s", w)
	}
	if err := native.Check(r.res.Engine, r.staging); err != nil {
		return err
	}
	r.watch.Lap("checks")
	return nil
}

// deliver puts the checked artifacts into the host: the manager's way
// (pip: the host's pip installs the wheels), else one atomic swap into
// the project.
func (r *runner) deliver(ctx context.Context) error {
	p := r.plan
	done, installed, err := r.session.Deliver(ctx, r.staging, r.steps)
	if done {
		r.res.Installed = installed
		r.watch.Lap("host install")
		return err
	}
	if err != nil {
		return err
	}
	names := slices.Clone(p.Manifests)
	for _, a := range p.Artifacts {
		if emptyDir(filepath.Join(r.staging, a)) && !exists(filepath.Join(p.Project, a)) {
			// Nothing to install: npm makes no node_modules then, and
			// neither does safe-install.
			continue
		}
		names = append(names, a)
	}
	staged := map[string]string{}
	for _, n := range names {
		staged[n] = filepath.Join(r.staging, n)
	}
	if err := r.seen.Unchanged(p.Project); err != nil {
		return err
	}
	if err := staging.Journal(r.stagingRoot, names, staged); err != nil {
		return err
	}
	if err := staging.Swap(p.Project, names, staged); err != nil {
		return err
	}
	r.watch.Lap("swap")
	r.res.Swapped = names
	return nil
}

// plantDecoys makes the scripts containers' home: a volume of this run
// holding decoy credentials.
func (r *runner) plantDecoys(ctx context.Context) error {
	r.decoys = decoy.New()
	r.decoyScan = r.decoys.NewOutputScanner()
	for _, v := range []string{r.names.Home, r.names.Tools} {
		if err := r.createVolume(ctx, v); err != nil {
			return err
		}
	}
	r.res.Decoys = r.decoys.Names()
	return nil
}

// fetchedTree tells what the fetch did with the fetched-tree cache.
func (r *runner) fetchedTree(o fetchedtree.Outcome) {
	switch {
	case o.Restored:
		r.res.FetchedTree = "restored"
		r.progress("fetched tree restored from the cache: an earlier fetch of these same inputs saved it, and it matched its record (npm did not run)")
	case o.Mismatch:
		r.res.FetchedTree = "mismatch"
		r.steps.Warn("the cached fetched tree for these inputs did not match safe-install's record of it (another safe-install using this engine, or a change in its storage), so it was fetched again and replaced")
	case o.Saved != "":
		r.res.FetchedTree = "saved"
	case o.First:
		r.res.FetchedTree = "first"
	case o.Doubtful:
		r.res.FetchedTree = "not kept" // requests failed: it may lack what they would have brought
	}
}
