package pip

import (
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/pip/wheel"
)

// Manager plans `pip install`: the fetch phase downloads the requirements and
// every build requirement (running metadata hooks, so it is untrusted code
// too), the build phase makes wheels with no network, and the host's own
// pip installs those wheels, which runs no package code.
type Manager struct{}

func (Manager) Name() string { return "pip" }

// Below WorkDir: what the fetch downloaded, and the built wheels that come
// back. Names no project would use for its own files.
const (
	pipWheelhouse = "safe-install-wheelhouse"
	pipWheels     = "safe-install-wheels"
	// pipBuildEnvs holds the build environments the fetch installed from
	// the wheels it downloaded, which the build copies instead of
	// installing them again, and each sdist's build requirements and
	// metadata as the fetch's hooks gave them (pipenvs.py says why that is
	// safe and building in the fetch is not).
	pipBuildEnvs = "safe-install-buildenvs"
)

var (
	//go:embed pipfetch.py
	pipFetchScript []byte
	//go:embed pipenvs.py
	pipEnvsScript []byte
)

// pipResolveFlags shape what is resolved and built; they go to both
// phases. pipResolveValueFlags take a value.
var (
	pipResolveFlags      = []string{"--pre", "--no-deps", "--prefer-binary", "--require-hashes"}
	pipResolveValueFlags = []string{"--only-binary", "--no-binary", "--upgrade-strategy"}
	// pipHostFlags shape only the host's install of the built wheels.
	pipHostFlags = []string{"-U", "--upgrade", "--force-reinstall", "-I", "--ignore-installed", "--user",
		"--no-compile", "--no-warn-script-location", "--no-warn-conflicts", "--break-system-packages", "-q", "--quiet", "-v", "--verbose"}
	// pipIgnoredFlags make no difference in the sandbox.
	pipIgnoredFlags = []string{"--no-cache-dir", "--disable-pip-version-check", "--no-input"}
	// pipRefusedFlags would install somewhere else, or build on the host,
	// or make the sandbox build for another platform.
	pipRefusedFlags = map[string]string{
		"-e":         "editable installs run the project's build backend on the host; use `safe-install pip install .`",
		"--editable": "editable installs run the project's build backend on the host; use `safe-install pip install .`",
		"-t":         "installs elsewhere than the host's environment", "--target": "installs elsewhere than the host's environment",
		"--prefix": "installs elsewhere than the host's environment", "--root": "installs elsewhere than the host's environment",
		"--src":                "is for editable installs",
		"--no-build-isolation": "would build against the host's installed packages; the sandbox builds in isolation",
		"--platform":           "builds for another platform", "--python-version": "builds for another Python",
		"--implementation": "builds for another Python", "--abi": "builds for another Python",
		"--dry-run": "is safe-install's own flag: put it before `install`",
	}
)

