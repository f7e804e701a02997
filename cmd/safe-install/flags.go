package main

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/safe-install/safe-install/sandbox"
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
	// pnpm only: the host's pnpm version and store, and --allow-pnpmfile.
	PNPMVersion   string
	PNPMStoreDir  string
	AllowPnpmfile bool
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
