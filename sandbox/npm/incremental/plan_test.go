package incremental_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
	"github.com/safe-install/safe-install/sandbox/npm/incremental"
)

// A file: directory dependency is a link npm records with its target's
// location (libs/x, outside node_modules), which no incremental copy-back
// carries: adding one to a trusted tree crashed the run in roots (a slice
// out of range on the location, seen with real npm), so the project takes
// the full path and is told why (the refusal of such a location after the
// fetch: TestIncrementalLinkedDependency).
func TestIncrementalPlanLinkedDependency(t *testing.T) {
	t.Parallel()
	plan := func(deps string) *install.Plan {
		dir := incremental.InstalledTree(t)
		incremental.Write(t, filepath.Join(dir, "package.json"), `{"name":"proj","version":"1.0.0","dependencies":{"a":"1.0.0","@s/b":"2.0.0"`+deps+`}}`)
		incremental.Write(t, filepath.Join(dir, "libs/locallib/package.json"), `{"name":"locallib","version":"1.0.0"}`)
		p, err := npm.Manager{}.Plan(dir, []string{"install"}, install.PlanOptions{Home: t.TempDir(), Env: map[string]string{}, Warn: func(string) {},
			AllowRegistries: []string{"https://r/"}})
		incremental.Must(t, err)
		return p
	}
	if p := plan(""); p.Tree != "incremental" {
		t.Fatalf("the trusted tree is not installed into incrementally (the control): %q", p.Tree)
	}
	if p := plan(`,"locallib":"file:libs/locallib"`); !strings.Contains(p.Tree, "libs/locallib") || !strings.Contains(p.Tree, "rebuilding node_modules whole") {
		t.Errorf("with a file: directory dependency the tree is %q", p.Tree)
	}
}
