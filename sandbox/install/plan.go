package install

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/safe-install/safe-install/sandbox/egress"
)

// Manager is what safe-install knows of one package manager: how its
// command line becomes a Plan. A third manager (yarn, pnpm, uv) is one more
// implementation, not a branch in the pipeline.
type Manager interface {
	// Name is the command users type: "npm".
	Name() string
	// Plan reads the project and the user's configuration, never the
	// network, and says what to copy in, what to run and what comes back.
	Plan(project string, args []string, opts PlanOptions) (*Plan, error)
}

// PlanOptions are the user's decisions that shape a plan.
type PlanOptions struct {
	AllowGit bool // allow git and remote-URL dependencies
	// AllowScripts and DenyScripts add to the project's script policy.
	AllowScripts, DenyScripts []string
	// AllUnreviewed runs, in the sandbox, the scripts of every dependency
	// the policy does not decide about (npm 12 would hold them back);
	// denials still win.
	AllUnreviewed bool
	// NPMVersion is the npm the sandbox runs (the host's): from npm 12 on,
	// dependencies' scripts that allowScripts does not cover do not run.
	NPMVersion string
	// PNPMVersion is the host's pnpm (`pnpm --version`), the sandbox's
	// when the project's packageManager names none; AllowPnpmfile lets
	// pnpm run the project's .pnpmfile.cjs (code, run while resolving).
	PNPMVersion   string
	AllowPnpmfile bool
	// PNPMStoreDir is the host's pnpm store (`pnpm store path`; "": none
	// known), which the returned node_modules/.modules.yaml names.
	PNPMStoreDir string
	// MinReleaseAge refuses package versions published less than this ago
	// (npm: --min-release-age; 0: off).
	MinReleaseAge time.Duration
	// AllowRegistries are registry URLs the user trusts although only the
	// project's configuration names them.
	AllowRegistries []string
	Home            string            // the user's home, for the user's config files
	Env             map[string]string // the host environment, for ${VAR} in config files
	// Warn records something the plan dropped or changed, for the user.
	Warn func(msg string)

	// pip: AllowIndex trusts index options found in requirements files;
	// AllowPth lets these packages install .pth files that run code;
	// AllowCommand lets wheels install commands under these common tools'
	// names (git, ssh, node...); Python is the host interpreter that
	// receives the wheels.
	AllowIndex   bool
	AllowPth     []string
	AllowCommand []string
	Python       string
}

// Plan is one install, decided before any container exists. It can be
// printed (--dry-run); file contents never are, since they may hold tokens.
type Plan struct {
	Manager string   `json:"manager"`
	Args    []string `json:"args"`
	Project string   `json:"project"`
	// Inputs go into the work volume, seen by every phase.
	Inputs []Input `json:"inputs"`
	// FetchOnly goes into a volume that only the fetch container mounts:
	// registry credentials live there and nowhere else.
	FetchOnly []Input `json:"fetch_only"`
	Fetch     Phase   `json:"fetch"`
	// Scripts is nil when the user asked for no scripts (--ignore-scripts)
	// or the script policy allows none.
	Scripts *Phase `json:"scripts"`
	// ProjectScripts runs the project's own lifecycle scripts (npm: preinstall,
	// postinstall, prepare), after Scripts, in a container of its own, so
	// that what they change in other packages (patch-package) is told
	// apart from a dependency's tampering. ProjectInputs are the project
	// files they get besides Inputs.
	ProjectScripts *Phase  `json:"project_scripts,omitempty"`
	ProjectInputs  []Input `json:"project_inputs,omitempty"`
	// ProjectEvents are the scripts ProjectScripts runs, in order.
	ProjectEvents []string `json:"project_events,omitempty"`
	// LinkTargets are project directories (slash-separated, relative) that
	// a symlink in the artifacts may point at: npm's workspaces and file:
	// directories, linked into node_modules.
	LinkTargets []string `json:"link_targets,omitempty"`
	// Policy is which dependencies' scripts run.
	Policy ScriptPolicy `json:"script_policy"`
	// Artifacts are directories taken from the scripts container (or the
	// fetch container when there is no scripts phase), below WorkDir.
	Artifacts []string `json:"artifacts"`
	// Manifests are files taken from the fetch container, before any
	// third-party code ran, because the user asked npm to change them.
	Manifests []string `json:"manifests"`
	// Registries are all the fetch phase may reach (the egress allowlist).
	Registries []egress.Registry `json:"registries"`
	// Baseline names the listing (below WorkDir, tree.ListScript's) in
	// which the fetch describes the work directory as it left it, for the
	// session's copy-back rule ("": none).
	Baseline string `json:"baseline,omitempty"`
	// BaselineLater: the fetch lists nothing, and when a scripts phase
	// follows, a listing container of its own (a trusted command, the
	// work volume read-only) lists the work directory as the fetch left
	// it, before any third-party code runs. For an incremental npm
	// install, most of which run no script: the fetch's listing was
	// 60-70 ms of each.
	BaselineLater bool `json:"baseline_later,omitempty"`
	// Tools go, read-only, into every scripts container at ToolsDir
	// (npm: netlog.js, which notes network attempts).
	Tools []Input `json:"tools,omitempty"`
	// Session is the manager's part in the run (session.go); nil is
	// NoSession's.
	Session Session `json:"-"`
	// FetchSummary names the fetch on the progress line, without what
	// safe-install puts in front of the command.
	FetchSummary string `json:"-"`
	// Python is the host Python's major.minor (pip): the sandbox image's
	// python3 must be the same.
	Python string `json:"python,omitempty"`
	// Output reads the package manager's output.
	Output OutputParser `json:"-"`
	// HostAfter is a command safe-install runs on the host once the
	// artifacts are in, as the package manager itself would (npm
	// install-test: npm test, the project's own test, outside the sandbox).
	HostAfter []string `json:"host_after,omitempty"`
	// Tree says how the installed tree is built, for the report (npm:
	// "incremental", or why the installed tree is rebuilt whole; "": a
	// new tree).
	Tree string `json:"tree,omitempty"`
	// PrivateCache gives the fetch a cache volume of this run's own
	// instead of the manager's lasting one, removed with the run: the
	// fetch runs code that is not the package manager's (pnpm: a pnpmfile
	// the user allowed for this project; pip: sdists' metadata hooks), and
	// what it wrote in a shared cache (pnpm itself, the store, pip's HTTP
	// responses and wheels) would be what every later run of every
	// project fetches.
	PrivateCache bool `json:"private_cache,omitempty"`
	// FetchedTree lets the fetch restore its result from the lasting
	// cache (package fetchedtree) when an earlier fetch of the same inputs
	// saved it, its Command being fetchedtree.Wrap's: only for a fetch
	// that runs the package manager alone (npm ci, scripts off).
	FetchedTree bool `json:"fetched_tree,omitempty"`
	// HostInstall: the session's Deliver installs the artifacts on the
	// host itself (pip's host pip) instead of the pipeline's swap. The
	// run's containers and volumes are then removed after it, not while
	// it runs (releaseEngine): an interrupt in that removal would stop a
	// host install halfway, which no swap undoes.
	HostInstall bool `json:"host_install,omitempty"`
}

