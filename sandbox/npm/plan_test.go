package npm

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/testproject"
)

func plan(t *testing.T, files map[string]string, args ...string) (*install.Plan, error) {
	t.Helper()
	return Manager{}.Plan(testproject.Write(t, files), args, install.PlanOptions{Home: t.TempDir(), Env: map[string]string{}, Warn: func(string) {}})
}

const lock = `{"lockfileVersion": 3, "packages": {"": {}}}`

func TestNPMPlanRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		files map[string]string
		args  []string
		want  error
		says  string
	}{
		{"not an install", map[string]string{"package.json": `{}`}, []string{"run", "test"}, install.ErrUnsupported, "npm run"},
		{"no command", map[string]string{"package.json": `{}`}, nil, install.ErrUnsupported, "npm ci"},
		{"ci without lockfile", map[string]string{"package.json": `{}`}, []string{"ci"}, install.ErrPolicy, "package-lock.json"},
		{"no package.json", map[string]string{}, []string{"install"}, nil, "package.json"},
		{"prefix flag", map[string]string{"package.json": `{}`}, []string{"install", "--prefix=/"}, install.ErrPolicy, "--prefix"},
		{"script-shell flag", map[string]string{"package.json": `{}`}, []string{"install", "--script-shell", "x"}, install.ErrPolicy, "--script-shell"},
		{"git spec", map[string]string{"package.json": `{}`}, []string{"install", "github:evil/pkg"}, install.ErrPolicy, "--allow-git"},
		{"shorthand git spec", map[string]string{"package.json": `{}`}, []string{"install", "evil/pkg"}, install.ErrPolicy, "--allow-git"},
		{"url spec", map[string]string{"package.json": `{}`}, []string{"i", "x@https://evil.example/x.tgz"}, install.ErrPolicy, "--allow-git"},
		{"git dependency", map[string]string{"package.json": `{"dependencies": {"x": "git+https://example.invalid/x.git"}}`}, []string{"install"}, install.ErrPolicy, "dependency x"},
		{"git in lockfile", map[string]string{"package.json": `{}`, "package-lock.json": `{"packages": {"node_modules/x": {"resolved": "git+ssh://git@example.invalid/x.git#abc"}}}`}, []string{"ci"}, install.ErrPolicy, "node_modules/x"},
		{"file dep outside project", map[string]string{"package.json": `{"dependencies": {"x": "file:../x.tgz"}}`}, []string{"install"}, install.ErrPolicy, "outside the project"},
		{"registry only the project names", map[string]string{"package.json": `{}`, ".npmrc": "registry=http://127.0.0.1:9/\n"}, []string{"install"}, install.ErrPolicy, "--allow-registry"},
		{"scoped registry only the project names", map[string]string{"package.json": `{}`, ".npmrc": "@evil:registry=https://evil.example/\n"}, []string{"install"}, install.ErrPolicy, "@evil:registry"},
		{"lockfile tarball elsewhere", map[string]string{"package.json": `{}`, "package-lock.json": `{"packages": {"node_modules/x": {"resolved": "https://evil.example/x/-/x-1.0.0.tgz"}}}`}, []string{"ci"}, install.ErrPolicy, "evil.example"},
		{"ci with names", map[string]string{"package.json": `{}`, "package-lock.json": lock}, []string{"ci", "left-pad"}, install.ErrPolicy, "npm install left-pad"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := plan(t, tt.files, tt.args...)
			if err == nil {
				t.Fatal("planned; want a refusal")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %v is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not mention %q", err, tt.says)
			}
		})
	}
}

func TestNPMPlanInstall(t *testing.T) {
	t.Parallel()
	p, err := plan(t, map[string]string{
		"package.json":            `{"dependencies": {"a": "file:vendor/a-1.0.0.tgz", "b": "^1"}, "workspaces": ["packages/*"]}`,
		"package-lock.json":       lock,
		"vendor/a-1.0.0.tgz":      "tgz",
		"packages/w/package.json": `{"name": "w"}`,
		"packages/w/index.js":     "code",
		".env":                    "SECRET=1",
		".git/config":             "[core]",
		".npmrc":                  "save-exact=true\nscript-shell=/tmp/evil\n",
	}, "install", "-D", "left-pad@1.3.0")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range p.Inputs {
		names = append(names, in.Name)
	}
	for _, want := range []string{"package.json", "package-lock.json", "vendor/a-1.0.0.tgz", "packages/w/package.json", ".npmrc"} {
		if !slices.Contains(names, want) {
			t.Errorf("inputs %v lack %s", names, want)
		}
	}
	for _, never := range []string{".env", ".git/config", "packages/w/index.js"} {
		if slices.Contains(names, never) {
			t.Errorf("inputs carry %s", never)
		}
	}
	if got, want := strings.Join(p.Fetch.Command, " "), strings.Join(egress.RelayCommand("sh", "-c", baselineScript, "sh", "install", "--ignore-scripts", "-D", "left-pad@1.3.0"), " "); got != want {
		t.Errorf("fetch command %q", got)
	}
	if p.Scripts == nil || strings.Join(p.Scripts.Command, " ") != "npm rebuild --foreground-scripts --timing" {
		t.Errorf("scripts phase %+v", p.Scripts)
	}
	if !slices.Equal(p.Manifests, []string{"package.json", "package-lock.json"}) {
		t.Errorf("manifests %v", p.Manifests)
	}
	for _, in := range p.Inputs {
		if in.Name == ".npmrc" && strings.Contains(string(in.Data), "script-shell") {
			t.Error("the project .npmrc kept script-shell")
		}
	}
}

