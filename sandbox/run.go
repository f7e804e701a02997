package sandbox

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
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
	"github.com/safe-install/safe-install/sandbox/escape"
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
}

// PhaseResult is what one container did.
type PhaseResult struct {
	Name      string        `json:"name"`
	Container string        `json:"container"`
	ExitCode  int           `json:"exit_code"`
	Duration  time.Duration `json:"duration_ns"`
	Scripts   []ScriptRun   `json:"scripts,omitempty"`
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
	ScriptsRan int        `json:"scripts_ran"`
	HeldBack   []HeldBack `json:"held_back,omitempty"`
	// NetworkAttempts are the hosts scripts tried to reach (netlog.js).
	NetworkAttempts []NetworkAttempt `json:"network_attempts,omitempty"`
}

// Run carries out a plan in the sandbox and, when every phase succeeded and
// every artifact entry passed validation, swaps the artifacts into the
// project. On any error the project is as it was.
func Run(ctx context.Context, eng engine.Engine, p *Plan, opts Options) (_ *Result, runErr error) {
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
	r := &runner{eng: eng, plan: p, session: p.Session, opts: opts, log: log, res: &Result{Image: opts.Image, Engine: info},
		steps: newSteps(opts.Progress, opts.Live, opts.Quiet), watch: newStopwatch(), staged: map[string]bool{}}
	if r.session == nil {
		r.session = NoSession{}
	}
	defer r.steps.end()
	runID := newRunID()
	r.names = namesFor(runID, p.Manager, info.IDMap)
	r.labels = runLabels(runID, opts.Keep)
	defer func() {
		if runErr != nil {
			// The step that failed, whichever it was.
			r.watch.lap("until the error")
		}
		r.cleanup()
		r.watch.lap("clean-up")
		r.res.Timings = r.watch.steps
	}()
	if err := r.run(ctx); err != nil {
		return r.res, err
	}
	return r.res, nil
}

type runner struct {
	eng         engine.Engine
	plan        *Plan
	session     Session           // the manager's part (NoSession when it has none)
	labels      map[string]string // on every container and volume of the run (reap.go)
	opts        Options
	log         *zap.Logger
	names       Names
	res         *Result
	containers  []string
	volumes     []string
	staging     string // where the artifacts are staged, inside stagingRoot
	stagingRoot string
	profiles    Profiles
	egress      *egress.Egress
	steps       *steps
	watch       *stopwatch
	decoys      *decoy.Set
	decoyScan   *decoy.OutputScanner
	toolsCopied bool          // the tools volume holds the plan's Tools (the first scripts container copies them in)
	rule        Rule          // the copy-back rule of the last scripts phase (nil: none)
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
}

// readListing reads the listing that tree.ListScript, a trusted command,
// left under prefix (an absolute path in the container: prefix.list and
// prefix.sums), as a stream: it is as large as the tree a script wrote.
func (r *runner) readListing(ctx context.Context, id, prefix string) (tree.Tree, error) {
	lim := tree.Limits{MaxEntries: r.opts.Limits.Extract.MaxEntries, MaxNameLen: r.opts.Limits.Extract.MaxNameLen}
	var t tree.Tree
	read := func(file string, parse func(io.Reader) error) error {
		return r.streamPath(ctx, id, file, func(rd io.Reader) error {
			tr := tar.NewReader(rd)
			if _, err := tr.Next(); err != nil {
				return fmt.Errorf("reading the listing %s: %w", file, err)
			}
			return parse(tr)
		})
	}
	err := read(prefix+".list", func(rd io.Reader) (err error) {
		t, err = tree.ParseList(rd, lim)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := read(prefix+".sums", func(rd io.Reader) error { return t.AddSums(rd, lim) }); err != nil {
		return nil, err
	}
	return t, nil
}

// Plural counts a noun for a message: "1 package", "3 packages", "2 dependencies".
func Plural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "y"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *runner) progress(format string, args ...any) { r.steps.Note(format, args...) }

// run is one install, step by step (DESIGN: the flow of one run).
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
	if err := r.copyArtifacts(ctx, from); err != nil {
		return err
	}
	if err := r.checks(); err != nil {
		return err
	}
	return r.deliver(ctx)
}

