package install

import (
	"context"

	"github.com/safe-install/safe-install/sandbox/tree"
)

// Session is a package manager's part in one run, beyond its plan: what
// it reads of the fetched state before any third-party code runs, the
// rule for what scripts return, what it finds in a finished scripts
// container and in the staged artifacts, and how the artifacts reach the
// host. The pipeline calls it in that order, from run.go; a manager that
// needs no hook embeds NoSession.
type Session interface {
	// Fetched is called once the fetch succeeded, before any third-party
	// code ran, with the fetch container's files.
	Fetched(ctx context.Context, f Files, say Say) (ScriptsPlan, error)
	// Rule judges what a phase of third-party scripts ("scripts", or the
	// project's own: "project") left, against the tree before it; nil
	// when the manager has no rule beyond the extractor's.
	Rule(phase string, before tree.Tree) Rule
	// PhaseDone reads what the manager left in a finished scripts
	// container (npm: its timing record, the network notes); it may mark
	// the phase's runs Recorded.
	PhaseDone(ctx context.Context, c Files, runs []ScriptRun) Findings
	// Owner names the package that holds an artifact entry ("" when none).
	Owner(entry, staging string) string
	// Finish looks at the staged artifacts once they passed every check.
	Finish(staging string) (Findings, error)
	// Deliver puts the staged artifacts into the host; done false leaves
	// them to the pipeline's atomic swap into the project.
	Deliver(ctx context.Context, staging string, say Say) (done bool, installed any, err error)
}

// Prefilling is a Session that builds part of the staged tree from the
// host's while the fetch runs (npm's incremental install: the unchanged
// tree). Prefill starts on dir, a directory beside the staging one that
// goes with it, and returns the wait for its end (nil: nothing to build);
// canceling ctx ends it early.
type Prefilling interface {
	Prefill(ctx context.Context, dir string) (wait func() error)
}

// ScriptsPlan is what a session decided from the fetched state.
type ScriptsPlan struct {
	// Args are added to the scripts phase's command (npm: the packages to
	// rebuild, as name@version).
	Args []string
	// Skip: there is nothing for the scripts phase to run, so no
	// container starts.
	Skip bool
	// Detail ends the progress line of the scripts phase ("3 packages").
	Detail string
	// Only, when set, are the paths below the artifacts that come back
	// (an incremental npm install: the packages that changed); the
	// session's Deliver builds the rest from the host's tree. What an
	// engine sends beyond them (the archive endpoint sends the artifacts
	// whole) is read past, never staged.
	Only []string
	// Except, below Only, stays out too (an incremental npm install: an
	// unchanged package nested in a changed one, which Deliver takes from
	// the host's tree like every other unchanged one).
	Except []string
	// Inputs go into the work volume before the scripts phase (an
	// incremental npm install: the installed packages' files, which the
	// fetch did not need and a new package's script may).
	Inputs []Input
}

// Files reads a stopped container's files, as the pipeline copies them out.
type Files interface {
	// Read returns the file at path (absolute in the container), of at most
	// max bytes; an error wrapping fs.ErrNotExist when there is none.
	Read(ctx context.Context, path string, max int64) ([]byte, error)
	// Walk calls fn with each regular file below dir (absolute) of at most
	// max bytes, and its name relative to dir; larger files are passed over.
	Walk(ctx context.Context, dir string, max int64, fn func(name string, data []byte) error) error
	// Stage copies a file below WorkDir into the staging directory through
	// the validating extractor, once, and returns its path there; "" when
	// the container has none.
	Stage(ctx context.Context, name string) (string, error)
}

// Rule is the copy-back rule of one phase (invariant 7).
type Rule interface {
	// Check judges one entry of what came back; "" accepts it.
	Check(name string, e tree.Entry) string
	// CheckAll judges a whole listing, in the order that names the
	// likeliest culprit first, and returns the first entry refused.
	CheckAll(t tree.Tree) (name, reason string)
	// Missing names an entry of the tree before the phase, below roots
	// (everywhere when roots is empty), that is gone and may not be.
	Missing(roots []string) (name, reason string)
	// Changed is every entry that came back changed by this phase or an
	// earlier one, as it is now.
	Changed() tree.Tree
	// Culprits names the packages whose scripts ran in the phase.
	Culprits() string
	// Warnings are what the user should know of an accepted tree (entries
	// outside every package).
	Warnings() []string
}

// Findings are what a session tells the user and the report.
type Findings struct {
	Warnings        []string
	HeldBack        []HeldBack
	NetworkAttempts []NetworkAttempt
}

// NoSession is every hook's default: no scripts plan, no rule, no owner,
// no findings, and the pipeline's swap.
type NoSession struct{}

func (NoSession) Fetched(context.Context, Files, Say) (ScriptsPlan, error) { return ScriptsPlan{}, nil }
func (NoSession) Rule(string, tree.Tree) Rule                              { return nil }
func (NoSession) PhaseDone(context.Context, Files, []ScriptRun) Findings   { return Findings{} }
func (NoSession) Owner(string, string) string                              { return "" }
func (NoSession) Finish(string) (Findings, error)                          { return Findings{}, nil }
func (NoSession) Deliver(context.Context, string, Say) (bool, any, error)  { return false, nil, nil }

// HeldBack is a dependency whose install scripts did not run because the
// script policy does not decide about it (npm 12's rule: unreviewed
// scripts do not run), so the tree may not work until they do.
type HeldBack struct {
	Package string `json:"package"` // name@version
	// Scripts are what it declares: "postinstall: node install.js".
	Scripts []string `json:"scripts"`
}

// NetworkAttempt is a host a package's script tried to reach: scripts have
// no network here, so whatever it wanted from there is missing, even when
// the script exited 0.
type NetworkAttempt struct {
	Package string `json:"package"` // name@version, from npm's environment
	Host    string `json:"host"`
}
