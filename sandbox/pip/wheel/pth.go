package wheel

import (
	"archive/zip"
	"fmt"
	"regexp"
	"strings"
)

// knownPth is a .pth file that a well-known distribution ships and that is
// benign. Its content is accepted only from that distribution and under
// its name: anyone else who ships it is asking Python to import a module
// (_distutils_hack) at every start, which could be its own.
type knownPth struct {
	dist, file, what string
}

var knownPths = map[string]knownPth{
	// setuptools >= 49: lets SETUPTOOLS_USE_DISTUTILS pick its distutils.
	"import os; var = 'SETUPTOOLS_USE_DISTUTILS'; enabled = os.environ.get(var, 'local') == 'local'; enabled and __import__('_distutils_hack').add_shim(); \n": {
		dist: "setuptools", file: "distutils-precedence.pth", what: "setuptools distutils-precedence",
	},
}

// readPth reads a .pth file that dist installs at site (its path in
// site-packages) line by line as site.py does, after checkText made sure
// that every Python reads the same lines: a line that starts with "import"
// and a space or tab is run at every start; other lines that are not
// comments or blank are directories added to sys.path, the first of which
// it returns.
func readPth(f *zip.File, dist, site string) (p Pth, pathLine string, err error) {
	body, err := readAll(f, 1<<20)
	if err != nil {
		return Pth{}, "", err
	}
	if err := checkText(body); err != nil {
		return Pth{}, "", fmt.Errorf("a .pth file with %w", err)
	}
	p = Pth{Member: f.Name}
	for i, line := range strings.Split(string(body), "\n") {
		switch {
		case strings.HasPrefix(line, "import ") || strings.HasPrefix(line, "import\t"):
			if !p.Executable {
				p.Executable, p.Why = true, fmt.Sprintf("line %d starts with import", i+1)
			}
		case strings.HasPrefix(line, "#") || pyStrip(line) == "":
		case pathLine == "":
			pathLine = line
		}
	}
	if k, ok := knownPths[string(body)]; ok {
		if normalize(dist) == k.dist && site == k.file {
			p.Known = k.what
		} else {
			p.Why += fmt.Sprintf(": it is %s's %s, but %s ships it", k.dist, k.file, dist)
		}
		return p, pathLine, nil
	}
	if p.Namespaces = namespacePth(body); p.Namespaces != nil {
		p.Known = "setuptools namespace packages " + strings.Join(p.Namespaces, ", ")
	}
	return p, pathLine, nil
}

// nspkgName finds the package a setuptools namespace line declares.
var nspkgName = regexp.MustCompile(`sys\.modules\.setdefault\('([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)', types\.ModuleType\(`)

// namespacePth recognises a *-nspkg.pth that setuptools writes for
// namespace_packages (corpus case B10,
// cmd/safe-install/testdata/corpus/README.md): every line must be exactly
// setuptools' template for the package it names, so nothing else can ride
// along. The template is the one of setuptools 65 and 66
// (setuptools/namespaces.py), checked against lines that setuptools
// generated. It returns the packages the lines declare, or nil. The
// template is code all the same: Env.Check refuses it for a name under
// which site-packages holds an extension module (nspkg.go).
func namespacePth(body []byte) []string {
	var pkgs []string
	for _, l := range strings.Split(strings.TrimSuffix(string(body), "\n"), "\n") {
		m := nspkgName.FindStringSubmatch(l)
		if m == nil || l != nspkgLine(m[1]) {
			return nil
		}
		pkgs = append(pkgs, m[1])
	}
	return pkgs
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
