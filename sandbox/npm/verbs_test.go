package npm

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/fetchedtree"
	"github.com/safe-install/safe-install/sandbox/install"
)

const lockWithScripts = `{"lockfileVersion": 3, "packages": {"": {}, "node_modules/a": {"version": "1.0.0", "hasInstallScript": true}}}`

// Each reifying verb, in each of npm's spellings, plans the same sandboxed
// run: its npm command in the fetch with scripts off, the scripts offline
// in their own container, and the manifests npm changes brought back from
// the fetch.
func TestNPMPlanEveryReifyingVerb(t *testing.T) {
	t.Parallel()
	files := map[string]string{"package.json": `{"scripts": {"postinstall": "echo hi", "prepare": "echo p"}}`, "package-lock.json": lockWithScripts}
	tests := []struct {
		args      []string
		fetch     string // the npm command in the fetch
		manifests bool
		project   []string // the project's own scripts that run
		test      bool     // npm test on the host afterwards
	}{
		{[]string{"install", "x"}, "install --ignore-scripts x", true, []string{"postinstall", "prepare"}, false},
		{[]string{"ci"}, "ci --ignore-scripts", false, []string{"postinstall", "prepare"}, false},
		{[]string{"update"}, "update --ignore-scripts", true, []string{"postinstall", "prepare"}, false},
		{[]string{"up", "a"}, "update --ignore-scripts a", true, []string{"postinstall", "prepare"}, false},
		{[]string{"upgrade", "a"}, "update --ignore-scripts a", true, []string{"postinstall", "prepare"}, false},
		{[]string{"uninstall", "a"}, "uninstall --ignore-scripts a", true, []string{"postinstall", "prepare"}, false},
		{[]string{"rm", "a", "--no-save"}, "uninstall --ignore-scripts --no-save a", false, []string{"postinstall", "prepare"}, false},
		{[]string{"remove", "a"}, "uninstall --ignore-scripts a", true, []string{"postinstall", "prepare"}, false},
		{[]string{"un", "a"}, "uninstall --ignore-scripts a", true, []string{"postinstall", "prepare"}, false},
		{[]string{"dedupe"}, "dedupe --ignore-scripts", true, []string{"postinstall", "prepare"}, false},
		{[]string{"ddp"}, "dedupe --ignore-scripts", true, []string{"postinstall", "prepare"}, false},
		{[]string{"prune", "--omit=dev"}, "prune --ignore-scripts --omit=dev", true, []string{"postinstall", "prepare"}, false},
		{[]string{"install-test"}, "install --ignore-scripts", true, []string{"postinstall", "prepare"}, true},
		{[]string{"it", "x"}, "install --ignore-scripts x", true, []string{"postinstall", "prepare"}, true},
		{[]string{"install-ci-test"}, "ci --ignore-scripts", false, []string{"postinstall", "prepare"}, true},
		{[]string{"cit"}, "ci --ignore-scripts", false, []string{"postinstall", "prepare"}, true},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			p, err := plan(t, files, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			script := baselineScript
			if strings.HasPrefix(tt.fetch, "ci ") {
				// npm ci's tree follows from its inputs: the fetch may
				// restore it (package fetchedtree).
				script = fetchedtree.Wrap(baselineScript, "node_modules", BaselineFile+".list", BaselineFile+".sums")
			}
			if got, want := strings.Join(p.Fetch.Command, " "), strings.Join(egress.RelayCommand("sh", "-c", script, "sh"), " ")+" "+tt.fetch; got != want {
				t.Errorf("fetch %q, want %q", got, want)
			}
			if p.FetchedTree != strings.HasPrefix(tt.fetch, "ci ") {
				t.Errorf("FetchedTree = %v for %s", p.FetchedTree, tt.fetch)
			}
			if p.Scripts == nil || !slices.Contains(p.Scripts.Command, "rebuild") || p.Scripts.Env["npm_config_offline"] != "true" {
				t.Errorf("scripts phase %+v: want npm rebuild, offline", p.Scripts)
			}
			if got := len(p.Manifests) > 0; got != tt.manifests {
				t.Errorf("manifests %v, want brought back: %v", p.Manifests, tt.manifests)
			}
			if !slices.Equal(p.ProjectEvents, tt.project) {
				t.Errorf("project scripts %v, want %v", p.ProjectEvents, tt.project)
			}
			if got := slices.Equal(p.HostAfter, []string{"npm", "test"}); got != tt.test {
				t.Errorf("host command after %v, want npm test: %v", p.HostAfter, tt.test)
			}
			if p.Baseline != BaselineFile || !slices.Equal(p.Artifacts, []string{"node_modules"}) {
				t.Errorf("baseline %q, artifacts %v", p.Baseline, p.Artifacts)
			}
		})
	}
}

