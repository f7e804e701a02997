package install

import (
	"errors"
	"fmt"
	"strings"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// Sentinel errors of a plan and its session; callers test them with
// errors.Is.
var (
	// ErrUnsupported: a package-manager command that safe-install does not wrap.
	ErrUnsupported = errors.New("safe-install wraps installs only")
	// ErrPolicy: the plan was refused before anything ran (git dependency, flag, spec).
	ErrPolicy = errors.New("refused by policy")
	// ErrLimit: a resource bound (memory, processes, bytes) was hit.
	ErrLimit = errors.New("resource limit reached")
)

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
