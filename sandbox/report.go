package sandbox

import (
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/safe-install/safe-install/seccomp"

	"github.com/safe-install/safe-install/sandbox/archive"
	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
)

// ReportSchema names the report's format; it changes when a field changes
// meaning or goes away (new fields may be added within a version).
const ReportSchema = "safe-install/report/v1"

// Report is the machine-readable account of one run (--json, --report).
type Report struct {
	Schema     string                   `json:"schema"`
	Manager    string                   `json:"manager"`
	Args       []string                 `json:"args"`
	Project    string                   `json:"project"`
	OK         bool                     `json:"ok"`
	Error      string                   `json:"error,omitempty"`
	DurationMS int64                    `json:"duration_ms"`
	Engine     engine.EngineInfo        `json:"engine"`
	Image      string                   `json:"image"`
	Seccomp    map[seccomp.Phase]string `json:"seccomp"`
	Limits     ReportLimits             `json:"limits"`
	Egress     ReportEgress             `json:"egress"`
	Policy     install.ScriptPolicy     `json:"script_policy"`
	Tree       string                   `json:"tree,omitempty"` // the plan's: incremental, or why not
	// FetchedTree: what the fetch did with the fetched-tree cache
	// (first, saved, restored, mismatch; "": not used).
	FetchedTree string        `json:"fetched_tree,omitempty"`
	Phases      []ReportPhase `json:"phases"`
	// ScriptsRan counts the install scripts npm's own record says ran;
	// HeldBack the dependencies whose scripts the policy held back.
	ScriptsRan int                `json:"scripts_ran"`
	HeldBack   []install.HeldBack `json:"held_back"`
	// NetworkAttempts are the hosts install scripts tried to reach.
	NetworkAttempts []install.NetworkAttempt `json:"network_attempts"`
	Copied          archive.Stats            `json:"copied"`
	Swapped         []string                 `json:"swapped"`
	// Installed is what the host's package manager installed from the
	// vetted artifacts (pip: the wheels, their .pth files and commands).
	Installed any `json:"installed,omitempty"`
	// Decoys are the decoy credentials planted where the scripts ran;
	// TheftAttempts what packages did with them.
	Decoys        []string       `json:"decoys"`
	TheftAttempts []TheftAttempt `json:"theft_attempts"`
	// Timings split the run into steps (engine: connecting and the image;
	// then the run's own, which DurationMS covers).
	Timings []Timing `json:"timings"`
	// PeakRSSKiB is safe-install's own peak memory (VmHWM) when the report
	// was made, at the end of the run: invariant 12 bounds it.
	PeakRSSKiB int64 `json:"peak_rss_kib"`
}

// peakRSS reads this process's VmHWM in KiB (0 where /proc has none).
func peakRSS() int64 {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(status), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return n
		}
	}
	return 0
}

// ReportLimits are the bounds in force.
type ReportLimits struct {
	TimeoutMS   int64 `json:"timeout_ms"`
	MemoryBytes int64 `json:"memory_bytes"`
	Pids        int64 `json:"pids"`
	MaxBytes    int64 `json:"copyback_max_bytes"`
	MaxEntries  int   `json:"copyback_max_entries"`
}

// ReportEgress is what the fetch phase could reach and what it tried.
type ReportEgress struct {
	Allowlist []string         `json:"allowlist"`
	Contacted []string         `json:"contacted"`
	Refused   []egress.Refusal `json:"refused"`
}

// ReportPhase is one container's run and the scripts npm announced in it.
type ReportPhase struct {
	Name       string              `json:"name"`
	ExitCode   int                 `json:"exit_code"`
	DurationMS int64               `json:"duration_ms"`
	Scripts    []install.ScriptRun `json:"scripts"`
}

// NewReport assembles the report of a run; res may be nil when the run
// failed before it started.
func NewReport(p *install.Plan, lim Limits, res *Result, runErr error, took time.Duration) Report {
	r := Report{
		Schema: ReportSchema, Manager: p.Manager, Args: p.Args, Project: p.Project,
		OK: runErr == nil, DurationMS: took.Milliseconds(),
		Limits: ReportLimits{TimeoutMS: lim.Timeout.Milliseconds(), MemoryBytes: lim.MemoryBytes, Pids: lim.Pids,
			MaxBytes: lim.Extract.MaxBytes, MaxEntries: lim.Extract.MaxEntries},
		Egress: ReportEgress{Allowlist: []string{}, Contacted: []string{}, Refused: []egress.Refusal{}},
		Phases: []ReportPhase{}, HeldBack: []install.HeldBack{}, NetworkAttempts: []install.NetworkAttempt{}, Swapped: []string{}, Policy: p.Policy, Tree: p.Tree, Decoys: []string{}, TheftAttempts: []TheftAttempt{},
		Timings: []Timing{}, PeakRSSKiB: peakRSS(),
	}
	if runErr != nil {
		r.Error = runErr.Error()
	}
	for _, reg := range p.Registries {
		r.Egress.Allowlist = append(r.Egress.Allowlist, reg.URL)
	}
	if res == nil {
		return r
	}
	r.Engine, r.Image, r.Seccomp, r.Copied = res.Engine, res.Image, res.Seccomp, res.Copied
	if res.Contacted != nil {
		r.Egress.Contacted = res.Contacted
	}
	if res.Refused != nil {
		r.Egress.Refused = res.Refused
	}
	if res.Swapped != nil {
		r.Swapped = res.Swapped
	}
	r.Installed, r.FetchedTree = res.Installed, res.FetchedTree
	r.ScriptsRan = res.ScriptsRan
	if res.NetworkAttempts != nil {
		r.NetworkAttempts = res.NetworkAttempts
	}
	if res.HeldBack != nil {
		r.HeldBack = res.HeldBack
	}
	if res.Decoys != nil {
		r.Decoys = res.Decoys
	}
	if res.Theft != nil {
		r.TheftAttempts = res.Theft
	}
	if res.Timings != nil {
		r.Timings = res.Timings
	}
	for _, ph := range res.Phases {
		scripts := ph.Scripts
		if scripts == nil {
			scripts = []install.ScriptRun{}
		}
		r.Phases = append(r.Phases, ReportPhase{Name: ph.Name, ExitCode: ph.ExitCode, DurationMS: ph.Duration.Milliseconds(), Scripts: scripts})
	}
	return r
}
