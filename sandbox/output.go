package sandbox

import (
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// tailBuffer keeps the last max bytes written to it: a container's output
// is bounded in memory however much a script prints, and however much one
// write carries. It holds at most 2*max, and moves max bytes once per max
// written (not on every write: the fetch's output has no log limit).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if t.buf == nil {
		t.buf = make([]byte, 0, 2*t.max)
	}
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if len(t.buf)+len(p) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-(t.max-len(p)):]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf[max(0, len(t.buf)-t.max):])
}

// lastLines returns at most n trailing lines of s, leaving out npm's own
// timing lines (--timing prints them last, where they would fill the tail
// of a failed script's output).
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	lines = slices.DeleteFunc(lines, func(l string) bool { return strings.HasPrefix(l, "npm timing ") })
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

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

// outOfMemory matches how node, V8, python and the C library report an
// allocation the memory rlimit refused (cgroup v1 gives no OOM kill).
var outOfMemory = regexp.MustCompile(`Array buffer allocation failed|JavaScript heap out of memory|Cannot allocate memory|\bMemoryError\b|std::bad_alloc|virtual memory exhausted`)

// networkError matches how node, npm, curl and python report a connection
// the sandbox's network namespace cannot make.
var networkError = regexp.MustCompile(`\b(ENETUNREACH|EAI_AGAIN|ENOTFOUND|ECONNREFUSED|getaddrinfo|Network is unreachable|Temporary failure in name resolution|Could not resolve host|Connection refused)\b`)

// outOfProcesses matches how shells, node and python report a fork the
// process rlimit refused.
// outOfSpace matches a full work directory (its tmpfs is bounded by --disk)
// or home.
var outOfSpace = regexp.MustCompile(`ENOSPC|No space left on device`)

var outOfProcesses = regexp.MustCompile(`Cannot fork|fork: Resource temporarily unavailable|spawn \S+ EAGAIN|BlockingIOError: \[Errno 11\]`)

// ScriptRun is one lifecycle script npm announced.
type ScriptRun struct {
	Package string `json:"package"` // name@version
	Event   string `json:"event"`   // preinstall, install, postinstall
	// Command is the script npm announced under the header; "node-gyp
	// rebuild" for the install npm adds to a package with a binding.gyp.
	Command string `json:"command,omitempty"`
	// DurationMS is how long it ran, from npm's own timing record (0 when
	// there is none).
	DurationMS int64 `json:"duration_ms,omitempty"`
	// Recorded says npm's own record (--timing) has it: a header alone can
	// be printed by any script. The project's own scripts, which npm run
	// announces, count as recorded.
	Recorded bool `json:"recorded"`
}

// npmOutput reads npm's output.
type npmOutput struct{}

func (npmOutput) Kind() string                        { return "install script" }
func (npmOutput) Scripts(log string) []ScriptRun      { return npmScripts(log) }
func (npmOutput) Failure(log string) (string, string) { return npmFailure(log) }

// Label lists a run by its event, and npm's implicit node-gyp rebuild by
// its command too: npm adds it for a binding.gyp, and gyp runs the
// commands that file names (THREATS RT-62).
func (npmOutput) Label(s ScriptRun) string {
	if s.Command == "node-gyp rebuild" {
		return s.Event + " (node-gyp rebuild)"
	}
	return s.Event
}

// npmScripts lists the scripts npm announced, in order.
func npmScripts(log string) []ScriptRun {
	var out []ScriptRun
	for _, m := range npmScriptHeader.FindAllStringSubmatchIndex(log, -1) {
		// A script can print a header of its own: whatever it says is
		// escaped here, where it enters the run's record.
		run := ScriptRun{Package: escape.Line(log[m[4]:m[5]]), Event: escape.Line(log[m[6]:m[7]])}
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
