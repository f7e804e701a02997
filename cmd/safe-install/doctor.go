package main

import (
	"encoding/json"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/doctor"
	"github.com/safe-install/safe-install/sandbox/escape"
)

func newDoctorCommand(e *env) *cli.Command {
	var asJSON bool
	var conn, ident string // see env.useConnection
	return &cli.Command{
		Name:  "doctor",
		Usage: "check that this machine can run safe-install, and say how to fix what is missing",
		Description: `Checks the user (not root), user namespaces (including Ubuntu 24.04's AppArmor
restriction), subuid/subgid ranges, XDG_RUNTIME_DIR, Podman, the engine (rootless, OCI runtime,
storage driver, which limits can be enforced), the sandbox image and the CA bundle. Exits
non-zero when a run would fail.

EXAMPLE:
   safe-install doctor
   safe-install doctor --json | jq '.[] | select(.ok | not)'
   safe-install doctor --connection ssh://builder@buildbox/run/user/1000/podman/podman.sock`,
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "json", Usage: "print the checks as JSON", Destination: &asJSON},
			&cli.StringFlag{Name: "connection", Usage: "check the Podman at this `URL` or connection name instead (as the global flag)", Destination: &conn},
			&cli.StringFlag{Name: "identity", Usage: "ssh private key `FILE` for --connection", Destination: &ident},
		},
		Action: func(c *cli.Context) error {
			e.useConnection(conn, ident)
			checks := doctor.Run(c.Context, e.remote())
			if asJSON {
				enc := json.NewEncoder(e.stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(checks); err != nil {
					return err
				}
			}
			failed := 0
			for _, ch := range checks {
				mark := "ok  "
				switch {
				case ch.Fatal:
					mark, failed = "FAIL", failed+1
				case !ch.OK:
					mark = "warn"
				}
				if !asJSON {
					fmt.Fprintf(e.stdout, "%s %-16s %s\n", mark, ch.Name, escape.Text(ch.Detail))
					if ch.Fix != "" && !ch.OK {
						fmt.Fprintf(e.stdout, "     %-16s fix: %s\n", "", escape.Text(ch.Fix))
					}
				}
			}
			if failed > 0 {
				return fmt.Errorf("%w: %d check(s) failed; see the fixes above", sandbox.ErrEngine, failed)
			}
			return nil
		},
	}
}
