package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/engine"
)

func newCleanCommand(e *env, log **zap.Logger) *cli.Command {
	var dryRun, asJSON bool
	return &cli.Command{
		Name:  "clean",
		Usage: "remove the containers and volumes that killed or interrupted runs left behind",
		Description: `Every container and volume of a run is labelled with the run and the process that
made it. clean first removes the staging directories that killed runs left in the current directory (a
project), undoing a swap such a run left half done; then it removes what --keep left, those whose process is gone (on this machine: not running, another
process with its pid, or a reboot since) and those older than any run can be (for a remote
engine shared by several machines). The cache volumes stay. Each run does this first too.

EXAMPLE:
   safe-install clean --dry-run
   safe-install clean
   safe-install --connection buildbox clean`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "list what would be removed; remove nothing", Destination: &dryRun},
			&cli.BoolFlag{Name: "json", Usage: "print the list as JSON", Destination: &asJSON},
		},
		Action: func(c *cli.Context) error {
			// The staging directories killed runs left in this directory
			// (a project) first: they need no engine.
			if err := recoverProject(e, e.dir, dryRun); err != nil {
				return err
			}
			eng, stop, err := engine.Connect(c.Context, e.remote(), *log)
			if err != nil {
				return err
			}
			defer stop()
			left, err := sandbox.FindLeftovers(c.Context, eng, sandbox.DefaultLimits(), true)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(left); err != nil {
					return err
				}
			}
			for _, l := range left {
				e.say("%s %s %s: %s", map[bool]string{true: "would remove", false: "removing"}[dryRun], l.Kind, l.Name, l.Why)
			}
			if dryRun {
				return nil
			}
			errs := sandbox.Reap(c.Context, eng, left)
			for _, err := range errs {
				e.say("WARN %v", err)
			}
			if len(errs) > 0 {
				return fmt.Errorf("%w: %d of %d could not be removed", sandbox.ErrEngine, len(errs), len(left))
			}
			e.say("removed %d containers and volumes", len(left))
			return nil
		},
	}
}