func (Manager) Plan(project string, args []string, opts install.PlanOptions) (*install.Plan, error) {
	if opts.MinReleaseAge > 0 {
		return nil, fmt.Errorf("%w: --min-release-age works with npm only: a PEP 503 index gives no publication times", install.ErrPolicy)
	}
	if len(args) == 0 {
		return nil, fmt.Errorf("%w: give a pip command, e.g. `safe-install pip install -r requirements.txt`", install.ErrUnsupported)
	}
	if args[0] != "install" {
		return nil, fmt.Errorf("%w: `pip %s` is not an install; run it with pip directly (safe-install wraps pip install)", install.ErrUnsupported, args[0])
	}
	reqs := &reqFiles{project: project, env: opts.Env, seen: map[string]bool{}}
	var cmdIndex []indexOption
	var resolve, specs, host []string
	rest := args[1:]
	for i := 0; i < len(rest); i++ {
		tok := rest[i]
		name, value, hasValue := splitPipOption(tok)
		needValue := func() (string, error) {
			if hasValue {
				return value, nil
			}
			if i+1 >= len(rest) {
				return "", fmt.Errorf("%w: pip option %s needs a value", install.ErrPolicy, name)
			}
			i++
			return rest[i], nil
		}
		switch {
		case !strings.HasPrefix(tok, "-"):
			if err := reqs.requirement(project, "command line", tok, tok); err != nil {
				return nil, err
			}
			specs = append(specs, tok)
		case pipIndexOptions[name] != "":
			o := indexOption{Option: pipIndexOptions[name], Where: "command line"}
			if o.Option != "--no-index" {
				v, err := needValue()
				if err != nil {
					return nil, err
				}
				o.Value = v
			}
			cmdIndex = append(cmdIndex, o)
		case pipFileOptions[name] != "":
			v, err := needValue()
			if err != nil {
				return nil, err
			}
			rel, err := reqs.projectPath(project, v)
			if err != nil {
				return nil, err
			}
			if err := reqs.read(rel); err != nil {
				return nil, err
			}
			specs = append(specs, pipFileOptions[name], rel)
		case slices.Contains(pipResolveFlags, tok):
			resolve = append(resolve, tok)
		case slices.Contains(pipResolveValueFlags, name):
			v, err := needValue()
			if err != nil {
				return nil, err
			}
			resolve = append(resolve, name+"="+v)
		case slices.Contains(pipHostFlags, tok):
			host = append(host, tok)
		case slices.Contains(pipIgnoredFlags, tok):
		case pipRefusedFlags[name] != "":
			return nil, fmt.Errorf("%w: pip option %s %s", install.ErrPolicy, name, pipRefusedFlags[name])
		default:
			return nil, fmt.Errorf("%w: pip option %q is not passed into the sandbox; the options that are: see `safe-install pip --help`", install.ErrPolicy, tok)
		}
	}
	if len(specs) == 0 {
		return nil, fmt.Errorf("%w: nothing to install: give requirements, -r FILE or a local project such as .", install.ErrPolicy)
	}
	idx, err := resolvePipIndex(project, cmdIndex, reqs.Index, opts)
	if err != nil {
		return nil, err
	}
	python, err := hostPython(opts.Python)
	if err != nil {
		return nil, err
	}

	p := &install.Plan{Manager: "pip", Args: args, Project: project, Registries: idx.Registries,
		Artifacts: []string{pipWheels}, Output: pipOutput{}, Python: python.Version, HostInstall: true}
	p.Inputs = append(p.Inputs, reqs.Inputs...)
	var localDirs []string
	for _, rel := range append(append([]string{}, reqs.Locals...), idx.localLinks...) {
		in, isDir, err := localInputs(project, rel)
		if err != nil {
			return nil, err
		}
		p.Inputs = append(p.Inputs, in...)
		if isDir && slices.Contains(reqs.Locals, rel) {
			localDirs = append(localDirs, install.WorkDir+"/"+rel)
		}
	}
	env := pipEnv(idx)
	fetchEnv := pipEnv(idx)
	proxy := fmt.Sprintf("http://127.0.0.1:%d", egress.RelayPort)
	fetchEnv["PIP_PROXY"] = proxy
	fetchEnv["PIP_CERT"] = install.FetchConfigDir + "/ca.pem"
	fetchEnv["PIP_CACHE_DIR"] = "/cache/pip"
	fetch := egress.RelayCommand("python3", install.FetchConfigDir+"/pipfetch.py",
		"--expect-python="+python.Tag, install.WorkDir+"/"+pipWheelhouse, install.WorkDir+"/"+pipBuildEnvs)
	fetch = append(fetch, localDirs...)
	fetch = append(append(append(fetch, "--"), resolve...), specs...)
	p.Fetch = install.Phase{Command: fetch, Env: fetchEnv}
	p.FetchSummary = strings.Join(append(append([]string{"pip", "download"}, resolve...), specs...), " ")
	envsScript := install.Input{Name: "pipenvs.py", Data: pipEnvsScript, Mode: 0o644}
	p.FetchOnly = []install.Input{{Name: "pipfetch.py", Data: pipFetchScript, Mode: 0o644}, envsScript}

	// The build: offline, from the wheelhouse only, in build environments
	// copied from the fetch's (pipenvs.py). Wheels that were downloaded as
	// wheels are copied to the output as they are.
	env["PIP_NO_INDEX"] = "1"
	env["PIP_FIND_LINKS"] = strings.TrimSpace(install.WorkDir + "/" + pipWheelhouse + " " + env["PIP_FIND_LINKS"])
	delete(env, "PIP_INDEX_URL")
	delete(env, "PIP_EXTRA_INDEX_URL")
	build := []string{"python3", install.ToolsDir + "/pipenvs.py", install.WorkDir + "/" + pipBuildEnvs,
		"wheel", "--wheel-dir", install.WorkDir + "/" + pipWheels}
	build = append(append(build, resolve...), specs...)
	p.Scripts = &install.Phase{Command: build, Env: env}
	p.Tools = []install.Input{envsScript}
	// A fetch that may meet an sdist runs its metadata hooks (corpus F2),
	// and what they write in pip's cache (HTTP responses, built wheels) a
	// later fetch of any project would take as downloaded, build and send
	// to the host: such a fetch gets a cache of its own (corpus "pip cache
	// poisoning"). Only a fetch that can get nothing but wheels keeps the
	// lasting one.
	p.PrivateCache = !wheelsOnly(resolve, reqs)

	inst := &pipInstall{python: python, hostFlags: host, allowPth: opts.AllowPth,
		allowCommand: opts.AllowCommand, hostPath: opts.Env["PATH"]}
	p.Session = pipSession{inst: inst}
	return p, nil
}

// wheelsOnly says the fetch can meet no sdist, and so runs no package
// code: the command line forbids sdists (--only-binary=:all:), nothing
// later in it or in a requirements file changes that (--no-binary,
// --only-binary=:none:), and no requirement is a local project or archive,
// which pip builds whatever the format options say.
func wheelsOnly(resolve []string, reqs *reqFiles) bool {
	if reqs.formats || len(reqs.Locals) > 0 {
		return false
	}
	all := false
	for _, f := range resolve {
		name, value, _ := splitPipOption(f)
		switch {
		case name == "--no-binary", name == "--only-binary" && value != ":all:":
			return false
		case name == "--only-binary":
			all = true
		}
	}
	return all
}

