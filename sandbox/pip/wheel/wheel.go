// Package wheel vets a wheel built in the sandbox before the host's pip
// installs it. Installing a wheel runs no package code, but what it installs
// can run later on the host: a .pth file in site-packages runs at every
// Python start (litellm 1.82.8), a sitecustomize module likewise, a command
// named "pip3" or a file that replaces bin/python3.11 or bin/activate takes
// the place of the tools the user runs, and a file that overwrites another
// distribution's module runs as that distribution. So a wheel is read as
// hostile: its members must be plain files with clean names, its RECORD
// must account for every byte, every member is placed where pip would put
// it, the text files that Python itself reads (.pth, entry_points.txt) are
// read as Python reads them, and whatever would execute on the host is
// listed or refused. Env.Check then checks the batch against the
// environment it goes into.
package wheel

import (
	"archive/zip"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits bound one wheel.
type Limits struct {
	MaxEntries int
	MaxBytes   int64 // uncompressed, all members together
}

// DefaultLimits hold the largest wheels in common use (torch's CUDA wheels
// are about 2.5 GB unpacked) with room to spare.
func DefaultLimits() Limits { return Limits{MaxEntries: 200_000, MaxBytes: 8 << 30} }

// Wheel is what a vetted wheel would put on the host.
type Wheel struct {
	File    string `json:"file"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// Pth are the .pth files it installs into site-packages.
	Pth []Pth `json:"pth,omitempty"`
	// Scripts are the commands it installs: console and GUI entry points
	// and whatever lands in the environment's scripts directory.
	Scripts []string `json:"scripts,omitempty"`

	// files is every file it installs, placed in pip's scheme, for
	// Env.Check.
	files []file
	// pathPth is a site-packages .pth line that adds a directory to
	// sys.path; startup are members named like a start-up module that
	// such a directory could hold (Env.Check).
	pathPth string
	startup []string
}

// Package names the wheel as name==version.
func (w *Wheel) Package() string { return w.Name + "==" + w.Version }

// Pth is one .pth file. Python's site module runs each line that starts
// with "import" followed by a space or tab, at every interpreter start.
type Pth struct {
	Member     string `json:"member"`
	Executable bool   `json:"executable"`
	// Why says what makes it executable.
	Why string `json:"why,omitempty"`
	// Known is set for a .pth file whose exact content is on the
	// allow-list of well-known benign ones, shipped by the distribution
	// that the allow-list names.
	Known string `json:"known,omitempty"`
	// Namespaces are the packages of a setuptools *-nspkg.pth, whose
	// lines create each of them from what site-packages holds under its
	// name at every start (Env.Check, nspkg.go).
	Namespaces []string `json:"namespaces,omitempty"`
}

// RefusedError is a wheel member that must not reach the host.
type RefusedError struct {
	Wheel  string // the wheel's file name
	Member string
	Reason string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("%s: %q: %s", e.Wheel, e.Member, e.Reason)
}

// fileName is PEP 427's {name}-{version}(-{build})?-{python}-{abi}-{platform}.whl.
var fileName = regexp.MustCompile(`^([A-Za-z0-9_.]+)-([A-Za-z0-9_.!+]+)(?:-[0-9][A-Za-z0-9_.]*)?-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+-[A-Za-z0-9_.]+\.whl$`)

// Inspect opens a wheel and checks every member. It returns what the wheel
// would install that can run on the host; the caller decides whether an
// executable .pth file is allowed, and checks the batch against the target
// environment (Env.Check).
func Inspect(file string, lim Limits) (*Wheel, error) {
	base := filepath.Base(file)
	m := fileName.FindStringSubmatch(base)
	if m == nil {
		return nil, &RefusedError{Wheel: base, Member: base, Reason: "not a wheel file name (PEP 427)"}
	}
	w := &Wheel{File: base, Name: m[1], Version: m[2]}
	zr, err := zip.OpenReader(file)
	if err != nil {
		return nil, &RefusedError{Wheel: base, Member: base, Reason: "not a readable zip archive: " + err.Error()}
	}
	defer zr.Close()
	if len(zr.File) > lim.MaxEntries {
		return nil, &RefusedError{Wheel: base, Member: base, Reason: fmt.Sprintf("more than %d members", lim.MaxEntries)}
	}
	lay := layout{distInfo: escapeName(w.Name) + "-" + w.Version + ".dist-info/", dataDir: escapeName(w.Name) + "-" + w.Version + ".data/"}
	members := map[string]*zip.File{}
	var total uint64
	for _, f := range zr.File {
		if err := checkMember(f, lay); err != nil {
			return nil, &RefusedError{Wheel: base, Member: f.Name, Reason: err.Error()}
		}
		if _, dup := members[f.Name]; dup {
			return nil, &RefusedError{Wheel: base, Member: f.Name, Reason: "appears twice in the archive"}
		}
		members[f.Name] = f
		total += f.UncompressedSize64
		if total > uint64(lim.MaxBytes) {
			return nil, &RefusedError{Wheel: base, Member: f.Name, Reason: fmt.Sprintf("the wheel unpacks to more than %d bytes", lim.MaxBytes)}
		}
	}
	record, ok := members[lay.distInfo+"RECORD"]
	if !ok {
		return nil, &RefusedError{Wheel: base, Member: lay.distInfo + "RECORD", Reason: "missing: a wheel must list its files"}
	}
	digests, rerr := checkRecord(record, members, lay.distInfo)
	if rerr != nil {
		return nil, &RefusedError{Wheel: base, Member: rerr.member, Reason: rerr.reason}
	}
	if lay.rootIsPurelib, err = rootIsPurelib(members[lay.distInfo+"WHEEL"]); err != nil {
		return nil, &RefusedError{Wheel: base, Member: lay.distInfo + "WHEEL", Reason: err.Error()}
	}
	for _, f := range zr.File {
		if err := w.classify(f, lay, digests[f.Name]); err != nil {
			return nil, &RefusedError{Wheel: base, Member: f.Name, Reason: err.Error()}
		}
	}
	if ep, ok := members[lay.distInfo+"entry_points.txt"]; ok {
		if err := w.addEntryPoints(ep); err != nil {
			return nil, &RefusedError{Wheel: base, Member: ep.Name, Reason: err.Error()}
		}
	}
	sort.Strings(w.Scripts)
	return w, nil
}

// escapeName is how a distribution name appears in its .dist-info
// directory's name: runs of -_. become _ (PEP 427, PEP 503).
func escapeName(name string) string { return nameSeparators.ReplaceAllString(name, "_") }

// normalize is PEP 503's form of a distribution name, under which two
// spellings name the same distribution.
func normalize(name string) string {
	return strings.ToLower(nameSeparators.ReplaceAllString(name, "-"))
}

var nameSeparators = regexp.MustCompile(`[-_.]+`)

// checkMember refuses names that could leave the install directory or
// garble a terminal, and anything that is not a plain file or directory.
func checkMember(f *zip.File, lay layout) error {
	name := f.Name
	switch {
	case name == "" || strings.ContainsAny(name, "\\\x00"):
		return errors.New("an empty name, a backslash or a NUL byte")
	case strings.HasPrefix(name, "/"):
		return errors.New("an absolute name")
	case !utf8.ValidString(name) || strings.IndexFunc(name, notPrintable) >= 0:
		// Names reach the user's terminal in messages (invariant 11).
		return errors.New("a name with invalid UTF-8, control, format or invisible characters")
	}
	trimmed := strings.TrimSuffix(name, "/")
	for _, part := range strings.Split(trimmed, "/") {
		if part == ".." || part == "." || part == "" {
			return errors.New("a name with . or .. or an empty part, which could leave the install directory")
		}
	}
	mode := f.Mode()
	switch {
	case mode&fs.ModeSymlink != 0:
		return errors.New("a symbolic link")
	case mode&(fs.ModeSetuid|fs.ModeSetgid) != 0:
		return errors.New("a setuid or setgid file")
	case mode.IsDir() || strings.HasSuffix(name, "/"):
		return nil
	case mode&fs.ModeType != 0:
		return errors.New("not a regular file")
	}
	top, _, _ := strings.Cut(trimmed, "/")
	if strings.HasSuffix(top, ".dist-info") && top+"/" != lay.distInfo {
		return fmt.Errorf("a .dist-info directory other than %s", lay.distInfo)
	}
	if strings.HasSuffix(top, ".data") && top+"/" != lay.dataDir {
		return fmt.Errorf("a .data directory other than %s", lay.dataDir)
	}
	if strings.HasPrefix(name, lay.dataDir) {
		scheme, _, _ := strings.Cut(strings.TrimPrefix(name, lay.dataDir), "/")
		switch scheme {
		case "purelib", "platlib", "scripts", "headers", "data":
		default:
			return fmt.Errorf("an unknown install scheme %q", scheme)
		}
	}
	return nil
}

func notPrintable(r rune) bool { return !unicode.IsPrint(r) }

// classify places one member where pip would install it and applies the
// rule of that place: a command, a site-packages file, or data below the
// environment's prefix.
func (w *Wheel) classify(f *zip.File, lay layout, digest string) error {
	if f.Mode().IsDir() || strings.HasSuffix(f.Name, "/") {
		return nil
	}
	fl, err := lay.place(f.Name)
	if err != nil {
		return err
	}
	fl.digest = digest
	w.files = append(w.files, fl)
	switch {
	case fl.cmd:
		return w.addCommand(path.Base(fl.rel))
	case fl.site != "":
		return w.classifySite(f, fl.site)
	}
	return nil
}

// classifySite applies the rules of site-packages, where Python finds
// start-up hooks.
func (w *Wheel) classifySite(f *zip.File, site string) error {
	if module, top := startupModule(site); top {
		return fmt.Errorf("a %s module, which Python imports at every start", module)
	} else if module != "" {
		// Deeper down it runs only if a .pth path line puts its
		// directory on sys.path (Env.Check).
		w.startup = append(w.startup, f.Name)
	}
	if !strings.HasSuffix(site, ".pth") || strings.Contains(site, "/") {
		// site.py reads .pth files only in site-packages itself.
		return nil
	}
	p, pathLine, err := readPth(f, w.Name, site)
	if err != nil {
		return err
	}
	if pathLine != "" && w.pathPth == "" {
		w.pathPth = f.Name
	}
	w.Pth = append(w.Pth, p)
	return nil
}

// addCommand applies the rule of the scripts directory to one command.
func (w *Wheel) addCommand(name string) error {
	if reason := commandRule(name); reason != "" {
		return errors.New(reason)
	}
	w.addScript(name)
	return nil
}

func (w *Wheel) addScript(name string) {
	if !slices.Contains(w.Scripts, name) {
		w.Scripts = append(w.Scripts, name)
		slices.Sort(w.Scripts)
	}
}

// CommandMember is the member that installs the command name: its file
// in the scripts directory, or entry_points.txt for one that pip
// generates.
func (w *Wheel) CommandMember(name string) string {
	for _, f := range w.files {
		if f.cmd && path.Base(f.rel) == name {
			return f.member
		}
	}
	return ""
}