// npm install-test --ignore-scripts runs npm test without its pretest
// and posttest, as plain npm does (the flag is npm's config for the
// whole command); without the flag they run.
func TestNPMInstallTestIgnoreScriptsReachesNPMTest(t *testing.T) {
	t.Parallel()
	files := map[string]string{"package.json": `{"scripts": {"pretest": "echo pre", "test": "echo t"}}`, "package-lock.json": lockWithScripts}
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"it"}, []string{"npm", "test"}},
		{[]string{"it", "--ignore-scripts"}, []string{"npm", "test", "--ignore-scripts"}},
		{[]string{"cit", "--ignore-scripts"}, []string{"npm", "test", "--ignore-scripts"}},
		{[]string{"install", "--ignore-scripts"}, nil},
	} {
		p, err := plan(t, files, tt.args...)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.HostAfter, tt.want) {
			t.Errorf("npm %v: host command after %v, want %v", tt.args, p.HostAfter, tt.want)
		}
	}
}

func TestNPMPlanVerbRefusals(t *testing.T) {
	t.Parallel()
	files := map[string]string{"package.json": `{}`, "package-lock.json": lock}
	tests := []struct {
		args []string
		want error
		says string
	}{
		{[]string{"uninstall"}, install.ErrPolicy, "needs the names"},
		{[]string{"dedupe", "a"}, install.ErrPolicy, "takes no package names"},
		{[]string{"prune", "a"}, install.ErrPolicy, "takes no package names"},
		{[]string{"cit", "a"}, install.ErrPolicy, "takes no package names"},
		{[]string{"update", "github:evil/x"}, install.ErrPolicy, "--allow-git"},
		{[]string{"rebuild"}, install.ErrPolicy, "has none"}, // no node_modules
		{[]string{"exec", "cowsay"}, install.ErrUnsupported, "runs a package's code by design"},
		{[]string{"x", "cowsay"}, install.ErrUnsupported, "runs a package's code by design"},
		{[]string{"update", "--global"}, install.ErrPolicy, "--global"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			_, err := plan(t, files, tt.args...)
			if !errors.Is(err, tt.want) || !strings.Contains(fmt.Sprint(err), tt.says) {
				t.Errorf("error %v; want %v saying %q", err, tt.want, tt.says)
			}
		})
	}
	_, err := plan(t, map[string]string{"package.json": `{}`, "node_modules/a/package.json": `{}`}, "rebuild", "a@^1")
	if !errors.Is(err, install.ErrPolicy) || !strings.Contains(err.Error(), "exact version") {
		t.Errorf("rebuild a@^1: %v", err)
	}
}

