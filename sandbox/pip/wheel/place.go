package wheel

import (
	"archive/zip"
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"
)

// layout is what Inspect knows of a wheel's own directories.
type layout struct {
	distInfo, dataDir string // with a trailing slash
	rootIsPurelib     bool   // WHEEL's Root-Is-Purelib: the root goes to purelib, else platlib
}

// file is one file that a wheel installs, placed in pip's install scheme:
// the scheme (purelib, platlib, scripts, headers or data) and its path
// below that scheme's directory. Where the scheme's directories are is the
// target environment's business (Env); what a place means is decided here
// for every environment alike.
type file struct {
	member string // the archive member; entry_points.txt for a generated command
	scheme string
	rel    string
	cmd    bool   // it lands in the scripts directory: a command
	site   string // its path below site-packages, when it lands there
	digest string // RECORD's sha256=...; "" for a generated command
}

// place says where pip puts a member: the wheel's root and .data/purelib
// or .data/platlib in site-packages, .data/scripts in the scripts
// directory, .data/data below the environment's prefix.
func (lay layout) place(name string) (file, error) {
	f := file{member: name}
	rest, inData := strings.CutPrefix(name, lay.dataDir)
	if !inData {
		f.scheme, f.rel = "platlib", name
		if lay.rootIsPurelib {
			f.scheme = "purelib"
		}
		if !strings.HasPrefix(name, lay.distInfo) {
			f.site = name
		}
		return f, nil
	}
	f.scheme, f.rel, _ = strings.Cut(rest, "/")
	if f.rel == "" {
		return f, fmt.Errorf("a file in place of the %s scheme's directory", f.scheme)
	}
	switch f.scheme {
	case "purelib", "platlib":
		f.site = f.rel
	case "scripts":
		f.cmd = true
	case "data":
		return f, f.placeData()
	}
	return f, nil
}

// placeData places a member of .data/data. pip puts it at <prefix>/<path>,
// where the prefix is sysconfig's "data" path (the virtual environment,
// /usr/local, ~/.local), so it can reach every directory of the
// environment: <prefix>/bin is the scripts directory, so what lands there
// is a command; <prefix>/lib/pythonX.Y/site-packages is site-packages, so
// the rules of site-packages hold there; <prefix>/lib/pythonX.Y itself is
// the standard library of a Python built with that prefix (pyenv, a
// source build) and sits beside site-packages in a virtual environment,
// and <prefix>/pyvenv.cfg decides which interpreter and which packages a
// virtual environment uses: nothing may land there. Env.Check does the same
// once more with the target's real directories.
func (f *file) placeData() error {
	parts := strings.Split(f.rel, "/")
	switch {
	case len(parts) == 1 && strings.EqualFold(parts[0], "pyvenv.cfg"):
		return errors.New("lands on <prefix>/pyvenv.cfg, which decides which Python and which packages a virtual environment uses")
	case len(parts) >= 2 && (strings.EqualFold(parts[0], "bin") || strings.EqualFold(parts[0], "Scripts")):
		f.cmd = true
		return nil
	case len(parts) >= 3 && libDir.MatchString(parts[0]) && pythonDir.MatchString(parts[1]):
		if sitePackages(parts[2]) && len(parts) > 3 {
			f.site = strings.Join(parts[3:], "/")
			return nil
		}
		return fmt.Errorf("lands in <prefix>/%s/%s, the interpreter's own library directory, where it would replace or shadow the standard library", parts[0], parts[1])
	}
	// Some other site-packages below the prefix (another Python's,
	// Debian's dist-packages): the rules of site-packages hold there too.
	for i := len(parts) - 2; i >= 0; i-- {
		if sitePackages(parts[i]) {
			f.site = strings.Join(parts[i+1:], "/")
			break
		}
	}
	return nil
}

var (
	libDir    = regexp.MustCompile(`(?i)^lib(64)?$`)
	pythonDir = regexp.MustCompile(`(?i)^(python|pypy)[0-9.]*[a-z]*$`)
)

func sitePackages(dir string) bool {
	return strings.EqualFold(dir, "site-packages") || strings.EqualFold(dir, "dist-packages")
}

