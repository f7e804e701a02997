package pnpm

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
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
	fi, err := os.Stat(f)
	if errors.Is(err, fs.ErrNotExist) {
		return ws, nil
	}
	if err != nil {
		return ws, err
	}
	if fi.Size() > maxWorkspaceFile {
		return ws, fmt.Errorf("%w: %s is larger than %d bytes", install.ErrLimit, f, maxWorkspaceFile)
	}
	data, err := os.ReadFile(f)
	if err != nil {
		return ws, err
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
	case len(ws.Packages) > 0:
		return fmt.Errorf("%w: pnpm-workspace.yaml lists workspace packages, which safe-install does not install for pnpm yet; run pnpm on the host, or install each package on its own", install.ErrPolicy)
	case ws.NodeLinker != "" && ws.NodeLinker != "isolated":
		return fmt.Errorf("%w: pnpm-workspace.yaml sets nodeLinker: %s; safe-install checks pnpm's isolated layout only: remove the setting (or use `safe-install npm`)", install.ErrPolicy, ws.NodeLinker)
	case ws.VirtualStoreDir != "" || ws.ModulesDir != "" || ws.EnableGlobalVirtualStore:
		return fmt.Errorf("%w: pnpm-workspace.yaml moves node_modules or its virtual store (virtualStoreDir, modulesDir, enableGlobalVirtualStore); safe-install brings back node_modules/.pnpm only: remove the setting", install.ErrPolicy)
	case len(ws.PatchedDependencies) > 0:
		return fmt.Errorf("%w: pnpm-workspace.yaml has patchedDependencies, whose patch files safe-install does not copy in yet; apply them on the host", install.ErrPolicy)
	}
	return nil
}