// prepare makes what every phase needs: the seccomp profiles on the
// engine, the run's volumes, the holder of the work volume and the egress
// proxy. Leftovers of earlier runs go first.
func (r *runner) prepare(ctx context.Context) error {
	p := r.plan
	var err error
	r.reapLeftovers(ctx)
	if r.profiles, r.res.Seccomp, err = ensureProfiles(ctx, r.eng, r.opts.Image, r.labels); err != nil {
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
	// The cache outlives runs by design: it carries no run's labels, so no
	// reaper takes it.
	if err := r.eng.CreateVolume(ctx, engine.VolumeSpec{Name: r.names.Cache, Labels: map[string]string{labelCache: p.Manager}}); err != nil {
		return fmt.Errorf("%w: %w", ErrEngine, err)
	}
	holder, err := r.create(ctx, r.specs(nil).Holder)
	if err != nil {
		return err
	}
	if err := r.eng.Start(ctx, holder); err != nil {
		return fmt.Errorf("%w: starting the container that holds the work volume: %w", ErrEngine, err)
	}
	if dir, done, err := r.eng.ContainerDir(ctx, holder, WorkDir); err == nil {
		r.localWork = dir
		r.releaseWork = done
	} else {
		r.log.Debug("copy-back goes through the engine's archive endpoint", zap.Error(err))
	}
	if r.egress, err = egress.New(p.Registries); err != nil {
		return err
	}
	r.watch.lap("prepare")
	return nil
}

// fetch copies the inputs in and runs the fetch phase: the package
// manager downloads with scripts disabled, through the egress proxy.
func (r *runner) fetch(ctx context.Context) (string, error) {
	p := r.plan
	fetchOnly := append(append([]Input{}, p.FetchOnly...),
		Input{Name: "ca.pem", Data: r.egress.CACert(), Mode: 0o644},
		Input{Name: "relay.js", Data: egress.RelayScript(), Mode: 0o644})
	r.steps.begin("fetching: %s (%d input files copied in)", p.FetchSummary, len(p.Inputs))
	fetchID, err := r.create(ctx, r.specs(nil).Fetch)
	if err != nil {
		return "", err
	}
	if err := r.copyIn(ctx, fetchID, WorkDir, p.Inputs); err != nil {
		return "", err
	}
	if err := r.copyIn(ctx, fetchID, FetchConfigDir, fetchOnly); err != nil {
		return "", err
	}
	r.watch.lap("copy-in")
	_, err = r.phase(ctx, "fetch", fetchID, true)
	r.res.Contacted, r.res.Refused = r.egress.Contacted(), r.egress.Refused()
	if err != nil {
		return "", err
	}
	r.watch.lap("fetch")
	return fetchID, nil
}

// fetched stages the manifests and lets the manager read the fetched
// state, before any third-party code runs.
func (r *runner) fetched(ctx context.Context, fetchID string) (ScriptsPlan, error) {
	if err := r.makeStaging(); err != nil {
		return ScriptsPlan{}, err
	}
	// Manifests come from here, before any third-party code ran, so no
	// script can rewrite what the user's package.json says (invariant 9).
	for _, m := range r.plan.Manifests {
		if err := r.copyBack(ctx, fetchID, m, archive.ExtractFile); err != nil {
			return ScriptsPlan{}, err
		}
	}
	return r.session.Fetched(ctx, r.files(fetchID), r.steps)
}

// scripts runs the third-party code: the dependencies' scripts (the
// plan's Scripts phase with the session's arguments), then the project's
// own, each held to the manager's copy-back rule; it returns the container
// the artifacts come from.
func (r *runner) scripts(ctx context.Context, fetchID string, sp ScriptsPlan) (string, error) {
	p := r.plan
	runDeps := p.Scripts != nil && !sp.Skip // Skip: nothing whose scripts run
	if !runDeps && p.ProjectScripts == nil {
		r.steps.end()
		r.progress("no install scripts to run: no scripts container")
		return fetchID, nil
	}
	// The work directory as the fetch left it, before any third-party
	// code ran: the baseline that tells a package's own build from
	// tampering.
	var before tree.Tree
	if p.Baseline != "" {
		var err error
		if before, err = r.readListing(ctx, fetchID, path.Join(WorkDir, p.Baseline)); err != nil {
			return "", err
		}
	}
	if err := r.plantDecoys(ctx); err != nil {
		return "", err
	}
	specs := r.specs(sp.Args)
	r.watch.lap("baseline")
	from := fetchID
	var ran []ScriptRun // every phase's, for the decoy audit
	if runDeps {
		detail := ""
		if sp.Detail != "" {
			detail = " (" + sp.Detail + ")"
		}
		id, ph, err := r.scriptsPhase(ctx, "scripts", *specs.Scripts, nil, fmt.Sprintf("running %ss with no network%s", r.output().Kind(), detail))
		if err != nil {
			return "", err
		}
		from, ran = id, ph.Scripts
		r.watch.lap("scripts")
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
			r.watch.lap("hash")
		}
		if err := r.createVolume(ctx, r.names.ProjectHome); err != nil {
			return "", err
		}
		id, ph, err := r.scriptsPhase(ctx, "project", *specs.Project, p.ProjectInputs, "running the project's own scripts with no network: "+strings.Join(p.ProjectEvents, ", "))
		if err != nil {
			return "", err
		}
		from, ran = id, append(ran, ph.Scripts...)
		r.watch.lap("project")
		r.progress("note: the project's own scripts ran in the sandbox; what they set up outside the artifacts (git hooks, build output) stays there: run them on the host if you need that (%s)", strings.Join(p.ProjectEvents, ", "))
		r.rule = r.session.Rule("project", before)
	}
	r.waitAudit = r.startAudit(ctx, PhaseResult{Scripts: ran})
	return from, nil
}

