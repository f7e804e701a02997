package sandbox

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
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
	// Cooldown refuses package versions younger than Cooldown.Min (npm).
	Cooldown ReleaseAge
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
	Image  string        `json:"image"`
	Engine EngineInfo    `json:"engine"`
	Phases []PhaseResult `json:"phases"`
	Copied archive.Stats `json:"copied"`
	// Seccomp holds each phase's profile hash.
	Seccomp map[seccomp.Phase]string `json:"seccomp"`
	Swapped []string                 `json:"swapped"`
	// Contacted and Refused are what the fetch phase's egress proxy saw.
	Contacted []string  `json:"contacted"`
	Refused   []Refusal `json:"refused,omitempty"`
	Kept      []string  `json:"kept,omitempty"` // with --keep: what was left behind
	// Installed is what a plan's host install step put into the host
	// environment (pip).
	Installed *Installed `json:"installed,omitempty"`
	// Decoys are the decoy credentials planted in the scripts container,
	// and Theft what packages did with them.
	Decoys []string       `json:"decoys,omitempty"`
	Theft  []TheftAttempt `json:"theft_attempts,omitempty"`
	// Timings split the run into its steps.
	Timings []Timing `json:"timings"`
}

// Run carries out a plan in the sandbox and, when every phase succeeded and
// every artifact entry passed validation, swaps the artifacts into the
// project. On any error the project is as it was.
func Run(ctx context.Context, eng Engine, p *Plan, opts Options) (_ *Result, runErr error) {
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
	r := &runner{eng: eng, plan: p, opts: opts, log: log, res: &Result{Image: opts.Image, Engine: info},
		steps: newSteps(opts.Progress, opts.Live, opts.Quiet), watch: newStopwatch()}
	defer r.steps.end()
	r.names = namesFor(newRunID(), p.Manager, info.IDMap)
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
	eng         Engine
	plan        *Plan
	opts        Options
	log         *zap.Logger
	names       Names
	res         *Result
	containers  []string
	volumes     []string
	staging     string // where the artifacts are staged, inside stagingRoot
	stagingRoot string
	profiles    Profiles
	egress      *Egress
	steps       *steps
	watch       *stopwatch
	decoys      *decoys
	decoyScan   *outputScanner
	tamper      *tamperCheck
	copied      *atomic.Int64   // bytes of the current copy-back, for progress
	lockStaged  bool            // the fetched lockfile is in the staging directory
	scriptDirs  map[string]bool // from it: the package directories that run scripts
	lockRead    bool            // scriptDirs is settled
	// auditFinished is closed when the decoy audit's goroutine is done
	// with its container; clean-up waits for it, or a removal racing the
	// audit's start leaves the container (and so its volume) behind.
	auditFinished chan struct{}
	// localWork is where this machine can read the work volume (a local
	// engine: through the holder container's root, see ContainerDir), for
	// copy-back without the archive endpoint; "" otherwise.
	localWork string
}

// checkReleaseAge applies the cooldown to the lockfile as the fetch left
// it, before any third-party code runs.
func (r *runner) checkReleaseAge(ctx context.Context, fetchID string) error {
	if r.opts.Cooldown.Min <= 0 {
		return nil
	}
	p := r.plan
	if p.Lockfile == "" {
		return fmt.Errorf("%w: --min-release-age works with npm only: %s's index gives no publication times", ErrPolicy, p.Manager)
	}
	lock, err := r.stageLockfile(ctx, fetchID)
	if err != nil {
		return err
	}
	if lock == "" {
		return fmt.Errorf("%w: --min-release-age needs the lockfile, and this install writes none", ErrPolicy)
	}
	r.steps.begin("checking publication times (--min-release-age %s)", shortDuration(r.opts.Cooldown.Min))
	defer r.steps.end()
	return r.opts.Cooldown.Check(ctx, lock, p.Registries)
}

// baseline reads the hashes the fetch container listed after npm (the
// plan's Baseline file) or, for a plan without that list, hashes the
// artifacts as they stream out of the stopped fetch container.
func (r *runner) baseline(ctx context.Context, fetchID string) (archive.Sums, error) {
	sums := archive.Sums{}
	if r.plan.Baseline == "" {
		for _, a := range r.plan.Artifacts {
			if err := r.stream(ctx, fetchID, a, func(rd io.Reader) error {
				s, err := archive.Hash(rd, a, r.opts.Limits.Extract)
				maps.Copy(sums, s)
				return err
			}); err != nil {
				return nil, err
			}
		}
		return sums, nil
	}
	return r.readSums(ctx, fetchID, r.plan.Baseline)
}

