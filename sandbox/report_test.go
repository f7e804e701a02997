package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/seccomp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

// The report's JSON is a published interface: its golden file shows every
// change in review.
func TestReportGolden(t *testing.T) {
	t.Parallel()
	plan := &install.Plan{Manager: "npm", Args: []string{"ci"}, Project: "/home/u/proj",
		Registries: []egress.Registry{{URL: "https://registry.npmjs.org/", Auth: "Bearer SECRET"}}}
	res := &Result{
		Image:  "localhost/safe-install-npm:node20.20.2-abc",
		Engine: engine.EngineInfo{Version: "4.3.1", Rootless: true, Host: "local", OS: "linux", Arch: "amd64", Cgroups: "v1"},
		Phases: []PhaseResult{
			{Name: "fetch", Duration: 1500 * time.Millisecond},
			{Name: "scripts", ExitCode: 11, Duration: 2 * time.Second, Scripts: []install.ScriptRun{{Package: "evil@1.0.0", Event: "postinstall", DurationMS: 120, Recorded: true}}},
		},
		ScriptsRan: 1,
		HeldBack:   []install.HeldBack{{Package: "bcrypt@6.0.0", Scripts: []string{"install: node-gyp-build"}}},
		Seccomp:    map[seccomp.Phase]string{seccomp.Fetch: "sha256:f", seccomp.Scripts: "sha256:s"},
		Contacted:  []string{"registry.npmjs.org:443"},
		Refused:    []egress.Refusal{{Method: "PUT", Host: "registry.npmjs.org", Path: "/evil", Reason: "only GET and HEAD reach a registry from the sandbox"}},
		Decoys:     []string{"~/.aws/credentials", "~/.npmrc", "~/.ssh/id_ed25519", "GITHUB_TOKEN", "NPM_TOKEN"},
		Theft: []TheftAttempt{
			{Decoy: "~/.npmrc", How: "read", Packages: []string{"evil@1.0.0"}},
			{Decoy: "GITHUB_TOKEN", How: "stashed in node_modules/evil/loot.txt", Packages: []string{"evil@1.0.0"}},
		},
		Timings: []Timing{{Step: "prepare", MS: 150}, {Step: "copy-in", MS: 200}, {Step: "fetch", MS: 1500},
			{Step: "baseline", MS: 30}, {Step: "scripts", MS: 2000}, {Step: "clean-up", MS: 400}},
	}
	rep := NewReport(plan, DefaultLimits(), res, errors.New("install script of evil@1.0.0 failed"), 3*time.Second)
	if rep.PeakRSSKiB <= 0 {
		t.Errorf("peak RSS %d KiB: read none", rep.PeakRSSKiB)
	}
	rep.PeakRSSKiB = 1234 // this process's, which varies
	got, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(got, []byte("SECRET")) {
		t.Fatal("the report carries a credential")
	}
	path := filepath.Join("testdata", "report.golden.json")
	if *update {
		os.WriteFile(path, append(got, '\n'), 0o644)
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (go test ./sandbox -run Golden -update)", err)
	}
	if !bytes.Equal(append(got, '\n'), want) {
		t.Errorf("report differs from %s:\n%s", path, got)
	}
}
