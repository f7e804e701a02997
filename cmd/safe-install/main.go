// Command safe-install runs npm installs in a rootless Podman sandbox.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newApp(newEnv()).RunContext(ctx, os.Args)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "safe-install: ERROR %v\n", err)
	}
	os.Exit(exitCode(err))
}