// readSums reads a `sha256sum -z` list that a trusted command left in the
// work volume.
func (r *runner) readSums(ctx context.Context, id, file string) (archive.Sums, error) {
	sums := archive.Sums{}
	err := r.stream(ctx, id, file, func(rd io.Reader) error {
		tr := tar.NewReader(rd)
		if _, err := tr.Next(); err != nil {
			return fmt.Errorf("reading the file hashes in %s: %w", file, err)
		}
		return parseSums(io.LimitReader(tr, 1<<30), sums)
	})
	return sums, err
}

// parseSums reads `sha256sum -z` output: "HEX  NAME\0" records.
func parseSums(rd io.Reader, sums archive.Sums) error {
	data, err := io.ReadAll(rd)
	if err != nil {
		return err
	}
	for _, rec := range bytes.Split(data, []byte{0}) {
		if len(rec) == 0 {
			continue
		}
		sum, name, ok := bytes.Cut(rec, []byte("  "))
		var s archive.Sum
		if n, err := hex.Decode(s[:], sum); !ok || err != nil || n != len(s) {
			return fmt.Errorf("the fetch's file hashes: a malformed record %q", rec)
		}
		sums[path.Clean(string(name))] = s
	}
	return nil
}

// stageLockfile puts the lockfile as the fetch left it (before any
// third-party code ran) into the staging directory, once, and returns it;
// "" when the fetch left none (npm install --no-package-lock).
func (r *runner) stageLockfile(ctx context.Context, fetchID string) (string, error) {
	p := r.plan
	if !r.lockStaged && !slices.Contains(p.Manifests, p.Lockfile) {
		if err := r.copyBack(ctx, fetchID, p.Lockfile, archive.ExtractFile); err != nil {
			var ae *ArtifactError
			if errors.As(err, &ae) {
				return "", err
			}
			r.log.Debug("no lockfile after the fetch", zap.Error(err))
			return "", nil
		}
	}
	r.lockStaged = true
	return filepath.Join(r.staging, p.Lockfile), nil
}

// scriptCount says how many packages will run scripts, for the progress
// line ("" when the lockfile cannot say).
func (r *runner) scriptCount(ctx context.Context, fetchID string) string {
	if dirs, ok, err := r.lockScripts(ctx, fetchID); err == nil && ok {
		return fmt.Sprintf(" (%s)", pluralize(len(dirs), "package"))
	}
	return ""
}

// lockScripts reads, once, which package directories run scripts: from the
// lockfile as the fetch left it, and the policy. ok is false when there is
// no lockfile or it is older than npm 7's (which does not say).
func (r *runner) lockScripts(ctx context.Context, fetchID string) (map[string]bool, bool, error) {
	if r.lockRead || r.plan.Lockfile == "" {
		return r.scriptDirs, r.scriptDirs != nil, nil
	}
	r.lockRead = true
	lock, err := r.stageLockfile(ctx, fetchID)
	if err != nil || lock == "" {
		return nil, false, err
	}
	var l npmLockfile
	if data, err := os.ReadFile(lock); err == nil {
		_ = json.Unmarshal(data, &l)
	}
	dirs, ok := scriptDirs(l, r.plan.Policy)
	if ok {
		r.scriptDirs = dirs
	}
	return dirs, ok, nil
}

