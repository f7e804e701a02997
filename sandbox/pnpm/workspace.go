package pnpm

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
	Pnpmfile                  string         `yaml:"pnpmfile"`
	PatchedDependencies       map[string]any `yaml:"patchedDependencies"`
	VirtualStoreDir           string         `yaml:"virtualStoreDir"`
	ModulesDir                string         `yaml:"modulesDir"`
	EnableGlobalVirtualStore  bool           `yaml:"enableGlobalVirtualStore"`
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
