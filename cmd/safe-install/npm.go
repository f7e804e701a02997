package main

import (
	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/npm"
)

// npmFlagSet are the flags of npm installs only.
// minReleaseAgeFlag is the cooldown, for npm and pnpm alike.
func minReleaseAgeFlag(f *runFlags) cli.Flag {
	return &cli.DurationFlag{Name: "min-release-age", Usage: "refuse any package version published less than `AGE` ago (like 48h; read from the registry's packuments; default off)", EnvVars: []string{"SAFE_INSTALL_MIN_RELEASE_AGE"}, Destination: &f.MinReleaseAge}
}

func npmFlagSet(f *runFlags) []cli.Flag {
	return []cli.Flag{
		&cli.StringSliceFlag{Name: "allow-registry", Usage: "also let the fetch reach this registry `URL` (one the project's .npmrc or lockfile names); repeatable", EnvVars: []string{"SAFE_INSTALL_ALLOW_REGISTRY"}, Destination: &f.AllowRegistry},
		&cli.StringSliceFlag{Name: "allow-scripts", Usage: "let these `PACKAGES` (name or name@version, comma-separated) run install scripts; with any policy, others do not", EnvVars: []string{"SAFE_INSTALL_ALLOW_SCRIPTS"}, Destination: &f.AllowScripts},
		&cli.StringSliceFlag{Name: "deny-scripts", Usage: "never run these `PACKAGES`' install scripts", EnvVars: []string{"SAFE_INSTALL_DENY_SCRIPTS"}, Destination: &f.DenyScripts},
		&cli.BoolFlag{Name: "sandbox-all-scripts", Usage: "run every dependency's install scripts in the sandbox, also those allowScripts does not cover (npm 12 holds them back); denials still win", EnvVars: []string{"SAFE_INSTALL_SANDBOX_ALL_SCRIPTS"}, Destination: &f.AllScripts},
		minReleaseAgeFlag(f),
		&cli.BoolFlag{Name: "allow-git", Usage: "allow git and URL dependencies (they can run code while fetched)", EnvVars: []string{"SAFE_INSTALL_ALLOW_GIT"}, Destination: &f.AllowGit},
	}
}

func newNPMCommand(e *env, log **zap.Logger) *cli.Command {
	var f runFlags
	return &cli.Command{
		Name:      "npm",
		Usage:     "run an npm command that installs (ci, install, update, uninstall, rebuild, dedupe, prune, install-test) in the sandbox",
		ArgsUsage: "ci|install|update|uninstall|rebuild|dedupe|prune|install-test|install-ci-test [npm flags] [packages]",
		Description: `Runs the install in two rootless Podman containers and swaps the result into the
project. Every npm command that reifies a tree, and so can run install scripts, goes
through the sandbox: ci, install, update, uninstall (rm), dedupe and prune build the
new tree there; rebuild copies the installed node_modules in and runs only the scripts,
offline; install-test (it) and install-ci-test (cit) install there, then run npm test
on the host, as npm does. npm exec and npx are not wrapped: they run a package's code
by design. safe-install's own flags go before or after the npm command; these npm flags pass through:
--save-dev/-D, --save-exact/-E, --no-save, --omit=, --include=, --legacy-peer-deps,
--ignore-scripts (then no scripts container runs at all) and the like. Flags that could undo
the sandbox (--prefix, --global, --script-shell, --registry) are refused.

EXAMPLE:
   safe-install npm ci
   safe-install npm install left-pad@1.3.0
   safe-install npm uninstall left-pad
   safe-install npm rebuild sqlite3
   safe-install --debug npm --timeout 5m ci --omit=dev
   safe-install npm --dry-run install    # see exactly what would run`,
		Flags:           append(runFlagSet(&f), npmFlagSet(&f)...),
		SkipFlagParsing: false,
		Action: func(c *cli.Context) error {
			return runInstall(c, e, *log, npm.Manager{}, f)
		},
	}
}
