package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/pnpm"
)

// pnpmFlagSet are the flags of pnpm installs only.
func pnpmFlagSet(f *runFlags) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "allow-registry", Usage: "also let the fetch reach this registry `URL` (one the project's .npmrc names); repeatable", EnvVars: []string{"SAFE_INSTALL_ALLOW_REGISTRY"}, Destination: &f.AllowRegistry},
		&cli.StringSliceFlag{Name: "allow-scripts", Usage: "let these `PACKAGES` (name or name@version, comma-separated) build, besides those pnpm-workspace.yaml's allowBuilds allows", EnvVars: []string{"SAFE_INSTALL_ALLOW_SCRIPTS"}, Destination: &f.AllowScripts},
		&cli.StringSliceFlag{Name: "deny-scripts", Usage: "never run these `PACKAGES`' builds", EnvVars: []string{"SAFE_INSTALL_DENY_SCRIPTS"}, Destination: &f.DenyScripts},
		&cli.BoolFlag{Name: "sandbox-all-scripts", Usage: "run every dependency's build in the sandbox, also those the project has not allowed; denials still win", EnvVars: []string{"SAFE_INSTALL_SANDBOX_ALL_SCRIPTS"}, Destination: &f.AllScripts},
		minReleaseAgeFlag(f),
		&cli.BoolFlag{Name: "allow-pnpmfile", Usage: "let pnpm run the project's .pnpmfile.cjs (code, run while pnpm resolves, in the fetch container)", EnvVars: []string{"SAFE_INSTALL_ALLOW_PNPMFILE"}, Destination: &f.AllowPnpmfile},
	}
}

func newPNPMCommand(e *env, log **zap.Logger) *cli.Command {
	var f runFlags
	return &cli.Command{
		Name:      "pnpm",
		Usage:     "run pnpm install, add, remove, update or rebuild in the sandbox",
		ArgsUsage: "install [--frozen-lockfile] | add PKGS [-D] [-E] | remove PKGS | update [PKGS] [--latest] | rebuild",
		Description: `Runs pnpm install --ignore-scripts in a fetch container (pnpm itself, the version of
package.json's packageManager field or else the host's, is fetched from the npm registry
into the cache volume), then the builds the project allows (allowBuilds or
onlyBuiltDependencies in pnpm-workspace.yaml or package.json, and --allow-scripts) with
pnpm rebuild in a container with no network, and swaps node_modules into the project
once every entry passed pnpm's copy-back rule. Builds not allowed do not run and are named.
These pnpm flags pass through: --frozen-lockfile, --prefer-offline, --prod, --dev,
--no-optional, --ignore-scripts, --lockfile-only. pnpm add, remove and update run the same
way (pnpm add --ignore-scripts ... in the fetch), with -D, -P, -O, -E, --save-peer, -w and
(update) --latest; package.json and pnpm-lock.yaml come back as pnpm wrote them there,
before any third-party code ran. pnpm rebuild reinstalls from pnpm-lock.yaml and runs the
allowed builds. Other pnpm commands run with pnpm directly. A workspace (packages: in
pnpm-workspace.yaml) installs whole: every workspace package's node_modules comes back.
A .pnpmfile.cjs needs --allow-pnpmfile.

EXAMPLE:
   safe-install pnpm install --frozen-lockfile
   safe-install pnpm --allow-scripts esbuild install
   safe-install pnpm --min-release-age 48h install --frozen-lockfile
   safe-install pnpm add -D esbuild
   safe-install pnpm remove left-pad
   safe-install pnpm --dry-run install    # see exactly what would run`,
		Flags: append(runFlagSet(&f), pnpmFlagSet(&f)...),
		Action: func(c *cli.Context) error {
			store := make(chan string, 1)
			go func() { store <- askHostPNPM(c.Context, "/", "store", "path") }()
			f.PNPMVersion = askHostPNPM(c.Context, os.TempDir(), "--version")
			f.PNPMStoreDir = <-store
			return runInstall(c, e, *log, pnpm.Manager{}, f)
		},
	}
}

// askHostPNPM is what the host's pnpm prints for args ("" when there is no
// pnpm, or it fails): --version, or store path (the store a later plain
// pnpm install on the host uses). It runs outside the project, so that no
// packageManager field makes pnpm fetch another version of itself; store
// path runs in /, above which no other user can plant a
// pnpm-workspace.yaml for pnpm to find.
func askHostPNPM(ctx context.Context, dir string, args ...string) string {
	bin, err := engine.LookHost("pnpm") // not a package's node_modules/.bin/pnpm
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	cmd.Stdout = &out
	if cmd.Run() != nil || out.Len() > 4096 {
		return ""
	}
	return strings.TrimSpace(out.String())
}
