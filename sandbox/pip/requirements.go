package pip

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/safe-install/safe-install/sandbox/install"
)

// pipIndexOptions change where pip fetches from. In a requirements file a
// pull request can change them, so they need --allow-index there; they are
// taken out of the copied file and given to pip through the environment,
// so that no credential in them reaches a container.
var pipIndexOptions = map[string]string{
	"-i": "--index-url", "--index-url": "--index-url",
	"--extra-index-url": "--extra-index-url",
	"-f":                "--find-links", "--find-links": "--find-links",
	"--trusted-host": "--trusted-host",
	"--no-index":     "--no-index",
}

// pipFileOptions name another file to read: -r requirements, -c constraints.
var pipFileOptions = map[string]string{"-r": "-r", "--requirement": "-r", "-c": "-c", "--constraint": "-c"}

// pipLineFlags may appear in a requirements file and only shape resolution.
var pipLineFlags = []string{"--pre", "--prefer-binary", "--require-hashes", "--only-binary", "--no-binary",
	"--hash", "--use-feature", "--config-settings"}

// pipEnvVar is pip's ${VAR} expansion in requirements files.
var pipEnvVar = regexp.MustCompile(`\$\{([A-Z0-9_]+)\}`)

// indexOption is one index or find-links option and where it was found.
type indexOption struct {
	Option, Value string
	Where         string // "command line" or file:line
}

// reqFiles reads requirements files and the ones they include.
type reqFiles struct {
	project string
	env     map[string]string
	// Inputs are the rewritten files and the local paths they name, for
	// the work volume.
	Inputs []install.Input
	Index  []indexOption
	Locals []string // project-relative local projects and archives
	// formats says a file has a --no-binary or --only-binary line, which
	// can let sdists in whatever the command line said.
	formats bool
	seen    map[string]bool
}

// splitPipOption splits "--opt=value" and "-rvalue" forms.
func splitPipOption(tok string) (name, value string, hasValue bool) {
	if strings.HasPrefix(tok, "--") {
		if i := strings.IndexByte(tok, '='); i > 0 {
			return tok[:i], tok[i+1:], true
		}
		return tok, "", false
	}
	if len(tok) > 2 && tok[0] == '-' {
		return tok[:2], tok[2:], true
	}
	return tok, "", false
}

// projectPath turns a path given relative to dir into a slash path relative
// to the project, refusing anything outside it.
func (r *reqFiles) projectPath(dir, p string) (string, error) {
	p = strings.TrimPrefix(p, "file://")
	p = strings.TrimPrefix(p, "file:")
	abs := p
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(dir, p)
	}
	rel, err := filepath.Rel(r.project, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return "", fmt.Errorf("%w: %q is outside the project %s; only files inside the project are copied into the sandbox", install.ErrPolicy, p, r.project)
	}
	return filepath.ToSlash(rel), nil
}

// read parses one requirements file (project-relative) and queues it, with
// its index options removed, as an input.
func (r *reqFiles) read(rel string) error {
	if r.seen[rel] {
		return nil
	}
	r.seen[rel] = true
	data, err := install.ReadProjectFile(r.project, rel)
	if err != nil {
		return fmt.Errorf("%w: reading requirements file: %w", install.ErrPolicy, err)
	}
	dir := filepath.Join(r.project, filepath.FromSlash(path.Dir(rel)))
	var out bytes.Buffer
	lines := logicalLines(data)
	for _, l := range lines {
		where := fmt.Sprintf("%s:%d", rel, l.number)
		keep, err := r.line(dir, where, l.text)
		if err != nil {
			return err
		}
		if keep {
			out.WriteString(l.text + "\n")
		} else {
			fmt.Fprintf(&out, "# (line %d: an index option, given to pip by safe-install instead)\n", l.number)
		}
	}
	r.Inputs = append(r.Inputs, install.Input{Name: rel, Data: out.Bytes(), Mode: 0o644})
	return nil
}

type logicalLine struct {
	number int
	text   string
}

// logicalLines joins backslash continuations and drops comments and blank
// lines, as pip does.
func logicalLines(data []byte) []logicalLine {
	var out []logicalLine
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n, start, cur := 0, 0, ""
	for sc.Scan() {
		n++
		l := sc.Text()
		if cur == "" {
			start = n
		}
		if strings.HasSuffix(l, "\\") {
			cur += strings.TrimSuffix(l, "\\") + " "
			continue
		}
		cur += l
		if i := strings.Index(cur, "#"); i == 0 || i > 0 && (cur[i-1] == ' ' || cur[i-1] == '\t') {
			cur = cur[:i]
		}
		if t := strings.TrimSpace(cur); t != "" {
			out = append(out, logicalLine{start, t})
		}
		cur = ""
	}
	return out
}

