package staging

import (
	"os"
	"path/filepath"
	"testing"
)

func write(t *testing.T, p, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSwapExchangesAndKeepsTheOld(t *testing.T) {
	t.Parallel()
	proj, stage := t.TempDir(), t.TempDir()
	write(t, filepath.Join(proj, "node_modules/a/index.js"), "old")
	write(t, filepath.Join(stage, "node_modules/a/index.js"), "new")
	write(t, filepath.Join(stage, "package-lock.json"), "new lock")
	names := []string{"package-lock.json", "node_modules"}
	staged := map[string]string{"package-lock.json": filepath.Join(stage, "package-lock.json"), "node_modules": filepath.Join(stage, "node_modules")}
	if err := Swap(proj, names, staged); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(proj, "node_modules/a/index.js")); got != "new" {
		t.Errorf("project has %q", got)
	}
	if got := readFile(t, filepath.Join(proj, "package-lock.json")); got != "new lock" {
		t.Errorf("lockfile %q", got)
	}
	if got := readFile(t, filepath.Join(stage, "node_modules/a/index.js")); got != "old" {
		t.Errorf("the old tree is not at the staged path: %q", got)
	}
}

func TestSwapRollsBack(t *testing.T) {
	t.Parallel()
	proj, stage := t.TempDir(), t.TempDir()
	write(t, filepath.Join(proj, "package.json"), "old manifest")
	write(t, filepath.Join(stage, "package.json"), "new manifest")
	// The second staged item is missing: the swap fails half way.
	names := []string{"package.json", "node_modules"}
	staged := map[string]string{"package.json": filepath.Join(stage, "package.json"), "node_modules": filepath.Join(stage, "missing")}
	if err := Swap(proj, names, staged); err == nil {
		t.Fatal("Swap succeeded with a missing staged tree")
	}
	if got := readFile(t, filepath.Join(proj, "package.json")); got != "old manifest" {
		t.Errorf("package.json after rollback = %q", got)
	}
	if _, err := os.Stat(filepath.Join(proj, "node_modules")); !os.IsNotExist(err) {
		t.Errorf("node_modules appeared: %v", err)
	}
}
