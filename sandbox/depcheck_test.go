package sandbox_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/safe-install/safe-install"

// goList runs go list in the module's root with a template per package.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	cmd := exec.Command("go", append([]string{"list"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

func isPodman(pkg string) bool {
	return strings.HasPrefix(pkg, "github.com/containers/") || strings.HasPrefix(pkg, "go.podman.io/")
}

// The seams hold (issue 18): a package manager knows the plan and session
// types (sandbox/install) and nothing of the pipeline, the engine or
// Podman; the pipeline knows no package manager; only sandbox/engine talks
// to Podman.
func TestDependenciesFollowTheSeams(t *testing.T) {
	t.Parallel()
	managers := []string{module + "/sandbox/install", module + "/sandbox/npm", module + "/sandbox/npm/incremental", module + "/sandbox/npm/layout", module + "/sandbox/pip", module + "/sandbox/pip/wheel", module + "/sandbox/pnpm"}
	for _, m := range managers {
		for _, dep := range goList(t, "-deps", m) {
			if dep == module+"/sandbox" || dep == module+"/sandbox/engine" || isPodman(dep) {
				t.Errorf("%s depends on %s", m, dep)
			}
		}
	}
	for _, dep := range goList(t, "-deps", module+"/sandbox") {
		if slices.Contains(managers[1:], dep) {
			t.Errorf("the pipeline depends on the package manager %s", dep)
		}
	}
	for _, line := range goList(t, "-f", "{{.ImportPath}} {{join .Imports \" \"}}", "./...") {
		pkg, imports, _ := strings.Cut(line, " ")
		if pkg == module+"/sandbox/engine" {
			continue
		}
		for _, imp := range strings.Fields(imports) {
			if isPodman(imp) {
				t.Errorf("%s imports %s: only sandbox/engine talks to Podman", pkg, imp)
			}
		}
	}
}
