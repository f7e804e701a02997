package pip

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/pip/wheel"
)

// pipInstall is the last step of a pip plan, on the host: vet the wheels
// that came back, then let the host's own pip install exactly those.
type pipInstall struct {
	python    HostPython
	hostFlags []string
	allowPth  []string // packages whose executable .pth files are allowed
	// allowCommand are common tools' names that wheels may install
	// commands under (pipcommands.go).
	allowCommand []string
	hostPath     string // the host's PATH, where the commands they shadow are
}

// install vets every wheel in the staged wheel directory and installs them
// with the host's pip: --no-index and --only-binary :all:, so pip copies
// files and runs no package code; --isolated, so the user's pip
// configuration cannot add an index or find-links that bypass the vetting.
func (pi *pipInstall) install(ctx context.Context, staging string, say install.Say) (*Installed, error) {
	dir := filepath.Join(staging, pipWheels)
	res := &Installed{Python: pi.python}
	ws, files, err := pi.vet(dir)
	for _, w := range ws {
		res.Wheels = append(res.Wheels, *w)
	}
	if err != nil {
		return res, err
	}
	for _, w := range res.Wheels {
		for _, p := range w.Pth {
			if p.Executable {
				say.Warn("%s==%s installs %s, which runs code at every Python start (allowed: %s)",
					w.Name, w.Version, p.Member, orDefault(p.Known, "--allow-pth"))
				continue
			}
			say.Note("%s==%s installs %s, which adds paths only", w.Name, w.Version, p.Member)
		}
		if len(w.Scripts) > 0 {
			say.Note("%s==%s installs commands: %s", w.Name, w.Version, strings.Join(w.Scripts, ", "))
		}
		for _, s := range pi.shadows(&w) {
			say.Warn("%s", s)
		}
	}
	args := append([]string{"-I", "-m", "pip", "install", "--isolated", "--disable-pip-version-check",
		"--no-index", "--find-links", dir, "--only-binary", ":all:"}, pi.hostFlags...)
	args = append(args, files...)
	cmd := exec.CommandContext(ctx, pi.python.Path, args...)
	out, err := cmd.CombinedOutput()
	res.Output = string(out)
	if err != nil {
		return res, fmt.Errorf("the host's pip (%s) did not install the wheels: %w\n%s", pi.python.Path, err, install.Indent(install.LastLines(string(out), 20)))
	}
	for _, w := range res.Wheels {
		res.Packages = append(res.Packages, w.Name+"=="+w.Version)
	}
	return res, nil
}

// vet inspects every wheel in dir on its own, then all of them together
// against the environment they go into (invariant 7: members are
// read as Python reads them, whatever lands in the scripts directory is a
// command, nothing overwrites a file another distribution owns), then
// their commands against the tools they would shadow (pipcommands.go). It
// returns the wheels it inspected and their files, sorted.
func (pi *pipInstall) vet(dir string) ([]*wheel.Wheel, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the built wheels: %w", err)
	}
	var ws []*wheel.Wheel
	var files []string
	for _, e := range entries {
		name := pipWheels + "/" + e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".whl") {
			return ws, nil, &install.ArtifactError{Package: "unknown package", Path: name, Reason: "only wheel files come back from a pip build"}
		}
		w, err := wheel.Inspect(filepath.Join(dir, e.Name()), wheel.DefaultLimits())
		if err != nil {
			return ws, nil, refusedWheel(err, "do not install this build (pin another version, or ask its maintainers)")
		}
		if err := pi.checkPth(w); err != nil {
			return ws, nil, err
		}
		ws = append(ws, w)
		files = append(files, filepath.Join(dir, e.Name()))
	}
	if len(files) == 0 {
		return ws, nil, fmt.Errorf("%w: the build produced no wheel", install.ErrPolicy)
	}
	if err := pi.env().Check(ws); err != nil {
		return ws, nil, refusedWheel(err, "")
	}
	if err := pi.checkCommands(ws); err != nil {
		return ws, nil, err
	}
	sort.Strings(files)
	return ws, files, nil
}

// env is the environment the host's pip installs into.
func (pi *pipInstall) env() wheel.Env {
	if slices.Contains(pi.hostFlags, "--user") {
		return pi.python.UserEnv
	}
	return pi.python.Env
}

// refusedWheel makes a wheel's refusal the pipeline's ArtifactError (exit
// 10), naming the wheel as name==version; next, when given, says what to
// do about it.
func refusedWheel(err error, next string) error {
	var re *wheel.RefusedError
	if !errors.As(err, &re) {
		return fmt.Errorf("vetting the built wheels: %w", err)
	}
	reason := re.Reason
	if next != "" {
		reason += "; " + next
	}
	return &install.ArtifactError{Package: wheelPackage(re.Wheel), Path: re.Member, Reason: reason}
}

// checkPth refuses a .pth file that would run code at every Python start,
// unless it is a known benign one or the user allowed its package.
func (pi *pipInstall) checkPth(w *wheel.Wheel) error {
	for _, p := range w.Pth {
		if !p.Executable || p.Known != "" || pi.allowed(w.Name) {
			continue
		}
		return &install.ArtifactError{Package: w.Package(), Path: p.Member,
			Reason: fmt.Sprintf("a .pth file with an import line (%s), which Python would run at every start (as litellm 1.82.8 did); "+
				"if you trust it, rerun with --allow-pth %s", p.Why, w.Name)}
	}
	return nil
}

func (pi *pipInstall) allowed(name string) bool {
	for _, a := range pi.allowPth {
		if normalizeDist(a) == normalizeDist(name) {
			return true
		}
	}
	return false
}

// normalizeDist is PEP 503's name normalisation.
func normalizeDist(name string) string {
	return strings.ToLower(strings.NewReplacer("_", "-", ".", "-").Replace(name))
}

// wheelPackage names a wheel file's distribution as name==version.
func wheelPackage(file string) string {
	f := strings.Split(strings.TrimSuffix(file, ".whl"), "-")
	if len(f) < 2 {
		return file
	}
	return f[0] + "==" + f[1]
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// Summary says what was installed where, for the run's last line.
func (in *Installed) Summary() string {
	pkgs := "nothing"
	if len(in.Packages) > 0 {
		pkgs = strings.Join(in.Packages, ", ")
	}
	return fmt.Sprintf("installed %s into %s", pkgs, in.Python.Path)
}

// Installed is what a host install step put into the environment.
type Installed struct {
	Python   HostPython    `json:"python"`
	Wheels   []wheel.Wheel `json:"wheels"`
	Packages []string      `json:"packages"` // name==version
	Output   string        `json:"-"`
}

// pipSession is pip's part in a run: the wheels are vetted and the host's
// own pip installs them (Deliver), instead of a swap into the project.
type pipSession struct {
	install.NoSession
	inst *pipInstall
}

func (s pipSession) Deliver(ctx context.Context, staging string, say install.Say) (bool, any, error) {
	installed, err := s.inst.install(ctx, staging, say)
	return true, installed, err
}

// Owner names a wheel's distribution.
func (pipSession) Owner(entry, _ string) string {
	if strings.HasSuffix(entry, ".whl") {
		return wheelPackage(path.Base(entry))
	}
	return ""
}
