package pnpm

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/safe-install/safe-install/sandbox/install"
)

// workspace is what safe-install reads of pnpm-workspace.yaml: where
// pnpm 10 and later keep their settings.
type workspace struct {
	Packages []string `yaml:"packages"`
	// AllowBuilds maps a package (name or name@version) to true (its
	// builds run) or false (they never do).
	AllowBuilds               map[string]any `yaml:"allowBuilds"`
	OnlyBuiltDependencies     []string       `yaml:"onlyBuiltDependencies"`
	NeverBuiltDependencies    []string       `yaml:"neverBuiltDependencies"`
	IgnoredBuiltDependencies  []string       `yaml:"ignoredBuiltDependencies"`
	DangerouslyAllowAllBuilds bool           `yaml:"dangerouslyAllowAllBuilds"`
	NodeLinker                string         `yaml:"nodeLinker"`
	// Pnpmfile is one path or, from pnpm 10.13 on, a list of them;
	// GlobalPnpmfile one more; ConfigDependencies are packages installed
	// before anything else, whose pnpmfile.cjs pnpm loads by itself when
	// the name is pnpm-plugin-* or @*/pnpm-plugin-* (see codeSettings).
	Pnpmfile                 stringList     `yaml:"pnpmfile"`
	GlobalPnpmfile           string         `yaml:"globalPnpmfile"`
	ConfigDependencies       map[string]any `yaml:"configDependencies"`
	PatchedDependencies      map[string]any `yaml:"patchedDependencies"`
	VirtualStoreDir          string         `yaml:"virtualStoreDir"`
	ModulesDir               string         `yaml:"modulesDir"`
	EnableGlobalVirtualStore bool           `yaml:"enableGlobalVirtualStore"`
}

// maxWorkspaceFile bounds pnpm-workspace.yaml: the project's, but a pull
// request can change it.
const maxWorkspaceFile = 1 << 20

func readWorkspace(project string) (workspace, error) {
	var ws workspace
	f := filepath.Join(project, "pnpm-workspace.yaml")
	data, err := install.ReadProjectFile(project, "pnpm-workspace.yaml")
	if errors.Is(err, fs.ErrNotExist) {
		return ws, nil
	}
	if err != nil {
		return ws, err
	}
	if len(data) > maxWorkspaceFile {
		return ws, fmt.Errorf("%w: %s is larger than %d bytes", install.ErrLimit, f, maxWorkspaceFile)
	}
	if err := yaml.Unmarshal(data, &ws); err != nil {
		return ws, fmt.Errorf("parsing %s: %w", f, err)
	}
	return ws, nil
}

// stringList is a YAML string or list of strings.
type stringList []string

func (l *stringList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = stringList{n.Value}
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*l = list
	return nil
}

// codeSettings names the settings through which pnpm loads code while it
// resolves, in the fetch, with the registries in reach: a pnpmfile the
// setting names (on the host or not: a config dependency brings one into
// the sandbox), and every config dependency (pnpm loads a plugin's
// pnpmfile unasked). None is allowed without --allow-pnpmfile.
func (ws workspace) codeSettings() []string {
	var out []string
	if len(ws.Pnpmfile) > 0 {
		out = append(out, "pnpmfile ("+strings.Join(ws.Pnpmfile, ", ")+")")
	}
	if ws.GlobalPnpmfile != "" {
		out = append(out, "globalPnpmfile ("+ws.GlobalPnpmfile+")")
	}
	if len(ws.ConfigDependencies) > 0 {
		out = append(out, "configDependencies ("+strings.Join(slices.Sorted(maps.Keys(ws.ConfigDependencies)), ", ")+")")
	}
	return out
}

// check refuses the settings whose layout the copy-back rule does not
// know, or that need files safe-install does not copy in yet.
func (ws workspace) check() error {
	switch {
	case ws.NodeLinker != "" && ws.NodeLinker != "isolated":
		return fmt.Errorf("%w: pnpm-workspace.yaml sets nodeLinker: %s; safe-install checks pnpm's isolated layout only: remove the setting (or use `safe-install npm`)", install.ErrPolicy, ws.NodeLinker)
	case ws.VirtualStoreDir != "" || ws.ModulesDir != "" || ws.EnableGlobalVirtualStore:
		return fmt.Errorf("%w: pnpm-workspace.yaml moves node_modules or its virtual store (virtualStoreDir, modulesDir, enableGlobalVirtualStore); safe-install brings back node_modules/.pnpm only: remove the setting", install.ErrPolicy)
	case len(ws.PatchedDependencies) > 0:
		return fmt.Errorf("%w: pnpm-workspace.yaml has patchedDependencies, whose patch files safe-install does not copy in yet; apply them on the host", install.ErrPolicy)
	}
	return nil
}

// plainDir is what a workspace package's directory may be called here: the
// fetch script names the directories unquoted.
var plainDir = regexp.MustCompile(`^[A-Za-z0-9._@+-]+(/[A-Za-z0-9._@+-]+)*$`)

// dirs finds the workspace packages pnpm-workspace.yaml's packages globs
// name (a "!" glob excludes; "**" is refused: safe-install globs one level
// per element, as filepath.Glob does): each a directory of the project
// with a package.json, other than the project itself, slash-separated and
// sorted.
func (ws workspace) dirs(project string) ([]string, error) {
	var found, excluded []string
	for _, pat := range ws.Packages {
		neg := strings.HasPrefix(pat, "!")
		clean := path.Clean(strings.TrimPrefix(strings.TrimPrefix(pat, "!"), "./"))
		switch {
		case strings.Contains(clean, "**"):
			return nil, fmt.Errorf("%w: pnpm-workspace.yaml's packages glob %q has **, which safe-install does not expand; list the directories' parents (like packages/*)", install.ErrPolicy, pat)
		case !fs.ValidPath(clean):
			return nil, fmt.Errorf("%w: pnpm-workspace.yaml's packages glob %q is outside the project", install.ErrPolicy, pat)
		case neg:
			excluded = append(excluded, clean)
			continue
		}
		matches, err := filepath.Glob(filepath.Join(project, filepath.FromSlash(clean), "package.json"))
		if err != nil {
			return nil, fmt.Errorf("pnpm-workspace.yaml's packages glob %q: %w", pat, err)
		}
		for _, m := range matches {
			rel, _ := filepath.Rel(project, filepath.Dir(m))
			if fi, err := os.Lstat(m); err != nil || !fi.Mode().IsRegular() {
				continue
			}
			found = append(found, filepath.ToSlash(rel))
		}
	}
	var out []string
	for _, d := range found {
		if d == "." || slices.ContainsFunc(excluded, func(p string) bool { ok, _ := path.Match(p, d); return ok }) {
			continue
		}
		if !plainDir.MatchString(d) || slices.Contains(strings.Split(d, "/"), "node_modules") {
			return nil, fmt.Errorf("%w: workspace package %q: safe-install takes workspace directories named with letters, digits and ._@+- only, outside node_modules; rename it", install.ErrPolicy, d)
		}
		// Its node_modules is swapped in at <dir>/node_modules: through a
		// link, that would be outside the project.
		for p := d; p != "."; p = path.Dir(p) {
			if fi, err := os.Lstat(filepath.Join(project, filepath.FromSlash(p))); err != nil || !fi.IsDir() {
				return nil, fmt.Errorf("%w: workspace package %q: %s is a link or no directory, and its node_modules would land outside the project; make it a directory", install.ErrPolicy, d, p)
			}
		}
		out = append(out, d)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
