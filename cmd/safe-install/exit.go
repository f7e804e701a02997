package main

import (
	"context"
	"errors"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/install"
)

// Exit codes, documented in the README; distinct per class of failure so
// scripts and CI can tell a malicious package from a broken machine.
const (
	exitOK          = 0
	exitFailure     = 1   // anything else, e.g. npm could not resolve a package
	exitUsage       = 2   // a command or flag safe-install does not take
	exitArtifact    = 10  // copy-back refused an entry
	exitScript      = 11  // an install script failed
	exitTimeout     = 12  // a phase ran past --timeout
	exitLimit       = 13  // memory, process or size limit
	exitPolicy      = 14  // refused before running: git dependency, flag, local path
	exitUnavailable = 15  // no usable rootless Podman
	exitTheft       = 16  // --strict: a package touched a decoy credential
	exitInterrupted = 130 // Ctrl-C, as shells report SIGINT
)

func exitCode(err error) int {
	var (
		artifact *install.ArtifactError
		script   *sandbox.ScriptError
		host     *hostExitError
	)
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &host):
		return host.code // npm test's own
	case errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.Is(err, install.ErrUnsupported):
		return exitUsage
	case errors.Is(err, sandbox.ErrTimeout):
		return exitTimeout
	case errors.Is(err, install.ErrLimit):
		return exitLimit
	case errors.Is(err, sandbox.ErrTheft):
		return exitTheft
	case errors.As(err, &artifact):
		return exitArtifact
	case errors.As(err, &script):
		return exitScript
	case errors.Is(err, install.ErrPolicy):
		return exitPolicy
	case errors.Is(err, sandbox.ErrEngine), errors.Is(err, sandbox.ErrRootful):
		return exitUnavailable
	case errors.Is(err, errUsage):
		return exitUsage
	}
	return exitFailure
}