// copyArtifacts streams the artifacts out of the last container through
// the validating extractor, every entry held to the phase's rule.
func (r *runner) copyArtifacts(ctx context.Context, from string) error {
	p := r.plan
	opts := archive.Options{Links: p.LinkTargets}
	if r.rule != nil {
		opts.Check = r.rule.Check
	}
	extract := func(rd io.Reader, dest, root string, lim archive.Limits) (archive.Stats, error) {
		return archive.ExtractWith(rd, dest, root, lim, opts)
	}
	for _, a := range p.Artifacts {
		r.copied = &atomic.Int64{}
		r.steps.beginCounting(r.copied, "copying %s back", a)
		start := time.Now()
		if err := r.copyBack(ctx, from, a, extract); err != nil {
			return err
		}
		r.log.Debug("copied back", zap.String("path", a), zap.Duration("took", time.Since(start)),
			zap.Int("files", r.res.Copied.Files), zap.Int64("bytes", r.res.Copied.Bytes))
	}
	r.steps.end()
	r.watch.lap("copy-back")
	return nil
}

// checks hold the staged artifacts to what the extractor could not judge
// entry by entry: nothing missing, no decoy stashed or read, what the
// manager finds, code native to this machine.
func (r *runner) checks() error {
	if r.rule != nil {
		// Only the artifacts came back: what else of the work directory a
		// phase changed stays in the sandbox.
		if name, reason := r.rule.Missing(r.plan.Artifacts); name != "" {
			return &ArtifactError{Package: r.blame(name), Path: name, Reason: reason}
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
	if err := checkNative(r.res.Engine, r.staging); err != nil {
		return err
	}
	r.watch.lap("checks")
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
		r.watch.lap("host install")
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
	if err := Swap(p.Project, names, staged); err != nil {
		return err
	}
	r.watch.lap("swap")
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

// scriptsPhase runs one container of third-party scripts: it gets the
// decoys (the first one fills the home volume) and inputs, and what ran
// is printed.
func (r *runner) scriptsPhase(ctx context.Context, name string, spec engine.ContainerSpec, inputs []Input, title string) (string, PhaseResult, error) {
	id, err := r.create(ctx, spec)
	if err != nil {
		return "", PhaseResult{}, err
	}
	// Each scripts container has a home of its own, fresh: the decoys go
	// in; the tools volume is filled once.
	if err := r.copyIn(ctx, id, DecoyHome, decoyInputs(r.decoys)); err != nil {
		return "", PhaseResult{}, err
	}
	if !r.toolsCopied && len(r.plan.Tools) > 0 {
		if err := r.copyIn(ctx, id, ToolsDir, r.plan.Tools); err != nil {
			return "", PhaseResult{}, err
		}
		r.toolsCopied = true
	}
	if len(inputs) > 0 {
		if err := r.copyIn(ctx, id, WorkDir, inputs); err != nil {
			return "", PhaseResult{}, err
		}
	}
	r.steps.begin("%s", title)
	ph, err := r.phase(ctx, name, id, false)
	if err != nil {
		return "", ph, err
	}
	r.session.PhaseDone(ctx, r.files(id), ph.Scripts)
	for i := range ph.Scripts {
		if name == "project" {
			// npm run announces the project's own scripts; no record of
			// the manager's says more.
			ph.Scripts[i].Recorded = true
		}
		if ph.Scripts[i].Recorded {
			r.res.ScriptsRan++
		}
	}
	if len(ph.Scripts) > 0 {
		r.steps.end()
		var ran []string
		for _, sr := range ph.Scripts {
			d := ""
			if sr.DurationMS > 0 {
				d = fmt.Sprintf(" %.1fs", float64(sr.DurationMS)/1000)
			}
			ran = append(ran, sr.Package+" "+r.output().Label(sr)+d)
		}
		r.progress("ran: %s", strings.Join(ran, ", "))
	}
	return id, ph, nil
}

// checkDependencyScripts holds what the dependencies' scripts left in the
// work directory to the copy-back rule, listed by a trusted command in a
// fresh container (no script's process is alive to change it afterwards)
// into a volume of its own, and returns that listing as the baseline of
// the project's own scripts.
func (r *runner) checkDependencyScripts(ctx context.Context) (tree.Tree, error) {
	if err := r.createVolume(ctx, r.names.List); err != nil {
		return nil, err
	}
	id, err := r.create(ctx, *r.specs(nil).Listing)
	if err != nil {
		return nil, err
	}
	if err := r.runTrusted(ctx, id, "listing the work directory"); err != nil {
		return nil, err
	}
	after, err := r.readListing(ctx, id, MidListing)
	if err != nil {
		return nil, err
	}
	// The fetch's own listing, read before any script ran, is no input of
	// the project's scripts.
	delete(after, r.plan.Baseline+".list")
	delete(after, r.plan.Baseline+".sums")
	if name, reason := r.rule.CheckAll(after); reason != "" {
		return nil, &ArtifactError{Package: r.blame(name), Path: name, Reason: reason + "; found before the project's own scripts ran"}
	}
	if name, reason := r.rule.Missing(nil); name != "" {
		return nil, &ArtifactError{Package: r.blame(name), Path: name, Reason: reason}
	}
	return after, nil
}

// runTrusted starts one of safe-install's own containers (a listing, the
// decoy audit) and waits for it within the phase time limit: it runs a
// trusted command, but on a tree third-party code wrote.
func (r *runner) runTrusted(ctx context.Context, id, what string) error {
	tctx, cancel := context.WithTimeout(ctx, r.opts.Limits.Timeout)
	defer cancel()
	if err := r.eng.Start(tctx, id); err != nil {
		return fmt.Errorf("%w: %s: starting its container: %w", ErrEngine, what, err)
	}
	code, err := r.eng.Wait(tctx, id)
	switch {
	case tctx.Err() == context.DeadlineExceeded:
		_ = r.eng.Kill(context.WithoutCancel(ctx), id)
		return fmt.Errorf("%s ran past the %s time limit: %w; the tree the scripts left is not what a listing can finish", what, r.opts.Limits.Timeout, ErrTimeout)
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("%s interrupted: %w", what, ctx.Err())
	case err != nil || code != 0:
		return fmt.Errorf("%w: %s ended with %d: %v", ErrEngine, what, code, err)
	}
	return nil
}

// createVolume creates one of the run's volumes.
func (r *runner) createVolume(ctx context.Context, name string) error {
	return r.createVolumeSpec(ctx, engine.VolumeSpec{Name: name})
}

// createVolumeSpec creates one of the run's volumes, with its labels
// (reap.go), and removes it at the end.
func (r *runner) createVolumeSpec(ctx context.Context, v engine.VolumeSpec) error {
	v.Labels = r.labels
	if err := r.eng.CreateVolume(ctx, v); err != nil {
		return fmt.Errorf("%w: %w", ErrEngine, err)
	}
	r.volumes = append(r.volumes, v.Name)
	return nil
}

func (r *runner) create(ctx context.Context, spec engine.ContainerSpec) (string, error) {
	spec.Labels = r.labels
	id, err := r.eng.Create(ctx, spec)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrEngine, err)
	}
	r.containers = append(r.containers, id)
	r.log.Debug("container created", zap.String("name", spec.Name), zap.String("network", spec.Network),
		zap.Int64("memory_bytes", spec.MemoryBytes), zap.Int64("pids", spec.PidsLimit),
		zap.String("bounded_by", "rlimits nproc/data/fsize/nofile always; cgroup memory/pids where the engine enforces them (cgroup v2)"))
	return id, nil
}

func (r *runner) copyIn(ctx context.Context, id, dir string, inputs []Input) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeInputs(pw, inputs)) }()
	err := r.eng.CopyIn(ctx, id, dir, pr)
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("copying inputs into the sandbox: %w", err)
	}
	return nil
}

