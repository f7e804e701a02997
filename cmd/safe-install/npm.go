package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/safe-install/safe-install/images"
	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
	"github.com/safe-install/safe-install/seccomp"
)

// runFlags are the sandbox settings every install command takes.
type runFlags struct {
	Image   string
	Timeout time.Duration
	Memory  string
	Pids    int64
	// Disk and DiskFiles bound what a phase writes to the engine's disk.
	Disk      string
	DiskFiles int64
	Keep      bool
	Quiet     bool
	Strict    bool
	DryRun    bool
	AllowGit  bool
	// AllowRegistry lists registry URLs the user trusts beyond their own npm config.
	AllowRegistry cli.StringSlice
	JSON          bool
	Report        string
	AllowScripts  cli.StringSlice
	DenyScripts   cli.StringSlice
	AllScripts    bool // --sandbox-all-scripts
	MinReleaseAge time.Duration
	// Connection and Identity override the global flags of the same name.
	Connection, Identity string
	// pip only.
	AllowIndex   bool
	AllowPth     cli.StringSlice
	AllowCommand cli.StringSlice
	Python       string
}

func (f runFlags) limits() (sandbox.Limits, error) {
	lim := sandbox.DefaultLimits()
	if f.Timeout <= 0 {
		return lim, fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	lim.Timeout = f.Timeout
	mem, err := parseBytes(f.Memory)
	if err != nil || mem < 64<<20 {
		return lim, fmt.Errorf("%w: --memory %q: give a size of at least 64m, like 512m or 4g", errUsage, f.Memory)
	}
	lim.MemoryBytes = mem
	if f.Pids < 16 {
		return lim, fmt.Errorf("%w: --pids must be at least 16", errUsage)
	}
	lim.Pids = f.Pids
	if lim.DiskBytes, err = parseBytes(f.Disk); err != nil || (lim.DiskBytes > 0 && lim.DiskBytes < 16<<20) {
		return lim, fmt.Errorf("%w: --disk %q: give a size of at least 16m, like 512m or 4g, or 0 for no limit", errUsage, f.Disk)
	}
	if f.DiskFiles < 0 {
		return lim, fmt.Errorf("%w: --disk-files must be 0 (no limit) or more", errUsage)
	}
	lim.DiskFiles = f.DiskFiles
	return lim, nil
}

// parseBytes reads "512m", "4g", "1024k" or a plain byte count.
func parseBytes(s string) (int64, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	if n := len(s); n > 0 {
		switch s[n-1] {
		case 'k':
			mult, s = 1<<10, s[:n-1]
		case 'm':
			mult, s = 1<<20, s[:n-1]
		case 'g':
			mult, s = 1<<30, s[:n-1]
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("not a size: %q", s)
	}
	return v * mult, nil
}

func runFlagSet(f *runFlags) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "image", Usage: "sandbox `IMAGE` (default: one built for this host's node, on first use)", EnvVars: []string{"SAFE_INSTALL_IMAGE"}, Destination: &f.Image},
		&cli.DurationFlag{Name: "timeout", Value: sandbox.DefaultLimits().Timeout, Usage: "wall-time limit of each phase", EnvVars: []string{"SAFE_INSTALL_TIMEOUT"}, Destination: &f.Timeout},
		&cli.StringFlag{Name: "memory", Value: "4g", Usage: "memory limit of each container", EnvVars: []string{"SAFE_INSTALL_MEMORY"}, Destination: &f.Memory},
		&cli.Int64Flag{Name: "pids", Value: sandbox.DefaultLimits().Pids, Usage: "process limit of each container", EnvVars: []string{"SAFE_INSTALL_PIDS"}, Destination: &f.Pids},
		&cli.StringFlag{Name: "disk", Value: "4g", Usage: "stop a phase that takes more than this much of the engine's disk (0: no limit)", EnvVars: []string{"SAFE_INSTALL_DISK"}, Destination: &f.Disk},
		&cli.Int64Flag{Name: "disk-files", Value: sandbox.DefaultLimits().DiskFiles, Usage: "stop a phase that creates more than this many files on the engine's disk (0: no limit)", EnvVars: []string{"SAFE_INSTALL_DISK_FILES"}, Destination: &f.DiskFiles},
		&cli.BoolFlag{Name: "keep", Usage: "leave the containers and volumes for inspection and print their names (later runs leave them alone; safe-install clean removes them)", EnvVars: []string{"SAFE_INSTALL_KEEP"}, Destination: &f.Keep},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "print only the one-line summary, warnings and errors", EnvVars: []string{"SAFE_INSTALL_QUIET"}, Destination: &f.Quiet},
		&cli.BoolFlag{Name: "strict", Usage: "fail (exit 16) when a package reads, prints or stashes a decoy credential", EnvVars: []string{"SAFE_INSTALL_STRICT"}, Destination: &f.Strict},
		&cli.BoolFlag{Name: "dry-run", Usage: "print the plan and every container setting as JSON; touch nothing", EnvVars: []string{"SAFE_INSTALL_DRY_RUN"}, Destination: &f.DryRun},
		&cli.BoolFlag{Name: "json", Usage: "print the run report as JSON on stdout (schema " + sandbox.ReportSchema + ")", EnvVars: []string{"SAFE_INSTALL_JSON"}, Destination: &f.JSON},
		&cli.StringFlag{Name: "connection", Usage: "run the containers on the Podman at this `URL` or connection name (as the global flag)", Destination: &f.Connection},
		&cli.StringFlag{Name: "identity", Usage: "ssh private key `FILE` for --connection", Destination: &f.Identity},
		&cli.StringFlag{Name: "report", Usage: "also write the JSON run report to `FILE`", EnvVars: []string{"SAFE_INSTALL_REPORT"}, Destination: &f.Report},
	}
}