// shadowsInterpreter matches commands that would take the place of the
// interpreter, the installer or a virtual environment's activate scripts
// on PATH. Not every name that starts with python or pip: pipx, pipenv,
// pip-compile, pip-audit and argcomplete's python-argcomplete-* are other
// tools' commands. Case does not matter: macOS's file systems ignore it.
var shadowsInterpreter = regexp.MustCompile(`(?i)^(python[0-9.]*[dmtw]*(-config|-dbg)?|pip[0-9.]*|(de)?activate([._-].*)?)$`)

// commandRule says why a command may not be installed, or "" when it may.
func commandRule(name string) string {
	if shadowsInterpreter.MatchString(name) {
		return fmt.Sprintf("installs the command %q, which would take the place of Python, pip or a virtual environment's activate script", name)
	}
	return ""
}

// startupModules run at every interpreter start when importable from
// site-packages (site.py imports them), as a module, a package or a
// compiled extension.
var startupModules = map[string]bool{"sitecustomize": true, "usercustomize": true}

// startupModule names the start-up module a path below site-packages is
// or belongs to ("" for none), and whether it is at the top, where Python
// finds it at every start.
func startupModule(site string) (module string, top bool) {
	if dir, name, ok := moduleOf(site); ok && startupModules[name] {
		return name, dir == ""
	}
	for i, part := range strings.Split(site, "/") {
		if stem, _, _ := strings.Cut(part, "."); startupModules[stem] {
			return stem, i == 0
		}
	}
	return "", false
}

// moduleOf is the module a path below site-packages is, as Python's path
// finder sees it: a source, bytecode or extension file, imported from dir
// as name; a .pyc in __pycache__ stands for the module of its source. ok
// is false for a file that no import finds.
func moduleOf(rel string) (dir, name string, ok bool) {
	dir, base := path.Split(rel)
	dir = strings.TrimSuffix(dir, "/")
	if path.Base(dir) == "__pycache__" {
		if !strings.HasSuffix(base, ".pyc") {
			return "", "", false
		}
		dir = strings.TrimSuffix(strings.TrimSuffix(dir, "__pycache__"), "/")
	}
	name, _, _ = strings.Cut(base, ".")
	switch path.Ext(base) {
	case ".py", ".pyc", ".pyw", ".so", ".pyd":
	default:
		return "", "", false
	}
	if !identifier.MatchString(name) || !packagePath(dir) {
		return "", "", false
	}
	return dir, name, true
}

// packagesOf are the package directories a path below site-packages is
// inside, outermost first, as (dir, name) pairs.
func packagesOf(rel string) [][2]string {
	parts := strings.Split(rel, "/")
	var out [][2]string
	for i := 0; i < len(parts)-1 && identifier.MatchString(parts[i]) && parts[i] != "__pycache__"; i++ {
		out = append(out, [2]string{strings.Join(parts[:i], "/"), parts[i]})
	}
	return out
}

func packagePath(dir string) bool {
	if dir == "" {
		return true
	}
	for _, p := range strings.Split(dir, "/") {
		if !identifier.MatchString(p) {
			return false
		}
	}
	return true
}

// identifier is roughly a Python identifier, on the generous side (marks
// and connector punctuation anywhere), so that no importable name is
// missed.
var identifier = regexp.MustCompile(`^[\p{L}\p{M}\p{Pc}][\p{L}\p{M}\p{N}\p{Pc}]*$`)

// rootIsPurelib reads WHEEL as pip does (an email header block, the first
// Root-Is-Purelib header, "true" in any case): it decides whether the
// wheel's root goes to purelib or platlib.
func rootIsPurelib(f *zip.File) (bool, error) {
	if f == nil {
		return false, errors.New("missing: pip needs it to install the wheel")
	}
	body, err := readAll(f, 1<<20)
	if err != nil {
		return false, err
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			break
		}
		if k, v, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Root-Is-Purelib") {
			return strings.EqualFold(strings.TrimSpace(v), "true"), nil
		}
	}
	return false, sc.Err()
}
