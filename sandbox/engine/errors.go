package engine

import (
	"errors"
	"fmt"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrUnavailable: no usable container engine.
	ErrUnavailable = errors.New("sandbox unavailable")
	// ErrRootful: the engine would run containers as the host's root.
	ErrRootful = errors.New("safe-install refuses to run as root: rootless Podman is the point. " +
		"Run it as an unprivileged user (as root: sudo images/host-setup.sh USER, then run as USER)")
)

// SandboxUID is the image's unprivileged user, which every phase runs as
// and which owns the volumes.
const SandboxUID = 1000

// ErrEngineConfig: the engine's configuration (containers.conf) adds to
// every container something no sandbox container may have. It is an
// ErrUnavailable (exit 15): no usable engine until the entry goes.
var ErrEngineConfig = fmt.Errorf("%w: the engine's configuration breaks the sandbox", ErrUnavailable)