// npmFlagSet are the flags of npm installs only.
func npmFlagSet(f *runFlags) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "allow-registry", Usage: "also let the fetch reach this registry `URL` (one the project's .npmrc or lockfile names); repeatable", EnvVars: []string{"SAFE_INSTALL_ALLOW_REGISTRY"}, Destination: &f.AllowRegistry},
		&cli.StringSliceFlag{Name: "allow-scripts", Usage: "let these `PACKAGES` (name or name@version, comma-separated) run install scripts; with any policy, others do not", EnvVars: []string{"SAFE_INSTALL_ALLOW_SCRIPTS"}, Destination: &f.AllowScripts},
		&cli.StringSliceFlag{Name: "deny-scripts", Usage: "never run these `PACKAGES`' install scripts", EnvVars: []string{"SAFE_INSTALL_DENY_SCRIPTS"}, Destination: &f.DenyScripts},
		&cli.BoolFlag{Name: "sandbox-all-scripts", Usage: "run every dependency's install scripts in the sandbox, also those allowScripts does not cover (npm 12 holds them back); denials still win", EnvVars: []string{"SAFE_INSTALL_SANDBOX_ALL_SCRIPTS"}, Destination: &f.AllScripts},
		&cli.DurationFlag{Name: "min-release-age", Usage: "refuse any package version published less than `AGE` ago (like 48h; read from the registry's packuments; default off)", EnvVars: []string{"SAFE_INSTALL_MIN_RELEASE_AGE"}, Destination: &f.MinReleaseAge},
		&cli.BoolFlag{Name: "allow-git", Usage: "allow git and URL dependencies (they can run code while fetched)", EnvVars: []string{"SAFE_INSTALL_ALLOW_GIT"}, Destination: &f.AllowGit},
	}
}

func newNPMCommand(e *env, log **zap.Logger) *cli.Command {
	var f runFlags
	return &cli.Command{
		Name:      "npm",
		Usage:     "run npm ci or npm install in the sandbox",
		ArgsUsage: "ci|install [npm flags] [packages]",
		Description: `Runs the install in two rootless Podman containers and swaps the result into the
project. safe-install's own flags go before the npm command; these npm flags pass through:
--save-dev/-D, --save-exact/-E, --no-save, --omit=, --include=, --legacy-peer-deps,
--ignore-scripts (then no scripts container runs at all) and the like. Flags that could undo
the sandbox (--prefix, --global, --script-shell, --registry) are refused.

EXAMPLE:
   safe-install npm ci
   safe-install npm install left-pad@1.3.0
   safe-install --debug npm --timeout 5m ci --omit=dev
   safe-install npm --dry-run install    # see exactly what would run`,
		Flags:           append(runFlagSet(&f), npmFlagSet(&f)...),
		SkipFlagParsing: false,
		Action: func(c *cli.Context) error {
			return runInstall(c, e, *log, npm.Manager{}, f)
		},
	}
}

