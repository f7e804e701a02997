package npm

import (
	"regexp"
	"strings"

	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
)

// npm prints a header before each lifecycle script it runs in the
// foreground, and the command on the next line: "> name@version event"
// and "> command" up to npm 11, "npm notice run name@version event" and
// "npm notice run command" from npm 12 on; and "npm error path|command"
// lines when one fails.
var (
	npmScriptHeader = regexp.MustCompile(`(?m)^(> |npm notice run )(\S+@\S+) (\S+)\r?$`)
	npmErrorCommand = regexp.MustCompile(`(?m)^npm (?:error|ERR!) command (?:sh -c )?(.+?)\r?$`)
	npmErrorPath    = regexp.MustCompile(`(?m)^npm (?:error|ERR!) path \S*/node_modules/(\S+?)\r?$`)
)

// npmOutput reads npm's output.
type npmOutput struct{}

func (npmOutput) Kind() string                           { return "install script" }
func (npmOutput) Scripts(log string) []install.ScriptRun { return npmScripts(log) }
func (npmOutput) Failure(log string) (string, string)    { return npmFailure(log) }

// Label lists a run by its event, and npm's implicit node-gyp rebuild by
// its command too: npm adds it for a binding.gyp, and gyp runs the
// commands that file names (corpus case RT-62,
// cmd/safe-install/testdata/corpus/README.md).
func (npmOutput) Label(s install.ScriptRun) string {
	if s.Command == "node-gyp rebuild" {
		return s.Event + " (node-gyp rebuild)"
	}
	return s.Event
}

// npmScripts lists the scripts npm announced, in order.
func npmScripts(log string) []install.ScriptRun {
	var out []install.ScriptRun
	for _, m := range npmScriptHeader.FindAllStringSubmatchIndex(log, -1) {
		// A script can print a header of its own: whatever it says is
		// escaped here, where it enters the run's record.
		run := install.ScriptRun{Package: escape.Line(log[m[4]:m[5]]), Event: escape.Line(log[m[6]:m[7]])}
		// The command follows with the same prefix: "> node-gyp rebuild".
		rest := strings.TrimPrefix(log[m[1]:], "\n")
		if cmd, ok := strings.CutPrefix(rest, log[m[2]:m[3]]); ok {
			cmd, _, _ = strings.Cut(cmd, "\n")
			run.Command = escape.Line(strings.TrimSpace(cmd))
		}
		out = append(out, run)
	}
	return out
}

// npmFailure names the package and command of a failed script from npm's
// output: the last announced script whose package matches npm's error path,
// or the last announced one.
func npmFailure(log string) (pkg, command string) {
	if m := npmErrorCommand.FindAllStringSubmatch(log, -1); len(m) > 0 {
		command = m[len(m)-1][1]
	}
	scripts := npmScripts(log)
	name := ""
	if m := npmErrorPath.FindStringSubmatch(log); m != nil {
		name = m[1]
		if i := strings.LastIndex(name, "/node_modules/"); i >= 0 {
			name = name[i+len("/node_modules/"):]
		}
	}
	for i := len(scripts) - 1; i >= 0; i-- {
		if name == "" || strings.HasPrefix(scripts[i].Package, name+"@") {
			return scripts[i].Package, escape.Line(command)
		}
	}
	return escape.Line(name), escape.Line(command)
}
