package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/diskguard"
	"github.com/safe-install/safe-install/sandbox/internal/faultpoint"
	"github.com/safe-install/safe-install/sandbox/internal/tail"
)

// scriptsPhase runs one container of third-party scripts: it gets the
// decoys (the first one fills the home volume) and inputs, and what ran
// is printed.
func (r *runner) scriptsPhase(ctx context.Context, name string, spec engine.ContainerSpec, inputs []install.Input, title string) (string, PhaseResult, error) {
	id, err := r.create(ctx, spec)
	if err != nil {
		return "", PhaseResult{}, err
	}
	// Each scripts container has a home of its own, fresh: the decoys go
	// in; the tools volume is filled once.
	if err := r.copyIn(ctx, id, install.DecoyHome, decoyInputs(r.decoys)); err != nil {
		return "", PhaseResult{}, err
	}
	if !r.toolsCopied && len(r.plan.Tools) > 0 {
		if err := r.copyIn(ctx, id, install.ToolsDir, r.plan.Tools); err != nil {
			return "", PhaseResult{}, err
		}
		r.toolsCopied = true
	}
	if len(inputs) > 0 {
		if err := r.copyIn(ctx, id, install.WorkDir, inputs); err != nil {
			return "", PhaseResult{}, err
		}
	}
	r.steps.Begin("%s", title)
	ph, err := r.phase(ctx, name, id, nil)
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
		r.steps.End()
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

// phase starts a created container, waits for it within the time limit and
// turns its exit into a result or an error that names the package. With
// a relay (attachRelay's), the container's stdin and stdout carry its
// connections to the egress proxy, and its stderr is its output.
func (r *runner) phase(ctx context.Context, name, id string, relay *relayed) (PhaseResult, error) {
	log := r.log.With(zap.String("phase", name))
	start := time.Now()
	tctx, cancel := context.WithTimeout(ctx, r.opts.Limits.Timeout)
	defer cancel()
	guard := diskguard.Guard{Engine: r.eng, Volume: r.names.Work, Bytes: r.opts.Limits.DiskBytes, Files: r.opts.Limits.DiskFiles, Log: log,
		Kill: func() { _ = r.eng.Kill(context.WithoutCancel(ctx), id) }}
	pctx, stopGuard := guard.Watch(tctx)
	defer stopGuard()
	thirdParty := name == "scripts" || name == "project"
	var out *tail.Buffer
	var w io.Writer
	if relay != nil {
		out = relay.out
	} else {
		out, w = r.phaseOutput(name, thirdParty)
	}
	if relay == nil || !relay.started {
		if err := r.eng.Start(pctx, id); err != nil {
			return PhaseResult{}, fmt.Errorf("%w: starting the %s container: %w", ErrEngine, name, err)
		}
	}
	if relay != nil {
		// Its inputs are in: relay.js may start the package manager. Not
		// waited for: a write to the attach's stdin waits until the engine
		// reads it; if it never arrives, relay.js runs nothing and the
		// phase's time limit ends it (the stream's end ends relay.js too).
		go egress.StartCommand(relay.stdin)
	}
	faultpoint.At(name) // the test hook: fetch, scripts
	var code int
	var werr error
	if relay != nil {
		code, werr = r.waitRelayed(pctx, id, relay)
	} else {
		code, werr = r.eng.Wait(pctx, id)
	}
	timedOut := tctx.Err() == context.DeadlineExceeded
	var disk *diskguard.Exceeded
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
	if relay != nil {
		relay.stdin.Close()
		select {
		case <-relay.ended:
		case <-time.After(10 * time.Second):
			log.Warn("the relay's stream did not end")
		}
	} else {
		_ = r.eng.Logs(context.WithoutCancel(ctx), id, w)
	}
	res := PhaseResult{Name: name, Container: id, ExitCode: code, Duration: time.Since(start), Scripts: r.output().Scripts(out.String())}
	if relay != nil {
		res.output = out.String()
	}
	r.res.Phases = append(r.res.Phases, res)
	log.Debug("phase ended", zap.Int("exit_code", code), zap.Duration("took", res.Duration))
	switch {
	case disk != nil:
		pkg, _ := r.output().Failure(out.String())
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s %s, over the disk limit (phase %s), and was stopped: %w; raise --disk or --disk-files if it legitimately needs more (the count covers the whole filesystem, so other programs writing at the same time add to it)",
			pkg, disk, name, install.ErrLimit)
	case timedOut:
		pkg, _ := r.output().Failure(out.String())
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		hint := "raise --timeout if it is legitimately slow"
		switch {
		case name != "fetch" && networkError.MatchString(install.LastLines(out.String(), 20)):
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
	tail := install.LastLines(out.String(), 20)
	pkg, cmd := r.output().Failure(out.String())
	if oom, _ := r.eng.OOMKilled(context.WithoutCancel(ctx), id); oom || outOfMemory.MatchString(tail) {
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s ran out of memory (phase %s, limit %d bytes): %w; raise --memory if it legitimately needs more\n%s",
			pkg, name, r.opts.Limits.MemoryBytes, install.ErrLimit, install.Indent(tail))
	}
	if outOfSpace.MatchString(tail) {
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s ran out of space in the sandbox (phase %s; the work directory holds at most %s and %d files, --disk and --disk-files; /tmp %s): %w; raise them if it legitimately needs more\n%s",
			pkg, name, diskguard.HumanBytes(r.opts.Limits.DiskBytes), r.opts.Limits.DiskFiles, diskguard.HumanBytes(r.opts.Limits.TmpBytes), install.ErrLimit, install.Indent(tail))
	}
	if outOfProcesses.MatchString(tail) {
		if pkg == "" {
			pkg = "the " + name + " phase"
		}
		return res, fmt.Errorf("%s hit the process limit (phase %s, %d processes): %w; raise --pids if it legitimately needs more\n%s",
			pkg, name, r.opts.Limits.Pids, install.ErrLimit, install.Indent(tail))
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

// phaseOutput is where a phase's output goes: a bounded tail for the
// report and the error, the debug log, and for third-party code the
// decoy scanner.
func (r *runner) phaseOutput(name string, thirdParty bool) (*tail.Buffer, io.Writer) {
	out := tail.New(256 << 10)
	var w io.Writer = out
	if log := r.log.With(zap.String("phase", name)); log.Core().Enabled(zap.DebugLevel) {
		w = io.MultiWriter(out, zapWriter{log})
	}
	if thirdParty && r.decoyScan != nil {
		w = io.MultiWriter(w, r.decoyScan)
	}
	return out, w
}

// relayed is a created fetch container attached to the egress proxy:
// ended is closed when its stream ends; closing stdin ends the replies.
type relayed struct {
	ended   chan struct{}
	stdin   *io.PipeWriter
	out     *tail.Buffer // its stderr: the package manager's output
	started bool         // the container was started while its inputs went in
}

// waitRelayed is Wait for a relayed container, sooner: once its stream
// has ended (the container's output closed), the engine may already tell
// that it succeeded (Exited), before its clean-up; else Wait says.
func (r *runner) waitRelayed(ctx context.Context, id string, rl *relayed) (int, error) {
	type waited struct {
		code int
		err  error
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := make(chan waited, 1)
	go func() {
		code, err := r.eng.Wait(wctx, id)
		w <- waited{code, err}
	}()
	select {
	case res := <-w:
		return res.code, res.err
	case <-rl.ended:
	}
	// Asked until Wait answers. Only a success is taken from there: a
	// failure's report asks the engine more (OOMKilled), which knows it
	// after its clean-up.
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for {
		if code, ok := r.eng.Exited(ctx, id); ok && code == 0 {
			r.log.Debug("the fetch container exited, as its conmon recorded")
			return code, nil
		}
		select {
		case res := <-w:
			return res.code, res.err
		case <-tick.C:
		}
	}
}

// attachRelay attaches to a created container before it starts (Podman
// takes 50 to 70 ms to answer an attach here, so the fetch does it while
// its inputs go in): its stdout feeds the relay's frames to the egress
// proxy, replies go to its stdin, and its stderr to the phase's output.
func (r *runner) attachRelay(ctx context.Context, id string) (*relayed, error) {
	out, w := r.phaseOutput("fetch", false)
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	go func() { _ = r.egress.Relay(stdinW, stdoutR) }()
	ready := make(chan bool, 1)
	ended := make(chan struct{})
	var err error
	go func() {
		err = r.eng.Attach(context.WithoutCancel(ctx), id, stdinR, stdoutW, w, ready)
		stdoutW.Close()
		close(ended)
	}()
	select {
	case <-ready:
		return &relayed{ended: ended, stdin: stdinW, out: out}, nil
	case <-ended:
		return nil, fmt.Errorf("%w: attaching to the fetch container: %w", ErrEngine, err)
	case <-ctx.Done():
		return nil, fmt.Errorf("fetch interrupted: %w", ctx.Err())
	case <-time.After(30 * time.Second):
		return nil, fmt.Errorf("%w: attaching to the fetch container timed out", ErrEngine)
	}
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

// zapWriter logs container output line by line at debug level.
type zapWriter struct{ log *zap.Logger }

func (z zapWriter) Write(p []byte) (int, error) {
	z.log.Debug(escape.Text(string(bytes.TrimRight(p, "\r\n"))))
	return len(p), nil
}

// output is the plan's output reader; one that knows nothing when the plan
// names none.
func (r *runner) output() install.OutputParser {
	if r.plan.Output == nil {
		return noOutput{}
	}
	return r.plan.Output
}

type noOutput struct{}

func (noOutput) Kind() string                       { return "install script" }
func (noOutput) Scripts(string) []install.ScriptRun { return nil }
func (noOutput) Failure(string) (string, string)    { return "", "" }
func (noOutput) Label(s install.ScriptRun) string   { return s.Event }