// phase starts a created container, waits for it within the time limit and
// turns its exit into a result or an error that names the package. With
// relay, the container's stdin and stdout carry its connections to the
// egress proxy, and its stderr is its output.
func (r *runner) phase(ctx context.Context, name, id string, relay bool) (PhaseResult, error) {
	log := r.log.With(zap.String("phase", name))
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, r.opts.Limits.Timeout)
	defer cancel()
	guard := diskGuard{eng: r.eng, volume: r.names.Work, bytes: r.opts.Limits.DiskBytes, files: r.opts.Limits.DiskFiles, log: log,
		kill: func() { _ = r.eng.Kill(context.WithoutCancel(ctx), id) }}
	pctx, stopGuard := guard.watch(tctx)
	defer stopGuard()
	out := newTailBuffer(256 << 10)
	var w io.Writer = out
	if ce := log.Check(zap.DebugLevel, "output"); ce != nil {
		w = io.MultiWriter(out, zapWriter{log})
	}
	thirdParty := name == "scripts" || name == "project"
	if thirdParty && r.decoyScan != nil {
		w = io.MultiWriter(w, r.decoyScan)
	}
	var attached chan error
	var stdin *io.PipeWriter
	if relay {
		var err error
		if attached, stdin, err = r.attachRelay(pctx, id, w); err != nil {
			return PhaseResult{}, err
		}
	}
	if err := r.eng.Start(pctx, id); err != nil {
		return PhaseResult{}, fmt.Errorf("%w: starting the %s container: %w", ErrEngine, name, err)
	}
	code, werr := r.eng.Wait(pctx, id)
	timedOut := tctx.Err() == context.DeadlineExceeded
	var disk *diskExceeded
	if errors.As(context.Cause(pctx), &disk) && ctx.Err() == nil && !timedOut {
		werr = nil // the guard's doing: reported below
	}
	if werr != nil || timedOut || disk != nil {
		// Kill it now, so that nothing it started lives on and its output
		// is complete for the message below.
		if err := r.eng.Kill(context.WithoutCancel(ctx), id); err != nil {
			log.Warn("killing the container", zap.Error(err))
		}
	}
	if relay {
		stdin.Close()
		select {
		case <-attached:
		case <-time.After(10 * time.Second):
			log.Warn("the relay's stream did not end")
		}
	} else {
		_ = r.eng.Logs(context.WithoutCancel(ctx), id, w)
	}
	res := PhaseResult{Name: name, Container: id, ExitCode: code, Duration: time.Since(start), Scripts: r.output().Scripts(out.String())}
	r.res.Phases = append(r.res.Phases, res)
	log.Debug("phase ended", zap.Int("exit_code", code), zap.Duration("took", res.Duration))
	switch {
	case disk != nil:
		pkg, _ := r.output().Failure(out.String())
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s %s, over the disk limit (phase %s), and was stopped: %w; raise --disk or --disk-files if it legitimately needs more (the count covers the whole filesystem, so other programs writing at the same time add to it)",
			pkg, disk, name, ErrLimit)
	case timedOut:
		pkg, _ := r.output().Failure(out.String())
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		hint := "raise --timeout if it is legitimately slow"
		switch {
		case name != "fetch" && networkError.MatchString(LastLines(out.String(), 20)):
			hint = "it was trying to reach the network, and install scripts and builds have no network here (only lo), by design: it would have waited forever"
		case name != "fetch":
			hint += "; install scripts and builds have no network here, so one that waits for a download never finishes"
		}
		return res, fmt.Errorf("%s ran past the %s time limit (phase %s): %w; %s", pkg, r.opts.Limits.Timeout, name, ErrTimeout, hint)
	case werr != nil:
		if ctx.Err() != nil {
			return res, fmt.Errorf("%s phase interrupted: %w", name, ctx.Err())
		}
		return res, fmt.Errorf("%w: waiting for the %s container: %w", ErrEngine, name, werr)
	case code == 0:
		return res, nil
	}
	tail := LastLines(out.String(), 20)
	pkg, cmd := r.output().Failure(out.String())
	if oom, _ := r.eng.OOMKilled(context.WithoutCancel(ctx), id); oom || outOfMemory.MatchString(tail) {
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s ran out of memory (phase %s, limit %d bytes): %w; raise --memory if it legitimately needs more\n%s",
			pkg, name, r.opts.Limits.MemoryBytes, ErrLimit, Indent(tail))
	}
	if outOfSpace.MatchString(tail) {
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s ran out of space in the sandbox (phase %s; the work directory holds at most %s and %d files, --disk and --disk-files; /tmp %s): %w; raise them if it legitimately needs more\n%s",
			pkg, name, humanBytes(r.opts.Limits.DiskBytes), r.opts.Limits.DiskFiles, humanBytes(r.opts.Limits.TmpBytes), ErrLimit, Indent(tail))
	}
	if outOfProcesses.MatchString(tail) {
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s hit the process limit (phase %s, %d processes): %w; raise --pids if it legitimately needs more\n%s",
			pkg, name, r.opts.Limits.Pids, ErrLimit, Indent(tail))
	}
	if thirdParty {
		se := &ScriptError{Kind: r.output().Kind(), Package: pkg, Script: cmd, Code: code, Tail: tail}
		for _, sr := range res.Scripts {
			if sr.Package == pkg {
				se.Event = sr.Event // the last one announced for it
			}
		}
		if networkError.MatchString(tail) {
			se.Hint = "it tried to reach the network: install scripts run with no network here (only lo), by design. " +
				"Packages that download at install time (browsers, prebuilt binaries) usually have a switch to skip it " +
				"(puppeteer: PUPPETEER_SKIP_DOWNLOAD, cypress: CYPRESS_INSTALL_BINARY=0) or build from source; " +
				"safe-install has no per-package network allowance yet, so drop the package or fetch what it needs at first use"
		}
		return res, se
	}
	return res, &PhaseError{Phase: name, Package: pkg, Code: code, Tail: tail}
}

