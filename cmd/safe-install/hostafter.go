package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// hostExitError is a host command's non-zero exit (npm install-test's
// npm test), passed on as its own exit code.
type hostExitError struct {
	command string
	code    int
}

func (e *hostExitError) Error() string {
	return fmt.Sprintf("%s exited %d (it ran on the host, after the install)", e.command, e.code)
}

// runHostAfter runs the plan's command on the host once the install is
// in, as the package manager would (npm install-test runs npm test): it is
// the project's own code, which the user runs on the host anyway; nothing
// of the sandbox is in it. With --json its output goes to stderr, so that
// stdout stays the report.
func runHostAfter(ctx context.Context, e *env, command []string, jsonOut bool) error {
	e.say("the install is in; running %s on the host, as npm does", strings.Join(command, " "))
	cmd := exec.CommandContext(ctx, command[0], command[1:]...)
	cmd.Dir = e.dir
	for k, v := range e.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, e.stdout, e.stderr
	if jsonOut {
		cmd.Stdout = e.stderr
	}
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return &hostExitError{command: strings.Join(command, " "), code: exit.ExitCode()}
	}
	if err != nil {
		return fmt.Errorf("running %s on the host: %w", strings.Join(command, " "), err)
	}
	return nil
}
