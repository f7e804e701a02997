package sandbox

import (
	"fmt"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/archive"
)

// tamperCheck refuses a file the scripts phase changed or added inside a
// package that was there before the scripts ran and ran no install script
// itself: another package's script wrote it (THREATS RT-17, the worm's
// "inject into your neighbours" step). A package's own build output, and
// new top-level directories (Prisma's .prisma), pass.
//
// Which packages ran scripts comes from the lockfile as the fetch left it
// (hasInstallScript, and the script policy), never from the scripts'
// output, which a script can forge ("> victim@1.0.0 postinstall").
type tamperCheck struct {
	before  archive.Sums
	pkgDirs map[string]bool       // package directories present before the scripts
	ran     func(dir string) bool // whether the package in dir ran its scripts
	changed []string              // files the scripts phase changed or added
	seen    map[string]bool       // every file that came back
	// earlier are files an earlier scripts phase changed (the
	// dependencies', before the project's own scripts).
	earlier []string
}

// allChanged is every file that came back changed by any scripts phase.
func (c *tamperCheck) allChanged() []string {
	all := slices.Clone(c.changed)
	for _, name := range c.earlier {
		if c.seen[name] && !slices.Contains(all, name) {
			all = append(all, name)
		}
	}
	return all
}

func newTamperCheck(before archive.Sums, ran func(dir string) bool) *tamperCheck {
	c := &tamperCheck{before: before, pkgDirs: map[string]bool{}, ran: ran, seen: map[string]bool{}}
	for name := range before {
		if d := packageDir(name); d != "" {
			c.pkgDirs[d] = true
		}
	}
	return c
}

func (c *tamperCheck) check(name string, sum archive.Sum) string {
	c.seen[name] = true
	if old, ok := c.before[name]; ok && old == sum {
		return ""
	}
	c.changed = append(c.changed, name)
	dir := packageDir(name)
	if dir == "" || !c.pkgDirs[dir] || c.ran(dir) {
		return ""
	}
	return fmt.Sprintf("changed during the scripts phase, but %s ran no install script of its own: another package's script wrote it", packageOf(name))
}

// deleted returns the first file (in name order) that was there after the
// fetch, is gone after the scripts, and belongs to a package that ran no
// script: a wipe of other packages (RT-70's `rm -rf`, or a worm removing a
// check) would otherwise reach the project as a broken tree.
func (c *tamperCheck) deleted() (name, reason string) {
	for _, n := range sortedKeys(c.before) {
		dir := packageDir(n)
		if c.seen[n] || dir == "" || c.ran(dir) {
			continue
		}
		return n, fmt.Sprintf("deleted during the scripts phase, but %s ran no install script of its own: another package's script removed it", packageOf(n))
	}
	return "", ""
}

// outside counts, per top-level directory (node_modules/.prisma), the files
// that scripts wrote outside any package: allowed (Prisma generates its
// client there), but the user is told (THREATS B11).
func (c *tamperCheck) outside() map[string]int {
	dirs := map[string]int{}
	for _, name := range c.allChanged() {
		if packageDir(name) != "" {
			continue
		}
		parts := strings.SplitN(name, "/", 3)
		dirs[strings.Join(parts[:min(2, len(parts))], "/")]++
	}
	return dirs
}

// scriptDirs are the package directories whose install scripts run, from a
// lockfile (v2+) and the policy; ok is false when the lockfile cannot say.
func scriptDirs(l npmLockfile, pol ScriptPolicy) (dirs map[string]bool, ok bool) {
	if l.Version < 2 {
		return nil, false
	}
	dirs = map[string]bool{}
	for k, p := range l.Packages {
		name := packageOf(k + "/package.json")
		if k != "" && p.HasInstallScript && name != "" && pol.runs(name, p.Version) {
			dirs[k] = true
		}
	}
	return dirs, true
}
