// Package wheel vets a wheel built in the sandbox before the host's pip
// installs it. Installing a wheel runs no package code, but what it installs
// can run later on the host: a .pth file in site-packages runs at every
// Python start (litellm 1.82.8), a sitecustomize module likewise, and a
// console script named "pip" shadows pip. So a wheel is read as hostile: its
// members must be plain files with clean relative names, its RECORD must
// account for every byte, and whatever would execute on the host is listed
// or refused.
package wheel

import (
	"archive/zip"
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Limits bound one wheel.
type Limits struct {
	MaxEntries int
	MaxBytes   int64 // uncompressed, all members together
}

// DefaultLimits hold the largest wheels in common use (torch's CUDA wheels
// are about 2.5 GB unpacked) with room to spare.
var DefaultLimits = Limits{MaxEntries: 200_000, MaxBytes: 8 << 30}

// Wheel is what a vetted wheel would put on the host.
type Wheel struct {
	File    string `json:"file"`
	Name    string `json:"name"`
	Version string `json:"version"`
	// Pth are the .pth files it installs into site-packages.
	Pth []Pth `json:"pth,omitempty"`
	// Scripts are the commands it installs: console and GUI entry points
	// and files in its .data/scripts directory.
	Scripts []string `json:"scripts,omitempty"`
}

// Pth is one .pth file. Python's site module runs each line that starts
// with "import" followed by a space or tab, at every interpreter start.
type Pth struct {
	Member     string `json:"member"`
	Executable bool   `json:"executable"`
	// Known is set for a .pth file whose exact content is on the
	// allow-list of well-known benign ones.
	Known string `json:"known,omitempty"`
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

// knownPth are .pth contents that well-known packages ship and that are
// benign; anything else with an import line is refused unless allowed.
var knownPth = map[string]string{
	// setuptools >= 49: lets SETUPTOOLS_USE_DISTUTILS pick its distutils.
	"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n": "setuptools distutils-precedence",
}

// Inspect opens a wheel and checks every member. It returns what the wheel
// would install that can run on the host; the caller decides whether an
// executable .pth file is allowed.
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
	distInfo := escapeName(w.Name) + "-" + w.Version + ".dist-info/"
	dataDir := escapeName(w.Name) + "-" + w.Version + ".data/"
	members := map[string]*zip.File{}
	var total uint64
	for _, f := range zr.File {
		if err := checkMember(f, distInfo, dataDir); err != nil {
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
	record, ok := members[distInfo+"RECORD"]
	if !ok {
		return nil, &RefusedError{Wheel: base, Member: distInfo + "RECORD", Reason: "missing: a wheel must list its files"}
	}
	if err := checkRecord(record, members, distInfo); err != nil {
		return nil, &RefusedError{Wheel: base, Member: err.member, Reason: err.reason}
	}
	for _, f := range zr.File {
		if err := w.classify(f, distInfo, dataDir); err != nil {
			return nil, &RefusedError{Wheel: base, Member: f.Name, Reason: err.Error()}
		}
	}
	if ep, ok := members[distInfo+"entry_points.txt"]; ok {
		names, err := entryPointScripts(ep)
		if err != nil {
			return nil, &RefusedError{Wheel: base, Member: ep.Name, Reason: err.Error()}
		}
		w.Scripts = append(w.Scripts, names...)
	}
	sort.Strings(w.Scripts)
	for _, s := range w.Scripts {
		if shadowsPython.MatchString(s) {
			return nil, &RefusedError{Wheel: base, Member: s, Reason: "installs a command that shadows python or pip"}
		}
	}
	return w, nil
}

// escapeName is how a distribution name appears in its .dist-info
// directory's name: runs of -_. become _ (PEP 427, PEP 503).
func escapeName(name string) string { return nameSeparators.ReplaceAllString(name, "_") }

var nameSeparators = regexp.MustCompile(`[-_.]+`)

// checkMember refuses names that could leave the install directory and
// anything that is not a plain file or directory.
func checkMember(f *zip.File, distInfo, dataDir string) error {
	name := f.Name
	switch {
	case name == "" || strings.ContainsAny(name, "\\\x00"):
		return errors.New("an empty name, a backslash or a NUL byte")
	case strings.HasPrefix(name, "/"):
		return errors.New("an absolute name")
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
	if strings.HasSuffix(top, ".dist-info") && top+"/" != distInfo {
		return fmt.Errorf("a .dist-info directory other than %s", distInfo)
	}
	if strings.HasSuffix(top, ".data") && top+"/" != dataDir {
		return fmt.Errorf("a .data directory other than %s", dataDir)
	}
	if strings.HasPrefix(name, dataDir) {
		scheme, _, _ := strings.Cut(strings.TrimPrefix(name, dataDir), "/")
		switch scheme {
		case "purelib", "platlib", "scripts", "headers", "data":
		default:
			return fmt.Errorf("an unknown install scheme %q", scheme)
		}
	}
	return nil
}

// sitePath returns where in site-packages a member lands, or "" when it
// does not land there. Anything under .data/data is placed relative to the
// environment's prefix, so a site-packages directory can be reached from
// there too; such members count as landing in site-packages.
func sitePath(name, distInfo, dataDir string) string {
	switch {
	case strings.HasPrefix(name, distInfo):
		return ""
	case strings.HasPrefix(name, dataDir+"purelib/"):
		return strings.TrimPrefix(name, dataDir+"purelib/")
	case strings.HasPrefix(name, dataDir+"platlib/"):
		return strings.TrimPrefix(name, dataDir+"platlib/")
	case strings.HasPrefix(name, dataDir+"data/"):
		if i := strings.LastIndex(name, "/site-packages/"); i >= 0 {
			return name[i+len("/site-packages/"):]
		}
		if i := strings.LastIndex(name, "/dist-packages/"); i >= 0 {
			return name[i+len("/dist-packages/"):]
		}
		return ""
	case strings.HasPrefix(name, dataDir):
		return ""
	}
	return name
}

// shadowsPython matches commands that would take the place of the
// interpreter or the installer on PATH.
var shadowsPython = regexp.MustCompile(`^(python|pip)[0-9.]*$`)

// startupModules run at every interpreter start when importable from
// site-packages (site.py imports them), as a module, a package or a
// compiled extension.
var startupModules = map[string]bool{"sitecustomize": true, "usercustomize": true}

func (w *Wheel) classify(f *zip.File, distInfo, dataDir string) error {
	if f.Mode().IsDir() || strings.HasSuffix(f.Name, "/") {
		return nil
	}
	if rest, ok := strings.CutPrefix(f.Name, dataDir+"scripts/"); ok {
		w.Scripts = append(w.Scripts, path.Base(rest))
		return nil
	}
	site := sitePath(f.Name, distInfo, dataDir)
	if site == "" {
		return nil
	}
	top, _, _ := strings.Cut(site, "/")
	if module, _, _ := strings.Cut(top, "."); startupModules[module] {
		return fmt.Errorf("a %s module, which Python imports at every start", module)
	}
	if !strings.HasSuffix(site, ".pth") {
		return nil
	}
	if strings.Contains(site, "/") {
		// site.py reads .pth files only in site-packages itself.
		return nil
	}
	body, err := readAll(f, 1<<20)
	if err != nil {
		return err
	}
	known := knownPth[string(body)]
	if known == "" {
		known = namespacePth(body)
	}
	p := Pth{Member: f.Name, Executable: executablePth(body), Known: known}
	w.Pth = append(w.Pth, p)
	return nil
}

// nspkgName finds the package a setuptools namespace line declares.
var nspkgName = regexp.MustCompile(`sys\.modules\.setdefault\('([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)', types\.ModuleType\(`)

// namespacePth recognises a *-nspkg.pth that setuptools writes for
// namespace_packages (THREATS B10): every line must be exactly setuptools'
// template for the package it names, so nothing else can ride along. The
// template is the one of setuptools 65 and 66 (setuptools/namespaces.py),
// checked against lines that setuptools generated.
func namespacePth(body []byte) string {
	var pkgs []string
	for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		m := nspkgName.FindStringSubmatch(l)
		if m == nil || l != nspkgLine(m[1]) {
			return ""
		}
		pkgs = append(pkgs, m[1])
	}
	return "setuptools namespace packages " + strings.Join(pkgs, ", ")
}

// nspkgLine is setuptools' namespace line for pkg (_gen_nspkg_line).
func nspkgLine(pkg string) string {
	q := func(s string) string { return "'" + s + "'" }
	parts := strings.Split(pkg, ".")
	for i := range parts {
		parts[i] = q(parts[i])
	}
	tuple := "(" + strings.Join(parts, ", ") + ")"
	if len(parts) == 1 {
		tuple = "(" + parts[0] + ",)"
	}
	lines := []string{
		"import sys, types, os",
		"has_mfs = sys.version_info > (3, 5)",
		"p = os.path.join(sys._getframe(1).f_locals['sitedir'], *" + tuple + ")",
		"importlib = has_mfs and __import__('importlib.util')",
		"has_mfs and __import__('importlib.machinery')",
		"m = has_mfs and sys.modules.setdefault(" + q(pkg) + ", importlib.util.module_from_spec(importlib.machinery.PathFinder.find_spec(" + q(pkg) + ", [os.path.dirname(p)])))",
		"m = m or sys.modules.setdefault(" + q(pkg) + ", types.ModuleType(" + q(pkg) + "))",
		"mp = (m or []) and m.__dict__.setdefault('__path__',[])",
		"(p not in mp) and mp.append(p)",
	}
	if parent, child, ok := cutLast(pkg, "."); ok {
		lines = append(lines, "m and setattr(sys.modules["+q(parent)+"], "+q(child)+", m)")
	}
	return strings.Join(lines, ";")
}

func cutLast(s, sep string) (before, after string, found bool) {
	if i := strings.LastIndex(s, sep); i >= 0 {
		return s[:i], s[i+len(sep):], true
	}
	return s, "", false
}

// executablePth reports whether site.py would exec any line of a .pth file.
func executablePth(body []byte) bool {
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "import ") || strings.HasPrefix(l, "import\t") {
			return true
		}
	}
	// A line too long for the scanner is treated as executable.
	return sc.Err() != nil
}

type recordError struct{ member, reason string }

// checkRecord requires RECORD to list every member exactly, with a sha256
// and size that match: a RECORD that does not agree with the archive means
// the wheel was altered after it was built, or built to mislead.
func checkRecord(record *zip.File, members map[string]*zip.File, distInfo string) *recordError {
	body, err := readAll(record, 64<<20)
	if err != nil {
		return &recordError{record.Name, err.Error()}
	}
	rows, err := csv.NewReader(bytes.NewReader(body)).ReadAll()
	if err != nil {
		return &recordError{record.Name, "unreadable: " + err.Error()}
	}
	listed := map[string]bool{}
	for _, row := range rows {
		if len(row) != 3 {
			return &recordError{record.Name, fmt.Sprintf("a row with %d fields, want 3", len(row))}
		}
		name, digest, size := row[0], row[1], row[2]
		if listed[name] {
			return &recordError{name, "listed twice in RECORD"}
		}
		listed[name] = true
		f, ok := members[name]
		if !ok {
			return &recordError{name, "listed in RECORD but not in the archive"}
		}
		if name == distInfo+"RECORD" || name == distInfo+"RECORD.jws" || name == distInfo+"RECORD.p7s" {
			continue
		}
		if !strings.HasPrefix(digest, "sha256=") {
			return &recordError{name, "RECORD gives no sha256 for it"}
		}
		n, err := strconv.ParseUint(size, 10, 64)
		if err != nil || n != f.UncompressedSize64 {
			return &recordError{name, "its size differs from RECORD"}
		}
		sum, err := hashMember(f)
		if err != nil {
			return &recordError{name, err.Error()}
		}
		if "sha256="+sum != digest {
			return &recordError{name, "its sha256 differs from RECORD"}
		}
	}
	for name, f := range members {
		if !listed[name] && !f.Mode().IsDir() && !strings.HasSuffix(name, "/") &&
			name != distInfo+"RECORD.jws" && name != distInfo+"RECORD.p7s" {
			return &recordError{name, "in the archive but not listed in RECORD"}
		}
	}
	return nil
}

func hashMember(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	h := sha256.New()
	// The reader checks the CRC and the declared size at EOF.
	if _, err := io.Copy(h, rc); err != nil {
		return "", fmt.Errorf("unreadable: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)), nil
}

func readAll(f *zip.File, max int64) ([]byte, error) {
	if f.UncompressedSize64 > uint64(max) {
		return nil, fmt.Errorf("larger than %d bytes", max)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, max+1))
	if err != nil {
		return nil, fmt.Errorf("unreadable: %w", err)
	}
	return b, nil
}

// entryPointScripts lists the commands of the console_scripts and
// gui_scripts sections of entry_points.txt.
func entryPointScripts(f *zip.File) ([]string, error) {
	body, err := readAll(f, 4<<20)
	if err != nil {
		return nil, err
	}
	var out []string
	section := ""
	for _, line := range strings.Split(string(body), "\n") {
		line = strings.TrimSpace(line)
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "[") && strings.HasSuffix(line, "]"):
			section = strings.TrimSpace(line[1 : len(line)-1])
		case section == "console_scripts" || section == "gui_scripts":
			name, _, _ := strings.Cut(line, "=")
			out = append(out, strings.TrimSpace(name))
		}
	}
	return out, nil
}
