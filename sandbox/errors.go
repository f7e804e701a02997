package sandbox

import (
	"errors"
	"fmt"
	"strings"

	"github.com/safe-install/safe-install/sandbox/engine"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// Sentinel errors; callers test them with errors.Is.
var (
	// ErrRootful: the engine would run containers as the host's root.
	ErrRootful = engine.ErrRootful
	// ErrUnsupported: a package-manager command that safe-install does not wrap.
	ErrUnsupported = errors.New("safe-install wraps installs only")
	// ErrPolicy: the plan was refused before anything ran (git dependency, flag, spec).
	ErrPolicy = errors.New("refused by policy")
	// ErrEngine: no usable container engine.
	ErrEngine = engine.ErrUnavailable
	// ErrTimeout: a phase ran past its wall-clock bound.
	ErrTimeout = errors.New("time limit reached")
	// ErrTheft: with --strict, a package touched a decoy credential.
	ErrTheft = errors.New("theft attempt")
	// ErrLimit: a resource bound (memory, processes, bytes) was hit.
	ErrLimit = errors.New("resource limit reached")
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
		msg += "\n" + Indent(escape.Text(e.Tail))
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
		msg += "\n" + Indent(escape.Text(e.Tail))
	}
	return msg + "\nthe project was left unchanged"
}

// ArtifactError is an entry of the copied-back archive that was refused.
type ArtifactError struct {
	Package string // name@version that owns the path, when known
	Path    string // the entry's name in the archive
	Reason  string
}

func (e *ArtifactError) Error() string {
	pkg := e.Package
	if pkg == "" {
		pkg = "unknown package"
	}
	return fmt.Sprintf("refused artifact from %s (phase copy-back): %q: %s; the project was left unchanged", escape.Line(pkg), e.Path, escape.Text(e.Reason))
}

// Indent sets a block of output apart from the message around it.
func Indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}
