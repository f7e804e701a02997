package wheel

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
)

// The namespace rule (corpus cases B10 and ATK-5,
// cmd/safe-install/testdata/corpus/README.md). setuptools' line in a
// *-nspkg.pth for the package a.b runs at every interpreter start
//
//	importlib.util.module_from_spec(importlib.machinery.PathFinder.find_spec('a.b', [<sitedir>/a]))
//
// What that executes, as read in CPython 3.11's importlib
// (Lib/importlib/_bootstrap.py: module_from_spec, _init_module_attrs;
// Lib/importlib/_bootstrap_external.py: FileFinder.find_spec,
// _get_supported_file_loaders, _LoaderBasics, ExtensionFileLoader,
// NamespaceLoader; Python/import.c: _imp_create_dynamic;
// Python/importdl.c: _PyImport_LoadDynamicModuleWithSpec) and tried on
// 3.11.7 with every layout below:
//   - find_spec asks <sitedir>/a's FileFinder for b: a directory b with
//     __init__ plus a suffix (the extension suffixes of
//     importlib.machinery.EXTENSION_SUFFIXES, then .py, then .pyc) is a
//     package; else a file b plus a suffix, in the same order; else a
//     directory b is a namespace. A .pyc in __pycache__ alone is no spec
//     (the line then fails and runs nothing more).
//   - module_from_spec calls the loader's create_module and sets the
//     module's attributes; it never calls exec_module. The source,
//     sourceless and namespace loaders create nothing (a plain module
//     object): b.py, b/__init__.py and b.pyc do not run. The extension
//     loader's create_module is _imp.create_dynamic: dlopen, which runs
//     the library's constructors, and its PyInit_b, which for a
//     single-phase module is all of its init: native code at every start.
//
// So the template is accepted only where no extension module of its name
// can be found: it is refused when the batch or the environment holds one
// (whoever ships it, case ignored for the file systems that ignore it),
// and the batch may not bring one under a name that an installed
// namespace .pth declares.

// extensionModule is the dotted module name that an extension file at rel
// (a slash path below site-packages) creates: name<suffix> or
// name/__init__<suffix>, in lower case. Every suffix in the target
// Python's EXTENSION_SUFFIXES counts, and for any Python a name ending in
// .so or .pyd (another Python's tag, another platform's): the wider net
// costs nothing, since a namespace's name is nobody's extension.
func extensionModule(rel string, suffixes []string) (string, bool) {
	dir, base := path.Split(rel)
	lower := strings.ToLower(base)
	ext := strings.HasSuffix(lower, ".so") || strings.HasSuffix(lower, ".pyd")
	for _, s := range suffixes {
		ext = ext || (s != "" && strings.HasSuffix(lower, strings.ToLower(s)))
	}
	stem, _, dotted := strings.Cut(lower, ".")
	if !ext || !dotted || stem == "" {
		return "", false
	}
	var parts []string
	if dir != "" {
		parts = strings.Split(strings.TrimSuffix(strings.ToLower(dir), "/"), "/")
	}
	if stem != "__init__" {
		parts = append(parts, stem)
	}
	if len(parts) == 0 {
		return "", false
	}
	return strings.Join(parts, "."), true
}

// nsLookup are the two directories in which find_spec(name, [<site>/<parent>])
// finds an extension for a dotted name: <site>/<parent> (name<suffix>)
// and <site>/<parent>/<name> (__init__<suffix>).
func nsLookup(site, name string) []string {
	d := filepath.Join(append([]string{site}, strings.Split(name, ".")...)...)
	return []string{filepath.Dir(d), d}
}

// nsHit is a namespace .pth of the batch and an extension module that
// its line would create.
type nsHit struct {
	pth  *placed
	name string
	ext  *placed // in the batch, or nil for a file on disk
	abs  string  // the extension file
}

// namespaceTargets finds, for every namespace that a .pth of the batch
// declares, the extension modules its line would create: in the batch
// and on disk. Files on disk are left in b.owners, so that scan learns
// who owns them.
func (b *batch) namespaceTargets(ext []string) ([]nsHit, error) {
	var hits []nsHit
	for _, p := range b.list {
		for _, name := range namespacesOf(p) {
			for _, q := range b.list {
				if m, ok := extensionModule(q.rel, ext); ok && q.site == p.site && m == strings.ToLower(name) {
					hits = append(hits, nsHit{pth: p, name: name, ext: q, abs: q.abs})
				}
			}
			for _, dir := range nsLookup(p.site, name) {
				entries, err := os.ReadDir(dir)
				if err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
					return nil, fmt.Errorf("listing %s for %s's namespace %s: %w", dir, p.w.Package(), name, err)
				}
				for _, e := range entries {
					abs := filepath.Join(dir, e.Name())
					rel, _ := below(p.site, abs)
					if m, ok := extensionModule(rel, ext); ok && m == strings.ToLower(name) && len(b.byPath[abs]) == 0 {
						hits = append(hits, nsHit{pth: p, name: name, abs: abs})
						b.owners[abs] = nil
					}
				}
			}
		}
	}
	return hits, nil
}

