package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/safe-install/safe-install/seccomp"
)

func newSeccompCommand(e *env) *cli.Command {
	return &cli.Command{
		Name:      "seccomp",
		Usage:     "print the seccomp profile of a phase as JSON",
		ArgsUsage: "[fetch|scripts]",
		Description: `Prints the profile safe-install hands to the engine: deny by default with EPERM, an
allowlist of what node, npm, node-gyp, make, gcc and python builds use, ENOSYS for io_uring
and clone3, and clone, socket and personality held to safe arguments.

EXAMPLE:
   safe-install seccomp scripts | jq '.syscalls[0].names | length'`,
		Action: func(c *cli.Context) error {
			phase := seccomp.Scripts
			if c.NArg() > 0 {
				phase = seccomp.Phase(c.Args().First())
			}
			if phase != seccomp.Fetch && phase != seccomp.Scripts {
				return fmt.Errorf("%w: no phase %q; the phases are fetch and scripts", errUsage, phase)
			}
			data, err := seccomp.JSON(seccomp.Profile(phase))
			if err != nil {
				return err
			}
			_, err = e.stdout.Write(data)
			return err
		},
	}
}