// npm rebuild copies the installed tree in as it is (links as links) and
// runs no npm in the fetch; the project's own install scripts run only
// when no package is named, and never its prepare (npm rebuild's).
func TestNPMPlanRebuild(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"package.json":                     `{"scripts": {"postinstall": "echo hi", "prepare": "echo p"}}`,
		"package-lock.json":                lockWithScripts,
		"node_modules/.package-lock.json":  lockWithScripts,
		"node_modules/a/package.json":      `{"name": "a", "version": "1.0.0", "bin": "cli.js"}`,
		"node_modules/a/cli.js":            "#!/usr/bin/env node",
		"node_modules/.bin/a":              "->../a/cli.js",
		"node_modules/a/build/Release/a.o": "old build",
	}
	p, err := plan(t, files, "rebuild")
	if err != nil {
		t.Fatal(err)
	}
	inputs := map[string]install.Input{}
	for _, in := range p.Inputs {
		inputs[in.Name] = in
	}
	for _, name := range []string{"node_modules/.package-lock.json", "node_modules/a/package.json", "node_modules/a/build/Release/a.o"} {
		if in, ok := inputs[name]; !ok || in.Source == "" || in.Link != "" {
			t.Errorf("input %s = %+v, want the host file", name, in)
		}
	}
	if in := inputs["node_modules/.bin/a"]; in.Link != "../a/cli.js" || in.Source != "" {
		t.Errorf("the .bin link came in as %+v", in)
	}
	if got := strings.Join(p.Fetch.Command, " "); got != strings.Join(egress.RelayCommand("sh", "-c", treeScript), " ") || strings.Contains(got, "npm ") {
		t.Errorf("fetch %q: want only the listing", got)
	}
	if len(p.Manifests) != 0 {
		t.Errorf("npm rebuild brings back manifests %v", p.Manifests)
	}
	if p.Scripts == nil || !slices.Equal(p.ProjectEvents, []string{"postinstall"}) {
		t.Errorf("scripts %+v, project's %v: want the dependencies' and the project's postinstall", p.Scripts, p.ProjectEvents)
	}
	p, err = plan(t, files, "rb", "a")
	if err != nil {
		t.Fatal(err)
	}
	if p.ProjectScripts != nil {
		t.Errorf("npm rebuild a runs the project's scripts %v", p.ProjectEvents)
	}
	p, err = plan(t, map[string]string{"package.json": `{}`, "node_modules/fifo": "x"}, "rebuild", "--ignore-scripts")
	if err != nil || p.Scripts != nil {
		t.Errorf("rebuild --ignore-scripts: %v, scripts %+v", err, p.Scripts)
	}
}

// fakeFiles are a stopped container's files, for a session's Fetched.
type fakeFiles map[string]string

func (f fakeFiles) Read(_ context.Context, path string, max int64) ([]byte, error) {
	data, ok := f[path]
	if !ok {
		return nil, fs.ErrNotExist
	}
	return []byte(data), nil
}
func (fakeFiles) Walk(context.Context, string, int64, func(string, []byte) error) error { return nil }
func (fakeFiles) Stage(context.Context, string) (string, error)                         { return "", nil }

// npm rebuild's scripts are those the copied-in tree's record declares,
// of the packages named, at the tree's own locations: what the copy-back
// rule then lets change.
func TestNPMRebuildRunsWhatTheTreeRecordSays(t *testing.T) {
	t.Parallel()
	hidden := `{"lockfileVersion": 3, "packages": {
		"node_modules/a": {"version": "1.0.0", "hasInstallScript": true},
		"node_modules/b": {"version": "2.0.0", "hasInstallScript": true},
		"node_modules/x/node_modules/b": {"version": "3.0.0", "hasInstallScript": true},
		"node_modules/c": {"version": "1.0.0"}}}`
	files := fakeFiles{install.WorkDir + "/node_modules/.package-lock.json": hidden}
	for _, tt := range []struct {
		only []string
		want []string
	}{
		{nil, []string{"a@1.0.0", "b@2.0.0", "b@3.0.0"}},
		{[]string{"b"}, []string{"b@2.0.0", "b@3.0.0"}},
		{[]string{"b@3.0.0"}, []string{"b@3.0.0"}},
		{[]string{"c"}, nil},
	} {
		s := &npmSession{treeLock: true, only: tt.only, scripts: true, lockfile: "package-lock.json"}
		sp, err := s.Fetched(context.Background(), files, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(sp.Args, tt.want) || sp.Skip != (len(tt.want) == 0) {
			t.Errorf("rebuild %v: targets %v (skip %v), want %v", tt.only, sp.Args, sp.Skip, tt.want)
		}
		rule := s.Rule("scripts", nil)
		if tt.only == nil && rule.Check("node_modules/x/node_modules/b/build/b.node", file("x")) != "" {
			t.Error("the rule refuses what b@3.0.0's own script built, where the tree has it")
		}
		if slices.Equal(tt.only, []string{"b@3.0.0"}) && rule.Check("node_modules/b/build/b.node", file("x")) == "" {
			t.Error("the rule lets b@2.0.0 change, which was not rebuilt")
		}
	}
}
