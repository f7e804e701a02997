package pip

import (
	"encoding/base64"
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

// pipPlan plans in a fresh project with a fresh HOME; env adds variables.
func pipPlan(t *testing.T, files map[string]string, env map[string]string, allowIndex bool, args ...string) (*install.Plan, error) {
	t.Helper()
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["PIP_CONFIG_FILE"]; !ok {
		env["PIP_CONFIG_FILE"] = os.DevNull // not this machine's pip.conf
	}
	home := t.TempDir()
	if rc, ok := files["~/.netrc"]; ok {
		if err := os.WriteFile(filepath.Join(home, ".netrc"), []byte(rc), 0o600); err != nil {
			t.Fatal(err)
		}
		delete(files, "~/.netrc")
	}
	return Manager{}.Plan(testproject.Write(t, files), args, install.PlanOptions{Home: home, Env: env, AllowIndex: allowIndex,
		Python: "python3", Warn: func(string) {}})
}

func inputData(p *install.Plan, name string) string {
	for _, in := range p.Inputs {
		if in.Name == name {
			return string(in.Data)
		}
	}
	return "<missing>"
}

func TestPipPlanDefaultsToPyPI(t *testing.T) {
	p, err := pipPlan(t, map[string]string{"requirements.txt": "requests==2.32.3\n"}, nil, false, "install", "-r", "requirements.txt", "rich", "--pre", "-U")
	if err != nil {
		t.Fatal(err)
	}
	var urls []string
	for _, r := range p.Registries {
		urls = append(urls, r.URL)
	}
	if strings.Join(urls, " ") != "https://pypi.org/simple/ https://files.pythonhosted.org/packages/" {
		t.Errorf("registries %v", urls)
	}
	fetch := strings.Join(p.Fetch.Command, " ")
	if !strings.HasSuffix(fetch, "-- --pre -r requirements.txt rich") || !strings.Contains(fetch, "--expect-python=cpython-3") {
		t.Errorf("fetch command %q", fetch)
	}
	if build := strings.Join(p.Scripts.Command, " "); !strings.HasSuffix(build, "wheel --wheel-dir /work/safe-install-wheels --pre -r requirements.txt rich") {
		t.Errorf("build command %q", build)
	}
	// Both phases run pip through pipenvs.py: the fetch leaves its build
	// environments in the store, the build reads them from there.
	store := "/work/" + pipBuildEnvs
	if !slices.Equal(p.Scripts.Command[:3], []string{"python3", "/run/safe-install-tools/pipenvs.py", store}) ||
		!slices.Contains(p.Fetch.Command, store) {
		t.Errorf("the phases do not share the build environments' store: fetch %q, build %q", fetch, p.Scripts.Command)
	}
	if len(p.Tools) != 1 || p.Tools[0].Name != "pipenvs.py" || !slices.ContainsFunc(p.FetchOnly, func(in install.Input) bool { return in.Name == "pipenvs.py" }) {
		t.Errorf("pipenvs.py is not given to both phases: tools %v, fetch-only %v", p.Tools, p.FetchOnly)
	}
	if p.Scripts.Env["PIP_NO_INDEX"] != "1" || p.Scripts.Env["PIP_PROXY"] != "" || p.Scripts.Env["PIP_INDEX_URL"] != "" {
		t.Errorf("the build phase's pip can reach an index: %v", p.Scripts.Env)
	}
	if p.Fetch.Env["PIP_CONFIG_FILE"] != os.DevNull || p.Fetch.Env["PIP_PROXY"] == "" {
		t.Errorf("fetch env %v", p.Fetch.Env)
	}
	if _, ok := p.Session.(pipSession); !ok || !slices.Equal(p.Artifacts, []string{pipWheels}) || p.Baseline != "" {
		t.Errorf("plan %+v", p)
	}
}

func TestPipPlanCredentialsStayOnTheHost(t *testing.T) {
	basic := func(u, pw string) string { return "Basic " + base64.StdEncoding.EncodeToString([]byte(u+":"+pw)) }
	p, err := pipPlan(t, map[string]string{
		"requirements.txt": "demo\n",
		"~/.netrc":         "machine extra.example login n password NETRCPW\n",
	}, map[string]string{
		"PIP_INDEX_URL":       "https://u:INDEXPW@idx.example/simple",
		"PIP_EXTRA_INDEX_URL": "https://extra.example/simple",
	}, false, "install", "-r", "requirements.txt")
	if err != nil {
		t.Fatal(err)
	}
	want := []egress.Registry{{URL: "https://idx.example/", Auth: basic("u", "INDEXPW")}, {URL: "https://extra.example/", Auth: basic("n", "NETRCPW")}}
	if !slices.Equal(p.Registries, want) {
		t.Errorf("registries %+v, want %+v", p.Registries, want)
	}
	for _, ph := range []*install.Phase{&p.Fetch, p.Scripts} {
		for k, v := range ph.Env {
			if strings.Contains(v, "INDEXPW") || strings.Contains(v, "NETRCPW") {
				t.Errorf("%s carries a credential into a container", k)
			}
		}
	}
	if p.Fetch.Env["PIP_INDEX_URL"] != "https://idx.example/simple" {
		t.Errorf("PIP_INDEX_URL in the fetch = %q", p.Fetch.Env["PIP_INDEX_URL"])
	}
}

func TestPipPlanIndexInRequirementsNeedsAllowing(t *testing.T) {
	files := func() map[string]string {
		return map[string]string{
			"requirements.txt":    "-r more/base.txt\ndemo==1.0 --hash=sha256:abc\n",
			"more/base.txt":       "# shared\n--extra-index-url https://tok:FILEPW@evil.example/simple\n-f ../vendor\nother\n",
			"vendor/x-1.0.tar.gz": "sdist",
		}
	}
	_, err := pipPlan(t, files(), nil, false, "install", "-r", "requirements.txt")
	if !errors.Is(err, install.ErrPolicy) || !strings.Contains(err.Error(), "more/base.txt:2 --extra-index-url https://tok:xxxxx@evil.example/simple") ||
		!strings.Contains(err.Error(), "more/base.txt:3 --find-links ../vendor") || strings.Contains(err.Error(), "FILEPW") {
		t.Fatalf("got %v", err)
	}
	p, err := pipPlan(t, files(), nil, true, "install", "-r", "requirements.txt")
	if err != nil {
		t.Fatal(err)
	}
	base := inputData(p, "more/base.txt")
	if strings.Contains(base, "FILEPW") || strings.Contains(base, "evil.example") || !strings.Contains(base, "other") {
		t.Errorf("copied base.txt:\n%s", base)
	}
	if !strings.Contains(inputData(p, "requirements.txt"), "-r more/base.txt") {
		t.Errorf("requirements.txt lost its -r line")
	}
	if p.Fetch.Env["PIP_EXTRA_INDEX_URL"] != "https://evil.example/simple" || p.Fetch.Env["PIP_FIND_LINKS"] != "/work/vendor" {
		t.Errorf("fetch env %v", p.Fetch.Env)
	}
	if !slices.ContainsFunc(p.Inputs, func(in install.Input) bool { return in.Name == "vendor/x-1.0.tar.gz" }) {
		t.Errorf("the find-links directory was not copied in: %+v", p.Inputs)
	}
}

func TestPipPlanLocalProject(t *testing.T) {
	p, err := pipPlan(t, map[string]string{
		"pyproject.toml":       "[build-system]\nrequires = [\"setuptools\"]\n",
		"src/demo/__init__.py": "",
		".git/config":          "[core]\n",
		".env":                 "SECRET=1\n",
		".venv/pyvenv.cfg":     "home = /usr\n",
		"env/pyvenv.cfg":       "home = /usr\n",
		"env/lib/x.py":         "",
		".pypirc":              "password = x\n",
	}, nil, false, "install", ".")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, in := range p.Inputs {
		names = append(names, in.Name)
	}
	slices.Sort(names)
	if strings.Join(names, " ") != "pyproject.toml src/demo/__init__.py" {
		t.Errorf("copied in %v", names)
	}
	if !slices.Contains(p.Fetch.Command, "/work/.") {
		t.Errorf("the fetch does not collect the local project's build requirements: %v", p.Fetch.Command)
	}
}

func TestPipPlanRefusals(t *testing.T) {
	for _, tc := range []struct {
		args []string
		reqs string
		want string
	}{
		{[]string{"download", "x"}, "", "not an install"},
		{[]string{"install"}, "", "nothing to install"},
		{[]string{"install", "-e", "."}, "", "editable"},
		{[]string{"install", "--target", "/tmp/x", "demo"}, "", "installs elsewhere"},
		{[]string{"install", "--no-build-isolation", "demo"}, "", "isolation"},
		{[]string{"install", "--frobnicate", "demo"}, "", "not passed into the sandbox"},
		{[]string{"install", "demo @ https://evil.example/demo.tar.gz"}, "", "direct URL"},
		{[]string{"install", "git+https://evil.example/demo.git"}, "", "URL requirement"},
		{[]string{"install", "../outside"}, "", "outside the project"},
		{[]string{"install", "-r", "requirements.txt"}, "-e .\n", "requirements.txt:1: editable"},
		{[]string{"install", "-r", "requirements.txt"}, "-r https://evil.example/r.txt\n", "URL"},
		{[]string{"install", "-r", "requirements.txt"}, "--global-option=x\n", "not supported"},
		{[]string{"install", "--no-index", "demo"}, "", "nothing to install from"},
	} {
		files := map[string]string{}
		if tc.reqs != "" {
			files["requirements.txt"] = tc.reqs
		}
		_, err := pipPlan(t, files, nil, false, tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: got %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestLogicalLines(t *testing.T) {
	got := logicalLines([]byte("# comment\nfoo==1 \\\n  --hash=sha256:aa # trailing\n\nbar#frag\n"))
	want := []logicalLine{{2, "foo==1    --hash=sha256:aa"}, {5, "bar#frag"}}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v, want %+v", got, want)
	}
}

// A fetch that may meet an sdist runs package code, so it gets a cache of
// the run's own; only one that can get nothing but wheels shares the
// lasting cache (corpus "pip cache poisoning").
func TestPipPlanPrivateCacheUnlessWheelsOnly(t *testing.T) {
	for _, c := range []struct {
		name    string
		files   map[string]string
		args    []string
		private bool
	}{
		{"sdists allowed", nil, []string{"install", "rich"}, true},
		{"wheels only", nil, []string{"install", "--only-binary", ":all:", "rich"}, false},
		{"wheels only, = form", nil, []string{"install", "--only-binary=:all:", "rich"}, false},
		{"only some wheels", nil, []string{"install", "--only-binary=rich", "rich"}, true},
		{"reset to none", nil, []string{"install", "--only-binary=:all:", "--only-binary=:none:", "rich"}, true},
		{"an sdist let back in", nil, []string{"install", "--only-binary=:all:", "--no-binary=rich", "rich"}, true},
		{"a file lets an sdist in", map[string]string{"requirements.txt": "--no-binary rich\nrich\n"},
			[]string{"install", "--only-binary=:all:", "-r", "requirements.txt"}, true},
		{"a file resets the formats", map[string]string{"requirements.txt": "--only-binary :none:\nrich\n"},
			[]string{"install", "--only-binary=:all:", "-r", "requirements.txt"}, true},
		{"a local project", map[string]string{"pyproject.toml": "[project]\nname = 'x'\n"},
			[]string{"install", "--only-binary=:all:", "."}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := pipPlan(t, c.files, nil, false, c.args...)
			if err != nil {
				t.Fatal(err)
			}
			if p.PrivateCache != c.private {
				t.Errorf("PrivateCache %v, want %v", p.PrivateCache, c.private)
			}
		})
	}
}

// pip reads every option of a requirements-file line, not its first alone:
// "--pre --no-binary :all:" lets sdists in as "--no-binary :all:" does, and
// so does an option after a requirement ("rich --no-binary :all:": pip's
// parser runs the format options' callbacks on every line). Checked with
// pip 23.2: `pip download --only-binary=:all: -r FILE` takes the sdist
// and runs its setup.py for both files. So each option of every line is
// held to the rules, wherever it stands.
func TestPipPlanEveryOptionOfALineCounts(t *testing.T) {
	for _, c := range []struct {
		name, file string
		private    bool
		refused    string // "" when the plan is made
	}{
		{"a format option behind --pre", "--pre --no-binary :all:\nrich\n", true, ""},
		{"a format option behind --prefer-binary, = form", "--prefer-binary --only-binary=:none:\nrich\n", true, ""},
		{"a format option after a requirement", "rich --no-binary :all:\n", false, "--no-binary"},
		{"an unknown option after a requirement", "rich --no-bin :all:\n", false, "--no-bin"},
		{"an index option behind --pre", "--pre --extra-index-url https://tok:FILEPW@evil.example/simple\nrich\n", false, "--extra-index-url"},
		{"a file option behind --pre", "--pre -r /etc/passwd\nrich\n", false, "option -r"},
		{"-e behind --pre", "--pre -e .\nrich\n", false, "option -e"},
		{"an unknown option behind --pre", "--pre --no-bin=:all:\nrich\n", false, "--no-bin"},
		{"a stray word behind an option", "--pre rich\n", false, "rich"},
		{"a format option behind a file", "-r more.txt --no-binary :all:\nrich\n", false, "on a line of its own"},
		{"an index option with more", "--index-url https://idx.example/simple --no-binary :all:\nrich\n", false, "on a line of its own"},
		{"per-requirement hashes stay", "rich==13.7.1 --hash=sha256:abc --hash sha256:def\n", false, ""},
		{"single options stay", "--pre\n--prefer-binary\nrich\n", false, ""},
		{"a requirement with spaces and a marker stays", "requests >= 2.0 ; python_version >= \"3.6\"\nrich[jupyter] == 13.7.1 --hash=sha256:abc\n", false, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := pipPlan(t, map[string]string{"requirements.txt": c.file}, nil, false, "install", "--only-binary=:all:", "-r", "requirements.txt")
			if c.refused != "" {
				if !errors.Is(err, install.ErrPolicy) || !strings.Contains(err.Error(), c.refused) || strings.Contains(err.Error(), "FILEPW") {
					t.Fatalf("got %v, want a refusal naming %s", err, c.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.PrivateCache != c.private {
				t.Errorf("PrivateCache %v, want %v", p.PrivateCache, c.private)
			}
			if got := inputData(p, "requirements.txt"); got != c.file {
				t.Errorf("copied requirements.txt %q, want %q", got, c.file)
			}
		})
	}
}

// A cloned repository's requirements.txt that links to a file outside the
// project (a credentials file) is refused by the plan: its lines went into
// the sandbox as the parsed requirements. Control: the same file, copied
// in, is planned and its text is an input.
func TestAttackRequirementsLinkOutside(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "credentials")
	if err := os.WriteFile(outside, []byte("canary-secret-7f3==1.0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := testproject.Write(t, map[string]string{})
	if err := os.Symlink(outside, filepath.Join(dir, "requirements.txt")); err != nil {
		t.Fatal(err)
	}
	opts := install.PlanOptions{Home: t.TempDir(), Env: map[string]string{"PIP_CONFIG_FILE": os.DevNull}, Python: "python3", Warn: func(string) {}}
	p, err := Manager{}.Plan(dir, []string{"install", "-r", "requirements.txt"}, opts)
	if !errors.Is(err, install.ErrPolicy) {
		if p != nil {
			t.Errorf("its text went in as %q", inputData(p, "requirements.txt"))
		}
		t.Fatalf("a linked requirements.txt planned: %v", err)
	}
	control, err := pipPlan(t, map[string]string{"requirements.txt": "canary-secret-7f3==1.0\n"}, nil, false, "install", "-r", "requirements.txt")
	if err != nil || !strings.Contains(inputData(control, "requirements.txt"), "canary-secret-7f3") {
		t.Fatalf("control: %v", err)
	}
}