// runInstall plans, prints the plan for --dry-run, or runs it.
func runInstall(c *cli.Context, e *env, log *zap.Logger, mgr install.Manager, f runFlags) error {
	lim, err := f.limits()
	if err != nil {
		return err
	}
	e.useConnection(f.Connection, f.Identity)
	plan, err := mgr.Plan(e.dir, c.Args().Slice(), install.PlanOptions{
		AllowGit:        f.AllowGit,
		AllowRegistries: f.AllowRegistry.Value(),
		AllowScripts:    f.AllowScripts.Value(),
		DenyScripts:     f.DenyScripts.Value(),
		AllUnreviewed:   f.AllScripts,
		MinReleaseAge:   f.MinReleaseAge,
		NPMVersion:      npmVersion(c.Context, mgr),
		AllowIndex:      f.AllowIndex,
		AllowPth:        f.AllowPth.Value(),
		AllowCommand:    f.AllowCommand.Value(),
		Python:          f.Python,
		Home:            e.home,
		Env:             e.vars,
		Warn:            func(msg string) { e.say("WARN %s", msg) },
	})
	if err != nil {
		return err
	}
	if f.DryRun {
		return printDryRun(c, e, plan, f, lim)
	}
	if pol := plan.Policy; pol.Active {
		e.say("script policy from %s: allowed %s", strings.Join(pol.Sources, ", "), listOrNone(pol.Allowed))
	}
	connecting := time.Now()
	eng, stop, err := engine.Connect(c.Context, e.remote(), log)
	if err != nil {
		return err
	}
	defer stop()
	image, err := sandbox.EnsureImage(c.Context, eng, f.Image, plan.Python, e.stderr)
	if err != nil {
		return err
	}
	start := time.Now()
	engine := sandbox.Timing{Step: "engine", MS: start.Sub(connecting).Milliseconds()}
	opts := sandbox.Options{Image: image, Limits: lim, Keep: f.Keep, Log: log, Progress: e.stderr, Live: isTerminal(e.stderr),
		Quiet: f.Quiet, Strict: f.Strict}
	res, err := sandbox.Run(c.Context, eng, plan, opts)
	if res != nil && len(res.Kept) > 0 {
		// Containers first: Podman 4.3 deadlocks in `volume rm -f` of the
		// tmpfs work volume while its holder container runs (seen here).
		e.say("kept for inspection (later runs leave them; safe-install clean removes them): %s", strings.Join(res.Kept, " "))
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
	summarize(e, plan, res, time.Since(start))
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

// writeReport prints the report with --json and writes it with --report.
func writeReport(e *env, f runFlags, rep sandbox.Report) error {
	if !f.JSON && f.Report == "" {
		return nil
	}
	data, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	// The report quotes packages and output: no byte of it may act on the
	// terminal --json prints it to.
	data = append(escape.JSON(data), '\n')
	if f.JSON {
		if _, err := e.stdout.Write(data); err != nil {
			return err
		}
	}
	if f.Report != "" {
		if err := os.WriteFile(f.Report, data, 0o644); err != nil {
			return fmt.Errorf("writing the report: %w", err)
		}
	}
	return nil
}

func summarize(e *env, plan *install.Plan, res *sandbox.Result, took time.Duration) {
	if inst, ok := res.Installed.(interface{ Summary() string }); ok {
		builds := 0
		for _, ph := range res.Phases {
			for _, s := range ph.Scripts {
				if s.Event == "build_wheel" {
					builds++
				}
			}
		}
		e.say("%s %s done in %.1fs: %s offline; %s%s",
			plan.Manager, strings.Join(plan.Args, " "), took.Seconds(), plural(builds, "wheel build"), inst.Summary(), theftNote(res))
		return
	}
	held := ""
	if n := len(res.HeldBack); n > 0 {
		held = fmt.Sprintf("; %s held back (not in allowScripts)", plural(n, "package"))
	}
	var copied string
	if len(res.Swapped) > 0 {
		copied = fmt.Sprintf("; %s (%.1f MB) copied back into %s", plural(res.Copied.Files, "file"), float64(res.Copied.Bytes)/1e6, strings.Join(res.Swapped, ", "))
	}
	for _, a := range plan.Artifacts {
		if !slices.Contains(res.Swapped, a) {
			copied += fmt.Sprintf("; nothing to install, so no %s (npm makes none either)", a)
		}
	}
	e.say("%s %s done in %.1fs: %s ran offline%s%s%s",
		plan.Manager, strings.Join(plan.Args, " "), took.Seconds(), plural(res.ScriptsRan, "install script"), held, copied, theftNote(res))
}

// theftNote ends the summary line when decoys were touched, so that even
// --quiet shows it.
func theftNote(res *sandbox.Result) string {
	if len(res.Theft) == 0 {
		return ""
	}
	return fmt.Sprintf("; WARN %s (decoy credentials touched; rerun without --quiet for details, --strict to fail)", plural(len(res.Theft), "theft attempt"))
}

func listOrNone(xs []string) string {
	if len(xs) == 0 {
		return "none"
	}
	return strings.Join(xs, ", ")
}

func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func printDryRun(c *cli.Context, e *env, plan *install.Plan, f runFlags, lim sandbox.Limits) error {
	image := f.Image
	if image == "" {
		ref, _, err := sandbox.DefaultImage(c.Context)
		if err != nil {
			return err
		}
		image = ref
	}
	hashes, err := sandbox.ProfileHashes()
	if err != nil {
		return err
	}
	containers, err := sandbox.DryRunContainers(plan, image, lim)
	if err != nil {
		return err
	}
	out := struct {
		Plan       *install.Plan            `json:"plan"`
		Limits     sandbox.Limits           `json:"limits"`
		Seccomp    map[seccomp.Phase]string `json:"seccomp"`
		Containers []engine.ContainerSpec   `json:"containers"`
	}{Plan: plan, Limits: lim, Seccomp: hashes, Containers: containers.All()}
	data, err := json.MarshalIndent(out, "", "  ")
	if err != nil {
		return err
	}
	// The plan names files of file: dependencies (package code): like the
	// report, nothing of it may act on the terminal (invariant 11).
	_, err = e.stdout.Write(append(escape.JSON(data), '\n'))
	return err
}
