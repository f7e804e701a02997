package sandbox

import (
	"fmt"

	"github.com/safe-install/safe-install/sandbox/archive"
)

// tamperCheck refuses a file the scripts phase changed or added inside a
// package that was there before the scripts ran and ran no install script
// itself: another package's script wrote it (THREATS RT-17, the worm's
// "inject into your neighbours" step). A package's own build output, and
// new top-level directories (Prisma's .prisma), pass.
type tamperCheck struct {
	before  archive.Sums
	pkgDirs map[string]bool // package directories present before the scripts
	ran     map[string]bool // packages whose scripts npm announced
}

func newTamperCheck(before archive.Sums, scripts []ScriptRun) *tamperCheck {
	c := &tamperCheck{before: before, pkgDirs: map[string]bool{}, ran: map[string]bool{}}
	for name := range before {
		if d := packageDir(name); d != "" {
			c.pkgDirs[d] = true
		}
	}
	for _, s := range scripts {
		c.ran[policyName(s.Package)] = true
	}
	return c
}

func (c *tamperCheck) check(name string, sum archive.Sum) string {
	dir := packageDir(name)
	if dir == "" || !c.pkgDirs[dir] || c.ran[packageOf(name)] {
		return ""
	}
	if old, ok := c.before[name]; ok && old == sum {
		return ""
	}
	return fmt.Sprintf("changed during the scripts phase, but %s ran no install script of its own: another package's script wrote it", packageOf(name))
}
