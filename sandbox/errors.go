package sandbox

import (
	"errors"
	"fmt"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrRootful: the engine would run containers as the host's root.
	ErrRootful = engine.ErrRootful
	// ErrEngine: no usable container engine.
	ErrEngine = engine.ErrUnavailable
	// ErrTimeout: a phase ran past its wall-clock bound.
	ErrTimeout = errors.New("time limit reached")
	// ErrTheft: with --strict, a package touched a decoy credential.
	ErrTheft = errors.New("theft attempt")
)

// ScriptError is a failed install script in the scripts phase.
type ScriptError struct {
	Kind    string // "install script" (npm), "wheel build" (pip)
	Package string // name@version, or "" when npm did not say
	Event   string // postinstall, install, ... when npm announced it
	// Hint is what to do next, when the output shows why (the network).
	Hint   string
	Script string // the command npm ran
	Code   int
	Tail   string // last lines of output
}

func (e *ScriptError) Error() string {
	pkg := e.Package
	if pkg == "" {
		pkg = "a dependency"
	}
	kind := e.Kind
	if kind == "" {
		kind = "install script"
	}
	if e.Event != "" {
		pkg += " " + e.Event
	}
	msg := fmt.Sprintf("%s of %s failed (phase scripts, exit code %d)", kind, escape.Line(pkg), e.Code)
	if e.Script != "" {
		msg += fmt.Sprintf(": %q", e.Script)
	}
	if e.Tail != "" {
		msg += "\n" + install.Indent(escape.Text(e.Tail))
	}
	if e.Hint != "" {
		msg += "\n" + e.Hint
	}
	return msg + "\nthe project was left unchanged; fix or drop the package, or rerun with --debug for the whole log"
}

// PhaseError is a phase (fetch, scripts) that ended with a non-zero exit
// code without npm naming a package.
type PhaseError struct {
	Phase   string
	Package string // the package being worked on when it failed, when known
	Code    int
	Tail    string
}

func (e *PhaseError) Error() string {
	msg := fmt.Sprintf("%s phase failed with exit code %d", e.Phase, e.Code)
	if e.Package != "" {
		msg = fmt.Sprintf("%s phase failed on %s with exit code %d", e.Phase, escape.Line(e.Package), e.Code)
	}
	if e.Tail != "" {
		msg += "\n" + install.Indent(escape.Text(e.Tail))
	}
	return msg + "\nthe project was left unchanged"
}