// attachRelay attaches to a created container before it starts: its stdout
// feeds the relay's frames to the egress proxy, replies go to its stdin, and
// its stderr (the package manager's output) to out.
func (r *runner) attachRelay(ctx context.Context, id string, out io.Writer) (chan error, *io.PipeWriter, error) {
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	go func() { _ = r.egress.Relay(stdinW, stdoutR) }()
	ready := make(chan bool, 1)
	done := make(chan error, 1)
	go func() {
		err := r.eng.Attach(context.WithoutCancel(ctx), id, stdinR, stdoutW, out, ready)
		stdoutW.Close()
		done <- err
	}()
	select {
	case <-ready:
		return done, stdinW, nil
	case err := <-done:
		return nil, nil, fmt.Errorf("%w: attaching to the fetch container: %w", ErrEngine, err)
	case <-time.After(30 * time.Second):
		return nil, nil, fmt.Errorf("%w: attaching to the fetch container timed out", ErrEngine)
	}
}

// zapWriter logs container output line by line at debug level.
type zapWriter struct{ log *zap.Logger }

func (z zapWriter) Write(p []byte) (int, error) {
	z.log.Debug(escape.Text(string(bytes.TrimRight(p, "\r\n"))))
	return len(p), nil
}

// emptyDir says whether dir is a directory with nothing in it.
func emptyDir(dir string) bool {
	f, err := os.Open(dir)
	if err != nil {
		return false
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	return len(names) == 0 && errors.Is(err, io.EOF)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// makeStaging creates the private directory beside the targets, on the same
// filesystem, so that the swap is a rename.
func (r *runner) makeStaging() error {
	// The artifacts go below a subdirectory whose inodes are placed away
	// from those the old tree freed (spread.go).
	outer, dir, err := makeSpreadDir(r.plan.Project, ".safe-install-")
	if err != nil {
		return fmt.Errorf("creating a staging directory in %s: %w", r.plan.Project, err)
	}
	r.stagingRoot, r.staging = outer, dir
	return nil
}

// stream runs consume on a tar stream of name (below WorkDir) copied out of
// a stopped container, and returns consume's error or the copy's.
func (r *runner) stream(ctx context.Context, id, name string, consume func(io.Reader) error) error {
	return r.streamPath(ctx, id, path.Join(WorkDir, name), consume)
}

// streamPath is stream for any absolute path in the container.
func (r *runner) streamPath(ctx context.Context, id, name string, consume func(io.Reader) error) error {
	pr, pw := io.Pipe()
	// An io.Pipe hands each write over only when the reader has taken
	// it, so the producer and the extractor took turns: a buffer on each
	// side lets them run at once (the bench tree's local copy: 1.2-1.3 s
	// to 0.84-0.88 s, measured).
	bw := bufio.NewWriterSize(pw, 1<<20)
	done := make(chan error, 1)
	produce := func() error { return r.eng.CopyOut(ctx, id, name, bw) }
	if rel, ok := strings.CutPrefix(name, WorkDir+"/"); ok && r.localWork != "" && readableTree(r.localWork, rel) {
		// The work volume is on this machine: read it directly (see
		// localcopy.go); the stream is the same.
		produce = func() error { return writeTar(ctx, bw, r.localWork, rel) }
	}
	go func() {
		err := produce()
		if err == nil {
			err = bw.Flush()
		}
		pw.CloseWithError(err)
		done <- err
	}()
	// The tar reader asks for 512-byte headers; a buffer saves a goroutine
	// hand-off through the pipe for each.
	br := bufio.NewReaderSize(pr, 1<<20)
	err := consume(br)
	if err == nil {
		// A tar reader stops at the end-of-archive marker; the padding
		// after it must still be read, or the engine's copy fails on a
		// closed pipe.
		_, err = io.Copy(io.Discard, io.LimitReader(br, 1<<20))
	}
	pr.CloseWithError(errors.New("reading stopped"))
	cerr := <-done
	var refused *archive.RefusedError
	if errors.As(err, &refused) {
		return &ArtifactError{Package: r.blame(refused.Path), Path: refused.Path, Reason: refused.Reason}
	}
	if cerr != nil {
		return fmt.Errorf("copying %s out of the sandbox: %w", name, cerr)
	}
	return err
}

// copyBack streams name out of a stopped container through the validating
// extractor into the staging directory.
func (r *runner) copyBack(ctx context.Context, id, name string, extract func(io.Reader, string, string, archive.Limits) (archive.Stats, error)) error {
	var stats archive.Stats
	err := r.stream(ctx, id, name, func(rd io.Reader) (err error) {
		if r.copied != nil {
			rd = countingReader{rd, r.copied}
		}
		stats, err = extract(rd, r.staging, name, r.opts.Limits.Extract)
		return err
	})
	if err != nil {
		return err
	}
	if !slices.Contains(r.plan.Artifacts, name) && !slices.Contains(r.plan.Manifests, name) {
		return nil // staged for a check (the lockfile), not what comes back
	}
	r.res.Copied.Files += stats.Files
	r.res.Copied.Dirs += stats.Dirs
	r.res.Copied.Symlinks += stats.Symlinks
	r.res.Copied.Hardlinks += stats.Hardlinks
	r.res.Copied.Bytes += stats.Bytes
	return nil
}

// countingReader adds what it reads to n.
type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c countingReader) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// blame names who is to answer for a refused entry: the package that holds
// it or, for an entry outside every package (node_modules/.bin), the
// packages whose scripts ran.
func (r *runner) blame(entry string) string {
	if pkg := r.owner(entry); pkg != "" || r.rule == nil {
		return pkg
	}
	return "the scripts of " + r.rule.Culprits()
}

// owner names the package that holds an artifact entry, as the manager
// knows it.
func (r *runner) owner(entry string) string {
	if r.session == nil {
		return ""
	}
	return r.session.Owner(entry, r.staging)
}

func (r *runner) cleanup() {
	if r.releaseWork != nil {
		r.releaseWork()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	defer func() { r.log.Debug("cleaned up", zap.Duration("took", time.Since(start))) }()
	// Each removal waits on the engine or the disk, not on the others: run
	// them side by side (the staging directory holds the old tree after a
	// swap). Volumes go once the containers that use them are gone.
	var wg sync.WaitGroup
	each := func(items []string, remove func(string) error, what string) {
		for _, it := range items {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := remove(it); err != nil {
					r.log.Warn("removing "+what, zap.String("name", it), zap.Error(err))
				}
			}()
		}
	}
	if r.stagingRoot != "" {
		each([]string{r.stagingRoot}, removeSpread, "the staging directory")
	}
	if r.auditFinished != nil {
		select {
		case <-r.auditFinished:
		case <-ctx.Done():
		}
	}
	if r.opts.Keep {
		r.res.Kept = append(append([]string{}, r.containers...), r.volumes...)
		wg.Wait()
		return
	}
	each(r.containers, func(id string) error { return r.eng.Remove(ctx, id) }, "a container")
	wg.Wait()
	each(r.volumes, func(v string) error { return r.eng.RemoveVolume(ctx, v) }, "a volume")
	wg.Wait()
}

// files reads the container id's files for a session (Files).
func (r *runner) files(id string) Files { return containerFiles{r, id} }

type containerFiles struct {
	r  *runner
	id string
}

func (c containerFiles) Read(ctx context.Context, name string, max int64) ([]byte, error) {
	var data []byte
	err := c.r.streamPath(ctx, c.id, name, func(rd io.Reader) error {
		tr := tar.NewReader(rd)
		hdr, err := tr.Next()
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size > max {
			return fmt.Errorf("%s is no regular file of at most %d bytes", name, max)
		}
		data, err = io.ReadAll(io.LimitReader(tr, max))
		return err
	})
	if err != nil && isNotExist(err) {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return data, err
}

func (c containerFiles) Walk(ctx context.Context, dir string, max int64, fn func(name string, data []byte) error) error {
	return c.r.streamPath(ctx, c.id, dir, func(rd io.Reader) error {
		tr := tar.NewReader(rd)
		for {
			hdr, err := tr.Next()
			if err != nil {
				return nil // the end, or a stream no file is in
			}
			if hdr.Typeflag != tar.TypeReg || hdr.Size > max {
				continue
			}
			data, err := io.ReadAll(io.LimitReader(tr, max))
			if err != nil {
				return err
			}
			if err := fn(path.Base(hdr.Name), data); err != nil {
				return err
			}
		}
	})
}

func (c containerFiles) Stage(ctx context.Context, name string) (string, error) {
	r := c.r
	if !r.staged[name] && !slices.Contains(r.plan.Manifests, name) {
		if err := r.copyBack(ctx, c.id, name, archive.ExtractFile); err != nil {
			var ae *ArtifactError
			if errors.As(err, &ae) {
				return "", err
			}
			r.log.Debug("no such file after the fetch", zap.String("name", name), zap.Error(err))
			return "", nil
		}
	}
	r.staged[name] = true
	return filepath.Join(r.staging, name), nil
}

// isNotExist says whether copying out failed because the path is not
// there (the archive endpoint's 404, the local walk's ENOENT).
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "no such file") || strings.Contains(err.Error(), "not found")
}

// output is the plan's output reader; one that knows nothing when the plan
// names none.
func (r *runner) output() OutputParser {
	if r.plan.Output == nil {
		return noOutput{}
	}
	return r.plan.Output
}

type noOutput struct{}

func (noOutput) Kind() string                    { return "install script" }
func (noOutput) Scripts(string) []ScriptRun      { return nil }
func (noOutput) Failure(string) (string, string) { return "", "" }
func (noOutput) Label(s ScriptRun) string        { return s.Event }