// namespacesOf are the packages that p declares when it is a namespace
// .pth at the top of site-packages, where site.py reads it.
func namespacesOf(p *placed) []string {
	if p.site == "" || strings.Contains(p.rel, "/") || !strings.HasSuffix(p.rel, ".pth") {
		return nil
	}
	for _, pth := range p.w.Pth {
		if pth.Member == p.f.member {
			return pth.Namespaces
		}
	}
	return nil
}

// refuseNamespace refuses the first hit, naming both distributions.
func (b *batch) refuseNamespace(hits []nsHit) error {
	if len(hits) == 0 {
		return nil
	}
	h := hits[0]
	who := "put there by hand: no installed distribution lists it"
	switch {
	case h.ext != nil && h.ext.w == h.pth.w:
		who = "from the same wheel"
	case h.ext != nil:
		who = "from " + h.ext.w.Package() + " in the same install, its " + h.ext.f.member
	case b.owners[h.abs] != nil:
		who = "from " + b.owners[h.abs].label + ", installed"
	}
	rel, _ := below(h.pth.site, h.abs)
	return h.pth.refuse(fmt.Sprintf("is setuptools' namespace .pth for %s, which creates the module %s at every Python start (importlib.util.module_from_spec); site-packages would hold %s (%s), a compiled extension module of that name, and creating it runs its native code (dlopen, PyInit_%s); install one of them only",
		h.name, h.name, rel, who, h.name[strings.LastIndex(h.name, ".")+1:]))
}

// installedNamespaces lists the .pth files at the top of site, so that
// scan learns who owns them (b.owners).
func (b *batch) installedNamespaces(site string) ([]string, error) {
	entries, err := os.ReadDir(site)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("listing the .pth files of %s: %w", site, err)
	}
	var out []string
	for _, e := range entries {
		abs := filepath.Join(site, e.Name())
		if strings.HasSuffix(e.Name(), ".pth") && e.Type().IsRegular() && len(b.byPath[abs]) == 0 {
			out = append(out, abs)
			b.owners[abs] = nil
		}
	}
	return out, nil
}

// anyFindSpec finds the names that an installed .pth hands to
// PathFinder.find_spec, read loosely (any quotes, any line breaks): it was
// not vetted when it was installed, and a near-template creates the
// module all the same.
var anyFindSpec = regexp.MustCompile(`find_spec\(\s*['"]([\w.]+)['"]`)

// intoNamespaces refuses an extension module of the batch under a name
// that an installed .pth (one of pths in site) creates at every start,
// unless the .pth's distribution is in the batch: pip removes its old
// files, and the new .pth, if any, was checked as the batch's own.
func (b *batch) intoNamespaces(site string, pths []string, ext []string) error {
	for _, abs := range pths {
		in := b.owners[abs]
		if in != nil && b.upgrades(in.name) {
			continue
		}
		f, err := os.Open(abs)
		if err != nil {
			continue
		}
		body, err := io.ReadAll(io.LimitReader(f, 1<<20))
		f.Close()
		if err != nil {
			continue
		}
		for _, m := range anyFindSpec.FindAllStringSubmatch(string(body), -1) {
			for _, q := range b.list {
				if mod, ok := extensionModule(q.rel, ext); ok && q.site == site && mod == strings.ToLower(m[1]) {
					who := "which no installed distribution lists"
					if in != nil {
						who = "installed by " + in.label
					}
					return q.refuse(fmt.Sprintf("is a compiled extension module named %s, and %s (%s) is a .pth that creates the module %s at every Python start (importlib.util.module_from_spec): creating it would run this file's native code (dlopen, PyInit) at every start; install one of them only, or remove %s first",
						m[1], abs, who, m[1], abs))
				}
			}
		}
	}
	return nil
}

// upgrades reports whether a wheel of the batch is the distribution name
// (normalized).
func (b *batch) upgrades(name string) bool {
	for _, p := range b.list {
		if p.sameDist(name) {
			return true
		}
	}
	return false
}
