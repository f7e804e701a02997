package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/engine"
)

func newImageCommand(e *env, log **zap.Logger) *cli.Command {
	return &cli.Command{
		Name:  "image",
		Usage: "build, show or remove the sandbox image",
		Description: `The sandbox image is built on this machine without any container registry: Debian
packages through mmdebstrap, the official Node build (the host's version, so native addons
built inside load on the host) and npm from the npm registry, and the host's CA bundle. Its
name carries a hash of those inputs, so a new node or CA bundle gets a new image.

EXAMPLE:
   safe-install image build
   safe-install image list
   safe-install image rm`,
		Subcommands: []*cli.Command{
			{
				Name:  "build",
				Usage: "build (or rebuild) the default sandbox image for this host",
				Action: func(c *cli.Context) error {
					eng, stop, err := engine.Connect(c.Context, e.remote(), *log)
					if err != nil {
						return err
					}
					defer stop()
					ref, spec, err := sandbox.DefaultImage(c.Context)
					if err != nil {
						return err
					}
					if err := sandbox.BuildImage(c.Context, eng, ref, spec, e.stderr); err != nil {
						return err
					}
					fmt.Fprintln(e.stdout, ref)
					return nil
				},
			},
			{
				Name:  "list",
				Usage: "print the default image's name and whether the engine has it",
				Action: func(c *cli.Context) error {
					eng, stop, err := engine.Connect(c.Context, e.remote(), *log)
					if err != nil {
						return err
					}
					defer stop()
					ref, _, err := sandbox.DefaultImage(c.Context)
					if err != nil {
						return err
					}
					ok, err := eng.ImageExists(c.Context, ref)
					if err != nil {
						return err
					}
					state := "missing (built on first use, or by `safe-install image build`)"
					if ok {
						state = "present"
					}
					fmt.Fprintf(e.stdout, "%s\t%s\n", ref, state)
					return nil
				},
			},
			{
				Name:  "rm",
				Usage: "remove the default image",
				Action: func(c *cli.Context) error {
					eng, stop, err := engine.Connect(c.Context, e.remote(), *log)
					if err != nil {
						return err
					}
					defer stop()
					ref, _, err := sandbox.DefaultImage(c.Context)
					if err != nil {
						return err
					}
					return eng.RemoveImage(c.Context, ref)
				},
			},
		},
	}
}
