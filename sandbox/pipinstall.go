package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/safe-install/safe-install/sandbox/wheel"
)

// pipInstall is the last step of a pip plan, on the host: vet the wheels
// that came back, then let the host's own pip install exactly those.
type pipInstall struct {
	python    HostPython
	hostFlags []string
	allowPth  []string // packages whose executable .pth files are allowed
}

// install vets every wheel in the staged wheel directory and installs them
// with the host's pip: --no-index and --only-binary :all:, so pip copies
// files and runs no package code; --isolated, so the user's pip
// configuration cannot add an index or find-links that bypass the vetting.
func (pi *pipInstall) install(ctx context.Context, staging string, say Say) (*Installed, error) {
	dir := filepath.Join(staging, pipWheels)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading the built wheels: %w", err)
	}
	res := &Installed{Python: pi.python}
	var files []string
	for _, e := range entries {
		name := pipWheels + "/" + e.Name()
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".whl") {
			return res, &ArtifactError{Package: "unknown package", Path: name, Reason: "only wheel files come back from a pip build"}
		}
		w, err := wheel.Inspect(filepath.Join(dir, e.Name()), wheel.DefaultLimits)
		if err != nil {
			if re, ok := err.(*wheel.RefusedError); ok {
				return res, &ArtifactError{Package: wheelPackage(re.Wheel), Path: re.Member, Reason: re.Reason}
			}
			return res, err
		}
		if err := pi.checkPth(w); err != nil {
			return res, err
		}
		res.Wheels = append(res.Wheels, *w)
		files = append(files, filepath.Join(dir, e.Name()))
	}
	if len(files) == 0 {
		return res, fmt.Errorf("%w: the build produced no wheel", ErrPolicy)
	}
	for _, w := range res.Wheels {
		for _, p := range w.Pth {
			if p.Executable {
				say.warn("%s==%s installs %s, which runs code at every Python start (allowed: %s)",
					w.Name, w.Version, p.Member, orDefault(p.Known, "--allow-pth"))
				continue
			}
			say.note("%s==%s installs %s, which adds paths only", w.Name, w.Version, p.Member)
		}
		if len(w.Scripts) > 0 {
			say.note("%s==%s installs commands: %s", w.Name, w.Version, strings.Join(w.Scripts, ", "))
		}
	}
	sort.Strings(files)
	args := append([]string{"-I", "-m", "pip", "install", "--isolated", "--disable-pip-version-check",
		"--no-index", "--find-links", dir, "--only-binary", ":all:"}, pi.hostFlags...)
	args = append(args, files...)
	cmd := exec.CommandContext(ctx, pi.python.Path, args...)
	out, err := cmd.CombinedOutput()
	res.Output = string(out)
	if err != nil {
		return res, fmt.Errorf("the host's pip (%s) did not install the wheels: %w\n%s", pi.python.Path, err, indent(lastLines(string(out), 20)))
	}
	for _, w := range res.Wheels {
		res.Packages = append(res.Packages, w.Name+"=="+w.Version)
	}
	return res, nil
}

// checkPth refuses a .pth file that would run code at every Python start,
// unless it is a known benign one or the user allowed its package.
func (pi *pipInstall) checkPth(w *wheel.Wheel) error {
	for _, p := range w.Pth {
		if !p.Executable || p.Known != "" || pi.allowed(w.Name) {
			continue
		}
		return &ArtifactError{Package: w.Name + "==" + w.Version, Path: p.Member,
			Reason: "a .pth file with an import line, which Python would run at every start (as litellm 1.82.8 did); " +
				"if you trust it, rerun with --allow-pth " + w.Name}
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

// Installed is what a host install step put into the environment.
type Installed struct {
	Python   HostPython    `json:"python"`
	Wheels   []wheel.Wheel `json:"wheels"`
	Packages []string      `json:"packages"` // name==version
	Output   string        `json:"-"`
}
