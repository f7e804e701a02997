package pip

import (
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/install"
)

// pipOutput reads pip's output (and pipfetch.py's): which sdists ran their
// build backend, for what, and which one failed.
type pipOutput struct{}

func (pipOutput) Kind() string { return "wheel build" }

var (
	// "Processing ./safe-install-wheelhouse/fastext-1.0.tar.gz",
	// "  Downloading http://host/files/fastext-1.0.tar.gz (1.2 kB)",
	// "  File was already downloaded /work/.../fastext-1.0.tar.gz".
	pipArchiveLine = regexp.MustCompile(`^\s*(?:Processing|Downloading|File was already downloaded|Using cached)\s+(\S+\.(?:tar\.gz|zip|tar\.bz2|whl))`)
	pipCollecting  = regexp.MustCompile(`^\s*Collecting (\S+)`)
	// Hooks pip runs on an sdist: metadata (fetch and build) and the build.
	pipMetadata = regexp.MustCompile(`^\s*(?:Preparing metadata|Getting requirements to build wheel|Installing build dependencies) \(|^\s*Running setup\.py \(path:`)
	pipBuilding = regexp.MustCompile(`^\s*Building wheel for (\S+) \(`)
	// The build phase builds several wheels at once (pipenvs.py's
	// build_at_once): their lines interleave, so what is being built is
	// every build started and not finished.
	pipBuildEnds = regexp.MustCompile(`\): (?:started|finished with status)`)
	pipCreated   = regexp.MustCompile(`^\s*Created wheel for (\S+): filename=(\S+)`)
	pipFailedFor = regexp.MustCompile(`^\s*(?:ERROR: )?Failed building wheel for (\S+)|^Failed to build (\S+)$`)
	pipNotRun    = regexp.MustCompile(`× (.+?) did not run successfully`)
	// "  ╰─> [3 lines of output]": the lines that follow, indented four
	// more, are a hook's own output, which the package writes.
	pipOutputBlock = regexp.MustCompile(`^(\s*)╰─> \[(\d+) lines of output\]`)
	pipFetchStep   = regexp.MustCompile(`^safe-install-pip: (?:dynamic )?build requirements of (\S+?)(?:\.tar\.gz|\.zip|\.tar\.bz2)?:`)
)

// archivePackage turns "dir/fastext-1.0.tar.gz" or a wheel file into
// "fastext==1.0".
func archivePackage(file string) string {
	base := path.Base(file)
	if strings.HasSuffix(base, ".whl") {
		return wheelPackage(base)
	}
	for _, ext := range []string{".tar.gz", ".zip", ".tar.bz2"} {
		base = strings.TrimSuffix(base, ext)
	}
	i := strings.LastIndex(base, "-")
	if i <= 0 {
		return base
	}
	return base[:i] + "==" + base[i+1:]
}

// pipTrace follows pip's output line by line: the package being worked on
// and every hook run on behalf of one.
type pipTrace struct {
	current  string            // name==version (or the requirement) last announced
	versions map[string]string // normalised name -> name==version
	runs     []install.ScriptRun
	seen     map[install.ScriptRun]bool
	building []string // builds started and not finished, name==version
	// What failed, from the most to the least certain: pip's "Failed
	// building wheel for X" names it; a "× ... did not run successfully"
	// block and pipfetch.py's ERROR line belong to the package last
	// announced, which, with builds at once, may be another's.
	failedFor, notRun, errored string
	command, errCommand        string
}

func tracePip(log string) *pipTrace {
	t := &pipTrace{versions: map[string]string{}, seen: map[install.ScriptRun]bool{}}
	// A failing hook's output is shown in a block pip counts; none of its
	// lines is pip's, whatever it looks like: a build that prints "Failed
	// building wheel for <another>" must not put the blame there. Lines
	// without the block's indent are another build's, written between.
	var inBlock int
	var blockIndent string
	for _, l := range strings.Split(log, "\n") {
		l = strings.TrimRight(l, "\r")
		if inBlock > 0 && strings.HasPrefix(l, blockIndent) {
			inBlock--
			continue
		}
		if m := pipOutputBlock.FindStringSubmatch(l); m != nil {
			inBlock, _ = strconv.Atoi(m[2])
			blockIndent = m[1] + "    "
			continue
		}
		switch {
		case pipArchiveLine.MatchString(l):
			t.current = archivePackage(pipArchiveLine.FindStringSubmatch(l)[1])
			name, _, _ := strings.Cut(t.current, "==")
			t.versions[normalizeDist(name)] = t.current
		case pipCollecting.MatchString(l):
			t.current = pipCollecting.FindStringSubmatch(l)[1]
		case pipFetchStep.MatchString(l):
			t.current = archivePackage(pipFetchStep.FindStringSubmatch(l)[1] + ".tar.gz")
			t.add(t.current, "get_requires_for_build_wheel")
		case pipMetadata.MatchString(l):
			t.add(t.current, "prepare_metadata")
		case pipBuilding.MatchString(l):
			t.current = t.named(pipBuilding.FindStringSubmatch(l)[1])
			t.building = slices.DeleteFunc(t.building, func(b string) bool { return b == t.current })
			if m := pipBuildEnds.FindString(l); strings.HasSuffix(m, "started") {
				t.building = append(t.building, t.current)
			}
		case pipCreated.MatchString(l):
			m := pipCreated.FindStringSubmatch(l)
			_, version, _ := strings.Cut(wheelPackage(m[2]), "==")
			t.add(m[1]+"=="+version, "build_wheel")
		case pipFailedFor.MatchString(l):
			if t.failedFor == "" {
				m := pipFailedFor.FindStringSubmatch(l)
				t.failedFor = t.named(m[1] + m[2])
			}
		case pipNotRun.MatchString(l):
			if t.notRun == "" {
				t.notRun, t.command = t.current, pipNotRun.FindStringSubmatch(l)[1]
			}
		case strings.HasPrefix(l, "safe-install-pip: ERROR") && t.errored == "":
			t.errored, t.errCommand = t.current, strings.TrimPrefix(l, "safe-install-pip: ERROR ")
		}
	}
	return t
}

// failure is the package that failed and the command, or "" when nothing
// failed.
func (t *pipTrace) failure() (string, string) {
	switch {
	case t.failedFor != "" && t.command != "":
		return t.failedFor, t.command
	case t.failedFor != "":
		return t.failedFor, "build_wheel"
	case t.notRun != "":
		return t.notRun, t.command
	}
	return t.errored, t.errCommand
}

// named gives name==version for a name pip printed, when known.
func (t *pipTrace) named(name string) string {
	if v, ok := t.versions[normalizeDist(name)]; ok {
		return v
	}
	return name
}

func (t *pipTrace) add(pkg, event string) {
	r := install.ScriptRun{Package: escape.Line(pkg), Event: event}
	if pkg == "" || t.seen[r] {
		return
	}
	t.seen[r] = true
	t.runs = append(t.runs, r)
}

func (pipOutput) Scripts(log string) []install.ScriptRun { return tracePip(log).runs }

func (pipOutput) Label(s install.ScriptRun) string { return s.Event }

// Failure names the package whose build failed or, when none failed (the
// phase was stopped: a timeout, a limit), the one pip was working on.
func (pipOutput) Failure(log string) (string, string) {
	t := tracePip(log)
	pkg, cmd := t.failure()
	switch {
	case pkg != "":
		return escape.Line(pkg), escape.Line(cmd)
	case len(t.building) > 0:
		return escape.Line(strings.Join(t.building, ", ")), ""
	}
	return escape.Line(t.current), ""
}
