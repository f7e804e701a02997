package wheel

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"
)

// batch indexes the files of the wheels installed together: by the path
// they land at and, in site-packages, by the import names they provide.
type batch struct {
	list     []*placed
	byPath   map[string][]*placed
	modules  map[modKey]*placed // the first file providing a module
	packages map[modKey]*placed // the first file inside a package directory
	shadow   error              // the first module shadowed, reported after every overwrite
	// owners are files on disk whose owner the namespace rule names:
	// scan fills in the installed distribution that lists each.
	owners map[string]*installed
}

// modKey is an import name in one site-packages directory: the name and
// the directory (slash path below site-packages) Python imports it from.
type modKey struct{ site, dir, name string }

func (k modKey) String() string {
	return strings.TrimPrefix(strings.ReplaceAll(k.dir, "/", ".")+"."+k.name, ".")
}

// add indexes p, refusing it when another wheel of the batch ships a
// different file at its path or provides one of its import names.
func (b *batch) add(p *placed) error {
	for _, q := range b.byPath[p.abs] {
		if !q.sameDist(p.w.Name) && (p.f.digest == "" || p.f.digest != q.f.digest) {
			return p.refuse(fmt.Sprintf("would install %s, which %s in the same install also installs (%s): one would overwrite the other; install one of them only",
				p.abs, q.w.Package(), q.f.member))
		}
	}
	b.list = append(b.list, p)
	b.byPath[p.abs] = append(b.byPath[p.abs], p)
	if p.site == "" {
		return nil
	}
	if dir, name, ok := moduleOf(p.rel); ok {
		k := modKey{p.site, dir, name}
		for _, q := range []*placed{b.modules[k], b.packages[k]} {
			if q != nil && !q.sameDist(p.w.Name) && q.abs != p.abs {
				return p.refuse(fmt.Sprintf("provides the module %s, which %s in the same install also provides (%s): Python would import one in place of the other; install one of them only",
					k, q.w.Package(), q.f.member))
			}
		}
		if b.modules[k] == nil {
			b.modules[k] = p
		}
	}
	for _, pk := range packagesOf(p.rel) {
		k := modKey{p.site, pk[0], pk[1]}
		if q := b.modules[k]; q != nil && !q.sameDist(p.w.Name) {
			return p.refuse(fmt.Sprintf("provides the package %s, which %s in the same install provides as a module (%s): Python would import one in place of the other; install one of them only",
				k, q.w.Package(), q.f.member))
		}
		if b.packages[k] == nil {
			b.packages[k] = p
		}
	}
	return nil
}

// scan checks the batch against what every distribution installed in one
// site-packages directory owns.
func (b *batch) scan(site string) error {
	entries, err := os.ReadDir(site)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listing the distributions installed in %s: %w", site, err)
	}
	for _, e := range entries {
		in, ok := installedDist(site, e)
		if !ok {
			continue
		}
		if err := in.eachListed(func(abs string) error { return b.owned(in, site, abs) }); err != nil {
			return err
		}
	}
	return nil
}

// owned checks the batch against one file that an installed distribution
// owns: the batch may not overwrite it nor shadow its module, unless it is
// the same distribution.
func (b *batch) owned(in installed, site, abs string) error {
	if o, ok := b.owners[abs]; ok && o == nil {
		b.owners[abs] = &in
	}
	for _, p := range b.byPath[abs] {
		switch {
		case p.sameDist(in.name):
			p.owned = true
		case !sameBytes(p.f.digest, abs):
			return p.refuse(fmt.Sprintf("would overwrite %s, which %s installed (its %s lists it): a wheel may not replace another distribution's files; if %s is meant to replace %s, uninstall %s first",
				abs, in.label, path.Base(in.list), p.w.Package(), in.label, in.label))
		}
	}
	rel, ok := below(site, abs)
	if !ok || b.shadow != nil {
		return nil
	}
	var hit *placed
	var k modKey
	if dir, name, ok := moduleOf(rel); ok {
		k = modKey{site, dir, name}
		for _, q := range []*placed{b.modules[k], b.packages[k]} {
			if q != nil && !q.sameDist(in.name) && q.abs != abs {
				hit = q
			}
		}
	}
	for _, pk := range packagesOf(rel) {
		if q := b.modules[modKey{site, pk[0], pk[1]}]; hit == nil && q != nil && !q.sameDist(in.name) {
			hit, k = q, modKey{site, pk[0], pk[1]}
		}
	}
	if hit != nil {
		b.shadow = hit.refuse(fmt.Sprintf("provides the import name %s in %s, as %s's %s does: Python would import one in place of the other, so a wheel may not shadow another distribution's modules; if %s is meant to replace %s, uninstall %s first",
			k, site, in.label, rel, hit.w.Package(), in.label, in.label))
	}
	return nil
}

// unowned refuses a file that would overwrite one that is there and that
// no distribution owns: the interpreter's links in bin, activate,
// pyvenv.cfg, a file put there by hand.
func (b *batch) unowned() error {
	for _, p := range b.list {
		if p.owned {
			continue
		}
		if fi, err := os.Lstat(p.abs); err != nil || fi.IsDir() || sameBytes(p.f.digest, p.abs) {
			continue
		}
		return p.refuse(fmt.Sprintf("would replace %s, which is there already and which no installed distribution owns: a file of the environment itself (its python links, an activate script, pyvenv.cfg) or one put there by hand; if it is meant to be replaced, remove it first",
			p.abs))
	}
	return nil
}