// line handles one logical line and says whether it stays in the copy.
// pip reads every option of a line, not its first alone ("--pre
// --no-binary :all:" sets both, and a format option after a requirement
// takes effect too), so each option is held to the rules wherever it
// stands: an index, file or editable option only on a line of its own,
// the flags of pipLineFlags in any number, after a requirement only its
// own options (pipRequirementOptions); any other token is refused.
func (r *reqFiles) line(dir, where, text string) (bool, error) {
	toks := strings.Fields(text)
	name, value, hasValue := splitPipOption(toks[0])
	if !strings.HasPrefix(name, "-") {
		args := slices.IndexFunc(toks, func(t string) bool { return strings.HasPrefix(t, "-") })
		if args < 0 {
			args = len(toks)
		}
		if err := r.options(where, toks[args:], pipRequirementOptions); err != nil {
			return false, err
		}
		return true, r.requirement(dir, where, toks[0], strings.Join(toks[:args], " "))
	}
	if name == "-e" || name == "--editable" {
		return false, fmt.Errorf("%w: %s: editable installs (-e) run the project's build backend on the host; install it with `safe-install pip install .` instead", install.ErrPolicy, where)
	}
	_, index := pipIndexOptions[name]
	if _, file := pipFileOptions[name]; index || file {
		want := 2
		if hasValue || name == "--no-index" {
			want = 1
		}
		if len(toks) != want {
			return false, fmt.Errorf("%w: %s: give %s on a line of its own, with its value alone (pip reads the other options of the line too)", install.ErrPolicy, where, name)
		}
	}
	if canon, ok := pipIndexOptions[name]; ok {
		if canon != "--no-index" && !hasValue {
			if len(toks) < 2 {
				return false, fmt.Errorf("%w: %s: %s needs a value", install.ErrPolicy, where, name)
			}
			value = toks[1]
		}
		r.Index = append(r.Index, indexOption{Option: canon, Value: r.expand(value), Where: where})
		return false, nil
	}
	if kind, ok := pipFileOptions[name]; ok {
		if !hasValue {
			if len(toks) < 2 {
				return false, fmt.Errorf("%w: %s: %s needs a file", install.ErrPolicy, where, name)
			}
			value = toks[1]
		}
		if isURL(value) {
			return false, fmt.Errorf("%w: %s: %s %s is a URL; safe-install reads requirements files from the project only", install.ErrPolicy, where, kind, value)
		}
		rel, err := r.projectPath(dir, value)
		if err != nil {
			return false, err
		}
		return true, r.read(rel)
	}
	return true, r.options(where, toks, pipLineFlags)
}

// pipRequirementOptions may follow a requirement on its line: they say
// how to check or build that requirement, not which formats pip takes.
var pipRequirementOptions = []string{"--hash", "--config-settings", "--global-option"}

// pipValueOptions are the options of requirements-file lines that take a
// value (as the next token, or after =).
var pipValueOptions = []string{"--only-binary", "--no-binary", "--hash", "--use-feature", "--config-settings", "--global-option"}

// options checks each token of an option list: every one an option of
// allowed, with its value where it takes one; a format option is noted
// (formats), as it can let sdists in.
func (r *reqFiles) options(where string, toks, allowed []string) error {
	for i := 0; i < len(toks); i++ {
		name, _, hasValue := splitPipOption(toks[i])
		switch {
		case !strings.HasPrefix(name, "-"):
			return fmt.Errorf("%w: %s: %q is not a pip option here; give one requirement or options on a line", install.ErrPolicy, where, toks[i])
		case !slices.Contains(allowed, name):
			return fmt.Errorf("%w: %s: pip option %s is not supported there in a requirements file by safe-install (pip reads every option of a line)", install.ErrPolicy, where, name)
		case slices.Contains(pipValueOptions, name) && !hasValue:
			if i++; i == len(toks) {
				return fmt.Errorf("%w: %s: %s needs a value", install.ErrPolicy, where, name)
			}
		}
		r.formats = r.formats || name == "--no-binary" || name == "--only-binary"
	}
	return nil
}

// requirement checks one requirement: a name with a version specifier
// passes; a local path is copied in; a URL is refused, since it reaches a
// host that is no index.
func (r *reqFiles) requirement(dir, where, first, text string) error {
	spec := text // without the requirement's own options
	if _, url, ok := strings.Cut(spec, "@"); ok && strings.Contains(url, "://") {
		return fmt.Errorf("%w: %s: %q is a direct URL requirement; it reaches a host that is not an index. Serve it from an index or vendor it into the project", install.ErrPolicy, where, strings.TrimSpace(spec))
	}
	if isURL(first) && !strings.HasPrefix(first, "file:") {
		return fmt.Errorf("%w: %s: %q is a URL requirement; it reaches a host that is not an index. Serve it from an index or vendor it into the project", install.ErrPolicy, where, first)
	}
	if looksLikePath(first) {
		rel, err := r.projectPath(dir, first)
		if err != nil {
			return err
		}
		r.Locals = append(r.Locals, rel)
	}
	return nil
}

func (r *reqFiles) expand(s string) string {
	return pipEnvVar.ReplaceAllStringFunc(s, func(m string) string {
		return r.env[pipEnvVar.FindStringSubmatch(m)[1]]
	})
}

func isURL(s string) bool {
	i := strings.Index(s, "://")
	return i > 0 && !strings.ContainsAny(s[:i], "/ ") || strings.HasPrefix(s, "file:")
}

// looksLikePath is pip's rule: a requirement with a path separator or
// starting with a dot is a local path, as is an archive file name.
func looksLikePath(s string) bool {
	return strings.HasPrefix(s, ".") || strings.HasPrefix(s, "/") || strings.Contains(s, "/") ||
		strings.HasPrefix(s, "file:") ||
		strings.HasSuffix(s, ".whl") || strings.HasSuffix(s, ".tar.gz") || strings.HasSuffix(s, ".zip")
}