// pipEnv is the whole environment of both phases; nothing is inherited.
// pip's configuration files are ignored: its settings are all here.
func pipEnv(idx *pipIndex) map[string]string {
	env := map[string]string{
		"PATH":                          "/usr/local/bin:/usr/bin:/bin",
		"HOME":                          "/home/sandbox",
		"LANG":                          "C.UTF-8",
		"TERM":                          "dumb",
		"PIP_CONFIG_FILE":               os.DevNull,
		"PIP_DISABLE_PIP_VERSION_CHECK": "1",
		"PIP_NO_INPUT":                  "1",
		"PIP_BREAK_SYSTEM_PACKAGES":     "1", // the container's own Python: nothing else uses it
		"PIP_PROGRESS_BAR":              "off",
		"PIP_ROOT_USER_ACTION":          "ignore",
		"PYTHONDONTWRITEBYTECODE":       "1",
		// pip's "Building wheel for X" must reach the log before a
		// timeout kills it, or the error cannot name the package.
		"PYTHONUNBUFFERED": "1",
		// pip removes its build directories and build environments only
		// as it exits (every one is kept until then), thousands of
		// setuptools files, about 0.5 s a phase; the container's /tmp
		// goes with the container, so skipping that changes no peak.
		"PIP_NO_CLEAN": "1",
	}
	if idx.NoIndex {
		env["PIP_NO_INDEX"] = "1"
	} else {
		env["PIP_INDEX_URL"] = idx.IndexURL
		if len(idx.ExtraURLs) > 0 {
			env["PIP_EXTRA_INDEX_URL"] = strings.Join(idx.ExtraURLs, " ")
		}
	}
	if len(idx.FindLinks) > 0 {
		env["PIP_FIND_LINKS"] = strings.Join(idx.FindLinks, " ")
	}
	return env
}

// localInputs copies a local project directory or archive named by a
// requirement or find-links option.
func localInputs(project, rel string) (in []install.Input, isDir bool, err error) {
	host := filepath.Join(project, filepath.FromSlash(rel))
	fi, err := os.Lstat(host)
	if err != nil {
		return nil, false, fmt.Errorf("%w: local requirement %q: %w", install.ErrPolicy, rel, err)
	}
	switch {
	case fi.Mode().IsRegular():
		return []install.Input{{Name: rel, Source: host, Mode: 0o644}}, false, nil
	case fi.IsDir():
		in, err := install.DirInputs(project, host)
		return in, true, err
	}
	return nil, false, fmt.Errorf("%w: local requirement %q is neither a file nor a directory", install.ErrPolicy, rel)
}

// HostPython is the interpreter whose environment receives the wheels.
type HostPython struct {
	Path    string `json:"path"`
	Version string `json:"version"` // major.minor
	Tag     string `json:"tag"`     // sys.implementation.cache_tag, e.g. cpython-311
	// Env and UserEnv are where pip installs into its environment, by
	// default and with --user: sysconfig's preferred schemes.
	Env     wheel.Env `json:"-"`
	UserEnv wheel.Env `json:"-"`
}

//go:embed hostpython.py
var hostPythonScript string

// hostPython asks the target interpreter what it is and where pip installs
// into its environment: the build in the sandbox must be for the same
// Python, or compiled wheels would not load, and the wheels are checked
// against what that environment holds. It runs the host's Python itself
// and no package code: -I -S skips the site module and with it the
// environment's .pth files (hostpython.py).
func hostPython(path string) (HostPython, error) {
	if path == "" {
		path = "python3"
	}
	full, err := exec.LookPath(path)
	if err != nil {
		return HostPython{}, fmt.Errorf("%w: finding the host's Python %q (the wheels are installed into its environment; give another with --python): %w", install.ErrPolicy, path, err)
	}
	out, err := exec.CommandContext(context.Background(), full, "-I", "-S", "-c", hostPythonScript).Output()
	if err != nil {
		return HostPython{}, fmt.Errorf("%w: running %s to learn its version and install scheme: %w", install.ErrPolicy, full, err)
	}
	var got struct {
		Version, Tag string
		Prefix, User map[string]string
		Lib, Ext     []string
	}
	if err := json.Unmarshal(out, &got); err != nil || got.Version == "" || got.Tag == "" {
		return HostPython{}, fmt.Errorf("%w: %s printed %q, not its version, tag and install scheme", install.ErrPolicy, full, out)
	}
	env := func(paths map[string]string) wheel.Env {
		return wheel.Env{Purelib: paths["purelib"], Platlib: paths["platlib"], Scripts: paths["scripts"], Data: paths["data"], Lib: got.Lib, Ext: got.Ext}
	}
	return HostPython{Path: full, Version: got.Version, Tag: got.Tag, Env: env(got.Prefix), UserEnv: env(got.User)}, nil
}
