// Command safe-install runs npm installs in a rootless Podman sandbox.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/safe-install/safe-install/sandbox/escape"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := execute(ctx, newApp(newEnv()), os.Args)
	stop()
	if err != nil {
		// Errors name packages, paths and output from the sandbox.
		fmt.Fprintf(os.Stderr, "safe-install: ERROR %s\n", escape.Text(err.Error()))
	}
	os.Exit(exitCode(err))
}
