package pnpm

import (
	"regexp"
	"strings"

	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
)

// pnpm prints a line before each build script it runs, with the package's
// directory shortened: ".../esbuild@0.23.1/node_modules/esbuild postinstall$ node install.js",
// and the directory with "Failed" when one fails.
var (
	scriptHeader = regexp.MustCompile(`(?m)^\S*?([^/\s]+)/node_modules/((?:@[^/\s]+/)?[^/\s]+) (preinstall|install|postinstall)\$ (.*?)\r?$`)
	scriptFailed = regexp.MustCompile(`(?m)^\S*?([^/\s]+)/node_modules/((?:@[^/\s]+/)?[^/\s]+) (preinstall|install|postinstall): Failed`)
)

// pnpmOutput reads pnpm's output.
type pnpmOutput struct{}

func (pnpmOutput) Kind() string                     { return "build script" }
func (pnpmOutput) Label(s install.ScriptRun) string { return s.Event }

// Scripts lists the builds pnpm announced, in order. A script can print a
// header of its own: whatever it says is escaped here.
func (pnpmOutput) Scripts(log string) []install.ScriptRun {
	var out []install.ScriptRun
	for _, m := range scriptHeader.FindAllStringSubmatch(log, -1) {
		out = append(out, install.ScriptRun{Package: escape.Line(headerID(m[1], m[2])), Event: escape.Line(m[3]), Command: escape.Line(strings.TrimSpace(m[4]))})
	}
	return out
}

// Failure names the package and command of the build that failed.
func (o pnpmOutput) Failure(log string) (pkg, command string) {
	m := scriptFailed.FindAllStringSubmatch(log, -1)
	if len(m) == 0 {
		return "", ""
	}
	last := m[len(m)-1]
	id := escape.Line(headerID(last[1], last[2]))
	for _, r := range o.Scripts(log) {
		if r.Package == id && r.Event == last[3] {
			command = r.Command
		}
	}
	return id, command
}

// headerID is name@version from a virtual store directory and the name.
func headerID(entry, name string) string {
	return packageID("node_modules/.pnpm/" + entry + "/node_modules/" + name)
}
