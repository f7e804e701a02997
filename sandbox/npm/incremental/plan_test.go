package incremental_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/npm"
	"github.com/safe-install/safe-install/sandbox/npm/incremental"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
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

// The trust check's walk lists the tree that comes in: the same inputs as
// install.TreeInputs gives (links as links, the executable bit), so the
// plan reads node_modules once.
func TestTrustedTreeInputsAreTreeInputs(t *testing.T) {
	t.Parallel()
	dir := incremental.InstalledTree(t)
	bin := filepath.Join(dir, "node_modules/a/cli.js")
	incremental.Write(t, bin, "#!/usr/bin/env node\n")
	incremental.Must(t, os.Chmod(bin, 0o755))
	rec := filepath.Join(dir, "node_modules/.package-lock.json")
	later := time.Now().Add(time.Hour)
	incremental.Must(t, os.Chtimes(rec, later, later))
	in, why := incremental.Plan(dir, nil, false, "package-lock.json", readLock(t, dir), nil)
	if in == nil {
		t.Fatalf("the installed tree is not trusted: %s", why)
	}
	want, err := install.TreeInputs(dir, "node_modules")
	incremental.Must(t, err)
	got := in.Inputs()
	if len(want) < 5 || !slices.ContainsFunc(want, func(i install.Input) bool { return i.Link != "" }) ||
		!slices.ContainsFunc(want, func(i install.Input) bool { return i.Mode == 0o755 }) {
		t.Fatalf("the tree lacks a link or an executable to compare: %+v", want)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the trust check's inputs\n%+v\nare not TreeInputs'\n%+v", got, want)
	}
}

func readLock(t *testing.T, dir string) layout.Lockfile {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "package-lock.json"))
	incremental.Must(t, err)
	var l layout.Lockfile
	incremental.Must(t, json.Unmarshal(data, &l))
	return l
}