func TestNPMPlanCIAndIgnoreScripts(t *testing.T) {
	t.Parallel()
	p, err := plan(t, map[string]string{"package.json": `{}`, "package-lock.json": lock}, "ci", "--ignore-scripts", "--omit=dev")
	if err != nil {
		t.Fatal(err)
	}
	if p.Scripts != nil {
		t.Error("--ignore-scripts still plans a scripts phase")
	}
	if len(p.Manifests) != 0 {
		t.Errorf("npm ci brings back manifests %v; it must not change them", p.Manifests)
	}
	if got := p.FetchSummary; got != "npm ci --ignore-scripts --omit=dev" {
		t.Errorf("fetch command %q", got)
	}
}

// The phases' environments are fixed: nothing of the host's leaks in.
func TestNPMPlanEnvironmentIsFixed(t *testing.T) {
	t.Parallel()
	dir := testproject.Write(t, map[string]string{"package.json": `{}`})
	p, err := Manager{}.Plan(dir, []string{"install"}, install.PlanOptions{Home: t.TempDir(), Warn: func(string) {},
		Env: map[string]string{"NPM_TOKEN": "SECRET", "GITHUB_TOKEN": "SECRET", "HTTPS_PROXY": "http://u:SECRET@proxy"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, ph := range []install.Phase{p.Fetch, *p.Scripts} {
		for k, v := range ph.Env {
			if strings.Contains(v, "SECRET") || strings.Contains(k, "TOKEN") || strings.Contains(strings.ToUpper(k), "PROXY") {
				t.Errorf("phase env carries %s=%s", k, v)
			}
		}
	}
	// It points npm away from the decoy ~/.npmrc, never at the fetch's config.
	if v := p.Scripts.Env["npm_config_userconfig"]; strings.HasPrefix(v, install.FetchConfigDir) || v == "" {
		t.Errorf("the scripts phase's npm userconfig is %q", v)
	}
}

// npm ci of a lockfile without install scripts starts no scripts container;
// an old lockfile, which does not say, still gets one.
func TestNPMPlanSkipsScriptsWhenNoneExist(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, lock string
		scripts    bool
	}{
		{"v3 without scripts", `{"lockfileVersion": 3, "packages": {"": {}, "node_modules/a": {"version": "1.0.0"}}}`, false},
		{"v3 with scripts", `{"lockfileVersion": 3, "packages": {"": {}, "node_modules/a": {"version": "1.0.0", "hasInstallScript": true}}}`, true},
		{"v1 says nothing", `{"lockfileVersion": 1, "dependencies": {"a": {"version": "1.0.0"}}}`, true},
	} {
		p, err := plan(t, map[string]string{"package.json": `{}`, "package-lock.json": tt.lock}, "ci")
		if err != nil {
			t.Fatal(err)
		}
		if (p.Scripts != nil) != tt.scripts {
			t.Errorf("%s: scripts phase %v, want %v", tt.name, p.Scripts != nil, tt.scripts)
		}
	}
}

// The project's package-lock.json or .npmrc reached through a link (out
// of the project, or to /dev/zero) refuses the plan, as the copy-in would
// later: the plan judged the file outside (its git dependencies, its
// registries) and waited on /dev/zero for good. Control: the same lockfile
// as a file of the project plans.
func TestAttackPlanReadsThroughLinks(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "lock.json")
	if err := os.WriteFile(outside, []byte(lock), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, target string }{{"package-lock.json", outside}, {".npmrc", "/dev/zero"}, {"package.json", "/dev/zero"}} {
		files := map[string]string{"package.json": `{"name":"p"}`, "package-lock.json": lock}
		delete(files, c.name)
		dir := testproject.Write(t, files)
		if err := os.Symlink(c.target, filepath.Join(dir, c.name)); err != nil {
			t.Fatal(err)
		}
		_, err := Manager{}.Plan(dir, []string{"ci"}, install.PlanOptions{Home: t.TempDir(), Env: map[string]string{}, Warn: func(string) {}})
		if !errors.Is(err, install.ErrPolicy) {
			t.Errorf("%s linked to %s: %v, want a refusal", c.name, c.target, err)
		}
	}
	if _, err := plan(t, map[string]string{"package.json": `{"name":"p"}`, "package-lock.json": lock}, "ci"); err != nil {
		t.Fatalf("control: %v", err)
	}
}