// Say is how a step talks to the user: a line, or a warning that even
// --quiet shows.
type Say interface {
	Note(format string, args ...any)
	Warn(format string, args ...any)
}

// OutputParser reads what a package manager printed: whose scripts or
// builds ran, and which one failed.
type OutputParser interface {
	// Kind is what a failure is called: "install script", "wheel build".
	Kind() string
	Scripts(log string) []ScriptRun
	Failure(log string) (pkg, command string)
	// Label is how a run is listed after its package: "postinstall",
	// "install (node-gyp rebuild)".
	Label(ScriptRun) string
}

// Input is one file copied into a container: from the host (Source) or
// made by the plan (Data, e.g. a sanitised .npmrc).
type Input struct {
	Name   string `json:"name"` // slash-separated, relative to the mount point
	Source string `json:"source,omitempty"`
	Data   []byte `json:"-"`
	// Link makes the input a symlink to this target (npm rebuild copies
	// the project's node_modules in, .bin links and workspace links
	// included); Source and Data are unset then.
	Link string `json:"link,omitempty"`
	Mode int64  `json:"mode"`
	// ModTime dates the file (and its access time); zero means now.
	ModTime time.Time `json:"-"`
}

// Phase is one container's command and environment.
type Phase struct {
	Command []string          `json:"command"`
	Env     map[string]string `json:"env"`
}

// WorkDir is where the project's inputs sit in every container.
const WorkDir = "/work"

// FetchConfigDir holds the fetch-only inputs: npm's config, the relay to
// the egress proxy and the run's CA certificate.
const FetchConfigDir = "/run/safe-install"

// ToolsDir holds, read-only, what safe-install gives the scripts
// containers (netlog.js), in a volume of its own (never the fetch's).
const ToolsDir = "/run/safe-install-tools"

// ScriptRun is one lifecycle script npm announced.
type ScriptRun struct {
	Package string `json:"package"` // name@version
	Event   string `json:"event"`   // preinstall, install, postinstall
	// Command is the script npm announced under the header; "node-gyp
	// rebuild" for the install npm adds to a package with a binding.gyp.
	Command string `json:"command,omitempty"`
	// DurationMS is how long it ran, from npm's own timing record (0 when
	// there is none).
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Recorded says npm's own record (--timing) has it: a header alone can
	// be printed by any script. The project's own scripts, which npm run
	// announces, count as recorded.
	Recorded bool `json:"recorded"`
}

// LastLines returns at most n trailing lines of s, leaving out npm's own
// timing lines (--timing prints them last, where they would fill the tail
// of a failed script's output), and at most MaxTail bytes of them: a
// message is for a person (pip's interleaved build lines made one of 38
// KB), the report's output keeps the rest.
func LastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, "npm timing ") })
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	tail := strings.Join(lines, "\n")
	if len(tail) <= MaxTail {
		return tail
	}
	cut := len(tail) - MaxTail + len(tailCut)
	for cut < len(tail) && !utf8.RuneStart(tail[cut]) {
		cut++
	}
	return tailCut + tail[cut:]
}

// MaxTail bounds LastLines; tailCut marks where it cut.
const (
	MaxTail = 8 << 10
	tailCut = "[...] "
)

// Plural counts a noun for a message: "1 package", "3 packages", "2 dependencies".
func Plural(n int, noun string) string {
	switch {
	case n == 1:
		return "1 " + noun
	case strings.HasSuffix(noun, "y"):
		return fmt.Sprintf("%d %sies", n, strings.TrimSuffix(noun, "y"))
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// DecoyHome is the scripts container's home: a volume of this run holding
// the decoy files (a tmpfs cannot be filled before the container starts).
const DecoyHome = "/home/sandbox"
