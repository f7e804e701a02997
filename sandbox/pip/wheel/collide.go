package wheel

import (
	"bufio"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Env is the environment that wheels are installed into: the directories
// of pip's install scheme, as the target interpreter's sysconfig reports
// them, and the interpreter's own module directories.
type Env struct {
	Purelib, Platlib, Scripts, Data string
	// Lib are the interpreter's own module directories (its standard
	// library, lib-dynload): nothing of a wheel may land in them.
	Lib []string
	// Ext are the interpreter's extension module suffixes
	// (importlib.machinery.EXTENSION_SUFFIXES), for the namespace rule.
	Ext []string
}

// maxInstalledRecord bounds one installed distribution's RECORD; the
// largest in common use (a CUDA toolkit's) are a few MiB.
const maxInstalledRecord = 64 << 20

// Check places every file of a batch of wheels in env and refuses what the
// batch would do there that no single wheel shows:
//   - a file that lands in the scripts directory is a command, whatever
//     path took it there, and takes no interpreter's or installer's name;
//   - nothing lands in the interpreter's own library directories, and
//     nothing reaches site-packages but by site-packages' own paths;
//   - no file overwrites one that another distribution owns (its
//     *.dist-info/RECORD or *.egg-info/installed-files.txt lists it), or
//     that another wheel of the batch ships, or that is there and no
//     distribution owns (bin/python3.11, bin/activate, pyvenv.cfg), unless
//     its bytes are the same, as with a pkgutil namespace's __init__.py;
//   - no module shadows another distribution's: the same import name in
//     the same directory, as a module, bytecode, an extension or a package;
//   - no start-up module below the top of site-packages beside a .pth line
//     that adds a directory to sys.path;
//   - no setuptools namespace .pth (accepted by Inspect without
//     --allow-pth) for a name under which the batch or the environment
//     holds a compiled extension module, and no extension module under a
//     name that an installed namespace .pth declares: the .pth would
//     create it, running its native code, at every start (nspkg.go).
//
// A file that lands in the scripts directory by a path Inspect did not
// take for a command is added to its wheel's Scripts. Files of the same
// distribution (an upgrade, by normalized name) are never a collision. Headers are left out: pip puts them in a directory
// named after their distribution.
func (e Env) Check(ws []*Wheel) error {
	if e.Purelib == "" || e.Platlib == "" || e.Scripts == "" || e.Data == "" {
		return errors.New("checking the wheels against the target environment: its install scheme is unknown")
	}
	d := e.real()
	b := &batch{byPath: map[string][]*placed{}, modules: map[modKey]*placed{}, packages: map[modKey]*placed{}, owners: map[string]*installed{}}
	for _, w := range ws {
		for i, f := range w.files {
			p := d.place(w, f)
			if p == nil {
				continue
			}
			if err := d.rule(p); err != nil {
				return err
			}
			if _, ok := below(d.scripts, p.abs); ok && !f.cmd {
				w.files[i].cmd = true
				w.addScript(filepath.Base(p.abs))
			}
			if err := b.add(p); err != nil {
				return err
			}
		}
	}
	if err := startupViaPth(ws); err != nil {
		return err
	}
	hits, err := b.namespaceTargets(e.Ext)
	if err != nil {
		return err
	}
	pths := map[string][]string{}
	for _, site := range d.sites() {
		if pths[site], err = b.installedNamespaces(site); err != nil {
			return err
		}
	}
	for _, site := range d.sites() {
		if err := b.scan(site); err != nil {
			return err
		}
	}
	if err := b.refuseNamespace(hits); err != nil {
		return err
	}
	for _, site := range d.sites() {
		if err := b.intoNamespaces(site, pths[site], e.Ext); err != nil {
			return err
		}
	}
	if b.shadow != nil {
		return b.shadow
	}
	return b.unowned()
}

// dirs are an Env's directories with symbolic links resolved, so that a
// wheel's files and the paths in installed RECORDs compare.
type dirs struct {
	purelib, platlib, scripts, data string
	lib                             []string
}

func (e Env) real() dirs {
	d := dirs{purelib: realPath(e.Purelib), platlib: realPath(e.Platlib), scripts: realPath(e.Scripts), data: realPath(e.Data)}
	for _, l := range e.Lib {
		if l != "" {
			d.lib = append(d.lib, realPath(l))
		}
	}
	return d
}

func (d dirs) sites() []string {
	if d.platlib == d.purelib {
		return []string{d.purelib}
	}
	return []string{d.purelib, d.platlib}
}

// realPath resolves the symbolic links of p's longest existing prefix.
func realPath(p string) string {
	p = filepath.Clean(p)
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	parent := filepath.Dir(p)
	if parent == p {
		return p
	}
	return filepath.Join(realPath(parent), filepath.Base(p))
}

// below returns p's slash path below dir, when p is below dir.
func below(dir, p string) (string, bool) {
	rel, ok := strings.CutPrefix(p, dir+string(filepath.Separator))
	return filepath.ToSlash(rel), ok && dir != ""
}

// placed is a wheel's file at its place in the environment.
type placed struct {
	w         *Wheel
	f         file
	abs       string
	site, rel string // the site-packages directory it lands in and its path there
	owned     bool   // its own distribution's RECORD lists it already
}

func (p *placed) refuse(reason string) error {
	return &RefusedError{Wheel: p.w.File, Member: p.f.member, Reason: reason}
}

func (p *placed) sameDist(name string) bool { return normalize(p.w.Name) == normalize(name) }

func (d dirs) place(w *Wheel, f file) *placed {
	var base string
	switch f.scheme {
	case "purelib":
		base = d.purelib
	case "platlib":
		base = d.platlib
	case "scripts":
		base = d.scripts
	case "data":
		base = d.data
	default:
		return nil
	}
	p := &placed{w: w, f: f, abs: filepath.Join(base, filepath.FromSlash(f.rel))}
	for _, site := range d.sites() {
		if rel, ok := below(site, p.abs); ok {
			p.site, p.rel = site, rel
			break
		}
	}
	return p
}

// doNotInstall is what to do about a wheel that breaks a rule of its own.
const doNotInstall = "do not install this build (pin another version, or ask its maintainers)"

// rule applies the rules of the place a file lands in.
func (d dirs) rule(p *placed) error {
	if _, ok := below(d.scripts, p.abs); ok {
		if reason := commandRule(filepath.Base(p.abs)); reason != "" {
			return p.refuse(reason + "; " + doNotInstall)
		}
	}
	if p.site != "" {
		if p.f.scheme == "data" && p.rel != p.f.site {
			return p.refuse(fmt.Sprintf("lands in site-packages as %s by a path that is not site-packages' own, where the rules of site-packages were not applied to it; %s", p.abs, doNotInstall))
		}
		return nil
	}
	for _, lib := range d.lib {
		if _, ok := below(lib, p.abs); ok || p.abs == lib {
			return p.refuse(fmt.Sprintf("lands in %s, the interpreter's own library directory, where it would replace or shadow the standard library; %s", lib, doNotInstall))
		}
	}
	return nil
}

// startupViaPth refuses a start-up module below the top of site-packages
// when a wheel of the batch ships a .pth line that adds a directory to
// sys.path: site.py reads the .pth files before it imports sitecustomize
// and usercustomize, so the line can name the module's directory.
func startupViaPth(ws []*Wheel) error {
	for _, w := range ws {
		if w.pathPth == "" {
			continue
		}
		for _, v := range ws {
			if len(v.startup) > 0 {
				return &RefusedError{Wheel: v.File, Member: v.startup[0], Reason: fmt.Sprintf(
					"a start-up module (sitecustomize, usercustomize) below the top of site-packages, while %s's %s adds directories to sys.path, from where Python would import it at every start; %s",
					w.Package(), w.pathPth, doNotInstall)}
			}
		}
	}
	return nil
}

// sameBytes reports whether the regular file at abs holds what digest
// (RECORD's sha256=...) describes: overwriting it changes nothing.
func sameBytes(digest, abs string) bool {
	fi, err := os.Lstat(abs)
	if digest == "" || err != nil || !fi.Mode().IsRegular() {
		return false
	}
	sum, err := hashReader(func() (*os.File, error) { return os.Open(abs) })
	return err == nil && sum == digest
}

// installed is a distribution installed in the environment.
type installed struct {
	name, label string // its normalized name; name==version for messages
	list        string // the file listing what it installed
	base        string // the directory the list's relative paths start from
	csv         bool   // RECORD (CSV) rather than installed-files.txt
}

// installedDist recognises an installed distribution's metadata directory:
// *.dist-info with RECORD (pip, PEP 376), *.egg-info with
// installed-files.txt (setup.py install).
func installedDist(site string, e fs.DirEntry) (installed, bool) {
	name := e.Name()
	var in installed
	switch {
	case !e.IsDir():
		return in, false
	case strings.HasSuffix(name, ".dist-info"):
		in = installed{list: filepath.Join(site, name, "RECORD"), base: site, csv: true}
	case strings.HasSuffix(name, ".egg-info"):
		in = installed{list: filepath.Join(site, name, "installed-files.txt"), base: filepath.Join(site, name)}
	default:
		return in, false
	}
	stem := strings.TrimSuffix(strings.TrimSuffix(name, ".dist-info"), ".egg-info")
	dist, version, _ := strings.Cut(stem, "-")
	version, _, _ = strings.Cut(version, "-")
	in.name, in.label = normalize(dist), dist+"=="+version
	return in, true
}

// eachListed calls fn with every path that an installed distribution's
// list names, made absolute.
func (in installed) eachListed(fn func(abs string) error) error {
	f, err := os.Open(in.list)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading what %s installed: %w", in.label, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > maxInstalledRecord {
		return fmt.Errorf("reading what %s installed: %s is larger than %d bytes", in.label, in.list, maxInstalledRecord)
	}
	r := io.LimitReader(f, maxInstalledRecord)
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return filepath.Clean(p)
		}
		return filepath.Join(in.base, filepath.FromSlash(p))
	}
	if !in.csv {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if p := strings.TrimSpace(sc.Text()); p != "" {
				if err := fn(abs(p)); err != nil {
					return err
				}
			}
		}
		return sc.Err()
	}
	cr := csv.NewReader(r)
	cr.FieldsPerRecord, cr.ReuseRecord = -1, true
	for {
		row, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading what %s installed: %s: %w", in.label, in.list, err)
		}
		if len(row) > 0 && row[0] != "" {
			if err := fn(abs(row[0])); err != nil {
				return err
			}
		}
	}
}