func pluralize(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// ranScripts says, per package directory, whether its scripts ran: from
// the fetched lockfile and the policy. Only a lockfile older than npm 7's
// (which does not say) falls back to the packages npm announced.
func (r *runner) ranScripts(ctx context.Context, fetchID string, ph PhaseResult) (func(dir string) bool, error) {
	dirs, ok, err := r.lockScripts(ctx, fetchID)
	if err != nil {
		return nil, err
	}
	if ok {
		return func(dir string) bool { return dirs[dir] }, nil
	}
	r.log.Warn("the lockfile does not say which packages have install scripts; trusting npm's output for the tamper check")
	names := map[string]bool{}
	for _, s := range ph.Scripts {
		names[policyName(s.Package)] = true
	}
	return func(dir string) bool { return names[packageOf(dir+"/package.json")] }, nil
}

// fetchSummary is the fetch command without the relay in front of it.
func fetchSummary(p *Plan) string {
	cmd := p.Fetch.Command
	if len(cmd) > 2 && cmd[0] == "node" && strings.HasSuffix(cmd[1], "/relay.js") {
		cmd = cmd[2:]
	}
	if len(cmd) > 3 && cmd[0] == "sh" && cmd[2] == baselineScript {
		cmd = append([]string{"npm"}, cmd[4:]...)
	}
	if len(cmd) > 1 && strings.HasSuffix(cmd[1], "/pipfetch.py") {
		for i, a := range cmd {
			if a == "--" {
				return "pip download " + strings.Join(cmd[i+1:], " ")
			}
		}
	}
	return strings.Join(cmd, " ")
}

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func (r *runner) progress(format string, args ...any) { r.steps.note(format, args...) }

func (r *runner) run(ctx context.Context) error {
	p := r.plan
	var err error
	if r.profiles, r.res.Seccomp, err = ensureProfiles(ctx, r.eng, r.opts.Image); err != nil {
		return err
	}
	// The work volume is a tmpfs: on this machine's ext4, creating a
	// file cost about 0.8 ms in the inode allocator (perf: ext4's
	// recently_deleted scan), so node_modules written to a disk volume and
	// again to the project cost twice what plain npm's one write costs.
	// In memory, only the copy into the project touches the disk.
	if err := r.eng.CreateMemoryVolume(ctx, r.names.Work, r.opts.Limits.DiskBytes, r.opts.Limits.DiskFiles); err != nil {
		return fmt.Errorf("%w: %w", ErrEngine, err)
	}
	r.volumes = append(r.volumes, r.names.Work)
	if err := r.eng.CreateVolume(ctx, r.names.FetchConfig); err != nil {
		return fmt.Errorf("%w: %w", ErrEngine, err)
	}
	r.volumes = append(r.volumes, r.names.FetchConfig)
	if err := r.eng.CreateVolume(ctx, r.names.Cache); err != nil {
		return fmt.Errorf("%w: %w", ErrEngine, err)
	}
	holder, err := r.create(ctx, HolderSpec(r.opts.Image, r.names, r.opts.Limits, r.profiles))
	if err != nil {
		return err
	}
	if err := r.eng.Start(ctx, holder); err != nil {
		return fmt.Errorf("%w: starting the container that holds the work volume: %w", ErrEngine, err)
	}
	if dir, done, err := r.eng.ContainerDir(ctx, holder, WorkDir); err == nil {
		r.localWork = dir
		defer done()
	} else {
		r.log.Debug("copy-back goes through the engine's archive endpoint", zap.Error(err))
	}

	if r.egress, err = NewEgress(p.Registries); err != nil {
		return err
	}
	fetchOnly := append(append([]Input{}, p.FetchOnly...),
		Input{Name: "ca.pem", Data: r.egress.CACert(), Mode: 0o644},
		Input{Name: "relay.js", Data: relayScript, Mode: 0o644})
	fetch := FetchSpec(p, r.opts.Image, r.names, r.opts.Limits, r.profiles)
	r.watch.lap("prepare")
	r.steps.begin("fetching: %s (%d input files copied in)", fetchSummary(p), len(p.Inputs))
	fetchID, err := r.create(ctx, fetch)
	if err != nil {
		return err
	}
	if err := r.copyIn(ctx, fetchID, WorkDir, p.Inputs); err != nil {
		return err
	}
	if err := r.copyIn(ctx, fetchID, FetchConfigDir, fetchOnly); err != nil {
		return err
	}
	r.watch.lap("copy-in")
	_, err = r.phase(ctx, "fetch", fetchID, true)
	r.res.Contacted, r.res.Refused = r.egress.Contacted(), r.egress.Refused()
	if err != nil {
		return err
	}
	r.watch.lap("fetch")

	if err := r.makeStaging(); err != nil {
		return err
	}
	// Manifests come from here, before any third-party code ran, so no
	// script can rewrite what the user's package.json says (invariant 9).
	for _, m := range p.Manifests {
		if err := r.copyBack(ctx, fetchID, m, archive.ExtractFile); err != nil {
			return err
		}
	}

	if err := r.checkReleaseAge(ctx, fetchID); err != nil {
		return err
	}

	from := fetchID
	extract := func(rd io.Reader, dest, root string, lim archive.Limits) (archive.Stats, error) {
		return archive.ExtractWith(rd, dest, root, lim, archive.Options{Links: p.LinkTargets})
	}
	waitAudit := func() error { return nil }
	deps := p.Scripts
	if dirs, ok, err := r.lockScripts(ctx, fetchID); deps != nil && err == nil && ok && len(dirs) == 0 {
		deps = nil // the fetched lockfile lists no package with install scripts
	}
	if deps == nil && p.ProjectScripts == nil {
		r.steps.end()
		r.progress("no install scripts to run: no scripts container")
	} else {
		// What npm extracted, before any third-party code ran: the
		// baseline that tells a package's own build from tampering.
		var before archive.Sums
		if p.TamperCheck {
			if before, err = r.baseline(ctx, fetchID); err != nil {
				return err
			}
		}
		if err := r.plantDecoys(ctx); err != nil {
			return err
		}
		r.watch.lap("baseline")
		var ran []ScriptRun // every phase's, for the decoy audit
		if deps != nil {
			id, ph, err := r.scriptsPhase(ctx, "scripts", ScriptsSpec(r.names.Scripts, *deps, r.opts.Image, r.names, r.opts.Limits, r.profiles, r.decoys.env),
				nil, fmt.Sprintf("running %ss with no network%s", p.output().Kind(), r.scriptCount(ctx, fetchID)))
			if err != nil {
				return err
			}
			from, ran = id, ph.Scripts
			r.watch.lap("scripts")
			if p.TamperCheck {
				pkgRan, err := r.ranScripts(ctx, fetchID, ph)
				if err != nil {
					return err
				}
				r.tamper = newTamperCheck(before, pkgRan)
			}
		}
		if p.ProjectScripts != nil {
			if r.tamper != nil {
				// The dependencies' scripts are over: settle what they did
				// before the project's own scripts, which may change other
				// packages by design (patch-package), run.
				if before, err = r.checkDependencyScripts(ctx); err != nil {
					return err
				}
				r.watch.lap("hash")
			}
			id, ph, err := r.scriptsPhase(ctx, "project", ScriptsSpec(r.names.Scripts+"-project", *p.ProjectScripts, r.opts.Image, r.names, r.opts.Limits, r.profiles, r.decoys.env),
				p.ProjectInputs, "running the project's own scripts with no network: "+strings.Join(p.ProjectEvents, ", "))
			if err != nil {
				return err
			}
			from, ran = id, append(ran, ph.Scripts...)
			r.watch.lap("project")
			r.progress("note: the project's own scripts ran in the sandbox; what they set up outside node_modules (git hooks, build output) stays there: run them on the host if you need that (npm run %s)", p.ProjectEvents[len(p.ProjectEvents)-1])
			if p.TamperCheck {
				earlier := r.tamper
				// Whatever the project's scripts changed is the project's
				// doing, wherever in node_modules.
				r.tamper = newTamperCheck(before, func(string) bool { return true })
				if earlier != nil {
					r.tamper.earlier = earlier.changed
				}
			}
		}
		waitAudit = r.startAudit(ctx, PhaseResult{Scripts: ran})
		if r.tamper != nil {
			extract = func(rd io.Reader, dest, root string, lim archive.Limits) (archive.Stats, error) {
				return archive.ExtractWith(rd, dest, root, lim, archive.Options{Check: r.tamper.check, Links: p.LinkTargets})
			}
		}
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
	if r.tamper != nil {
		if name, reason := r.tamper.deleted(); name != "" {
			return &ArtifactError{Package: r.owner(name), Path: name, Reason: reason}
		}
		out := r.tamper.outside()
		for _, dir := range sortedKeys(out) {
			r.steps.warn("install scripts wrote outside any package: %s (%s; allowed: a generated client such as Prisma's lives there)", dir, pluralize(out[dir], "file"))
		}
	}
	if err := waitAudit(); err != nil {
		return err
	}
	if err := r.decoysInArtifacts(); err != nil {
		return err
	}
	if err := r.reportTheft(); err != nil {
		return err
	}
	if p.Check != nil {
		warnings, err := p.Check(r.staging)
		if err != nil {
			var ae *ArtifactError
			if errors.As(err, &ae) && ae.Package == "" {
				ae.Package = r.owner(ae.Path)
			}
			return err
		}
		for _, w := range warnings {
			r.steps.warn("a bin shadows a common command: %s", w)
		}
	}
	if err := checkNative(r.res.Engine, r.staging); err != nil {
		return err
	}
	r.watch.lap("checks")
	if p.Install != nil {
		inst, err := p.Install(ctx, r.staging, r.steps)
		r.res.Installed = inst
		r.watch.lap("host install")
		return err
	}
	names := append(append([]string{}, p.Manifests...), p.Artifacts...)
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
	r.decoys = newDecoys()
	r.decoyScan = newOutputScanner(r.decoys)
	if err := r.eng.CreateVolume(ctx, r.names.Home); err != nil {
		return fmt.Errorf("%w: %w", ErrEngine, err)
	}
	r.volumes = append(r.volumes, r.names.Home)
	for _, f := range sortedKeys(r.decoys.files) {
		r.res.Decoys = append(r.res.Decoys, "~/"+f)
	}
	r.res.Decoys = append(r.res.Decoys, sortedKeys(r.decoys.env)...)
	return nil
}

// scriptsPhase runs one container of third-party scripts: it gets the
// decoys (the first one fills the home volume) and inputs, and what ran
// is printed.
func (r *runner) scriptsPhase(ctx context.Context, name string, spec ContainerSpec, inputs []Input, title string) (string, PhaseResult, error) {
	id, err := r.create(ctx, spec)
	if err != nil {
		return "", PhaseResult{}, err
	}
	if !r.decoys.planted {
		if err := r.copyIn(ctx, id, DecoyHome, r.decoys.inputs()); err != nil {
			return "", PhaseResult{}, err
		}
		r.decoys.planted = true
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
	r.scriptTimes(ctx, id, ph.Scripts)
	if len(ph.Scripts) > 0 {
		r.steps.end()
		var ran []string
		for _, sr := range ph.Scripts {
			d := ""
			if sr.DurationMS > 0 {
				d = fmt.Sprintf(" %.1fs", float64(sr.DurationMS)/1000)
			}
			ev := sr.Event
			if sr.Command == "node-gyp rebuild" {
				// Often implicit: npm adds it for a binding.gyp, and gyp
				// runs the commands that file names (THREATS RT-62).
				ev += " (node-gyp rebuild)"
			}
			ran = append(ran, sr.Package+" "+ev+d)
		}
		r.progress("ran: %s", strings.Join(ran, ", "))
	}
	return id, ph, nil
}

// checkDependencyScripts applies the tamper check to what the
// dependencies' scripts left, hashed by a trusted command in a fresh
// container (no script's process is alive to change it afterwards), and
// returns those hashes as the baseline of the project's own scripts.
func (r *runner) checkDependencyScripts(ctx context.Context) (archive.Sums, error) {
	id, err := r.create(ctx, hashSpec(r.opts.Image, r.names, r.opts.Limits, r.profiles))
	if err != nil {
		return nil, err
	}
	if err := r.eng.Start(ctx, id); err != nil {
		return nil, fmt.Errorf("%w: starting the hash container: %w", ErrEngine, err)
	}
	if code, err := r.eng.Wait(ctx, id); err != nil || code != 0 {
		return nil, fmt.Errorf("%w: hashing node_modules ended with %d: %v", ErrEngine, code, err)
	}
	sums, err := r.readSums(ctx, id, MidBaselineFile)
	if err != nil {
		return nil, err
	}
	for _, name := range sortedKeys(sums) {
		if reason := r.tamper.check(name, sums[name]); reason != "" {
			return nil, &ArtifactError{Package: r.owner(name), Path: name, Reason: reason}
		}
	}
	if name, reason := r.tamper.deleted(); name != "" {
		return nil, &ArtifactError{Package: r.owner(name), Path: name, Reason: reason}
	}
	return sums, nil
}

func (r *runner) create(ctx context.Context, spec ContainerSpec) (string, error) {
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
	res := PhaseResult{Name: name, Container: id, ExitCode: code, Duration: time.Since(start), Scripts: r.plan.output().Scripts(out.String())}
	r.res.Phases = append(r.res.Phases, res)
	log.Debug("phase ended", zap.Int("exit_code", code), zap.Duration("took", res.Duration))
	switch {
	case disk != nil:
		pkg, _ := r.plan.output().Failure(out.String())
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s %s, over the disk limit (phase %s), and was stopped: %w; raise --disk or --disk-files if it legitimately needs more (the count covers the whole filesystem, so other programs writing at the same time add to it)",
			pkg, disk, name, ErrLimit)
	case timedOut:
		pkg, _ := r.plan.output().Failure(out.String())
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		hint := "raise --timeout if it is legitimately slow"
		switch {
		case name != "fetch" && networkError.MatchString(lastLines(out.String(), 20)):
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
	tail := lastLines(out.String(), 20)
	pkg, cmd := r.plan.output().Failure(out.String())
	if oom, _ := r.eng.OOMKilled(context.WithoutCancel(ctx), id); oom || outOfMemory.MatchString(tail) {
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s ran out of memory (phase %s, limit %d bytes): %w; raise --memory if it legitimately needs more\n%s",
			pkg, name, r.opts.Limits.MemoryBytes, ErrLimit, indent(tail))
	}
	if outOfSpace.MatchString(tail) {
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s ran out of space in the sandbox (phase %s; the work directory holds at most %s and %d files, --disk and --disk-files; /tmp %s): %w; raise them if it legitimately needs more\n%s",
			pkg, name, humanBytes(r.opts.Limits.DiskBytes), r.opts.Limits.DiskFiles, humanBytes(r.opts.Limits.TmpBytes), ErrLimit, indent(tail))
	}
	if outOfProcesses.MatchString(tail) {
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s hit the process limit (phase %s, %d processes): %w; raise --pids if it legitimately needs more\n%s",
			pkg, name, r.opts.Limits.Pids, ErrLimit, indent(tail))
	}
	if thirdParty {
		se := &ScriptError{Kind: r.plan.output().Kind(), Package: pkg, Script: cmd, Code: code, Tail: tail}
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
	mux := newRelayMux(stdinW, r.egress.ServeConn)
	go func() { _ = mux.run(stdoutR) }()
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
	z.log.Debug(string(bytes.TrimRight(p, "\r\n")))
	return len(p), nil
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
		return &ArtifactError{Package: r.owner(refused.Path), Path: refused.Path, Reason: refused.Reason}
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
	r.res.Copied.Files += stats.Files
	r.res.Copied.Dirs += stats.Dirs
	r.res.Copied.Symlinks += stats.Symlinks
	r.res.Copied.Hardlinks += stats.Hardlinks
	r.res.Copied.Bytes += stats.Bytes
	return nil
}

// scriptTimes fills in how long each script ran from the package
// manager's own record (npm --timing: "build:run:install:node_modules/x"
// in milliseconds). It is informational: a script could rewrite the file,
// so nothing is decided on it, and a missing record leaves no duration.
func (r *runner) scriptTimes(ctx context.Context, id string, runs []ScriptRun) {
	if r.plan.Timings == "" || len(runs) == 0 {
		return
	}
	var timers map[string]float64
	err := r.streamPath(ctx, id, r.plan.Timings, func(rd io.Reader) error {
		tr := tar.NewReader(rd)
		for {
			hdr, err := tr.Next()
			if err != nil {
				return nil
			}
			if !strings.HasSuffix(hdr.Name, "-timing.json") || hdr.Size > 4<<20 {
				continue
			}
			var doc struct {
				Timers map[string]float64 `json:"timers"`
			}
			if json.NewDecoder(tr).Decode(&doc) == nil {
				timers = doc.Timers // names sort by time: the last is this run's
			}
		}
	})
	if err != nil {
		r.log.Debug("no script timings", zap.Error(err))
		return
	}
	for i, s := range runs {
		for key, ms := range timers {
			rest, ok := strings.CutPrefix(key, "build:run:"+s.Event+":")
			if ok && packageOf(rest+"/package.json") == policyName(s.Package) {
				runs[i].DurationMS = int64(ms)
			}
		}
	}
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

// owner names the package that holds an archive path, as name@version when
// the staged tree already has its package.json.
func (r *runner) owner(entry string) string {
	name := packageOf(entry)
	if name == "" {
		return ""
	}
	if v := stagedVersion(filepath.Join(r.staging, filepath.FromSlash(packageDir(entry)))); v != "" {
		return name + "@" + v
	}
	return name
}

func (r *runner) cleanup() {
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
