package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --dry-run prints the plan, which names the files of a file: dependency
// (package code): a C1 control or a bidi override in such a name reaches
// the terminal only escaped (invariant 11), as in the --json report.
func TestDryRunEscapesNames(t *testing.T) {
	dir := project(t, map[string]string{"package.json": `{"dependencies": {"v": "file:vendored"}}`})
	if err := os.MkdirAll(filepath.Join(dir, "vendored"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{
		"package.json":                  `{"name": "v", "version": "1.0.0"}`,
		"a\u009b31mred\u202etxt.exe.js": "",
	} {
		if err := os.WriteFile(filepath.Join(dir, "vendored", name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, stdout, stderr := runApp(t, dir, "npm", "--dry-run", "install")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(stdout, `\u009b31mred\u202etxt`) {
		t.Errorf("the dry run does not show the name escaped")
	}
	if strings.ContainsAny(stdout, "\u009b\u202e") {
		t.Error("the dry run prints a C1 control or a bidi override raw")
	}
}
