package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
)

// Corpus ATK-9: an nsenter first on PATH (a package's console script in
// an activated virtual environment) is not the one the copy-in runs.
// Control: PATH's lookup finds the planted one.
func TestSystemNsenterIgnoresPath(t *testing.T) {
	dir := t.TempDir()
	planted := filepath.Join(dir, "nsenter")
	if err := os.WriteFile(planted, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	if got, err := exec.LookPath("nsenter"); err != nil || got != planted {
		t.Fatalf("control: PATH's nsenter is %q (%v), not the planted %s", got, err, planted)
	}
	got, err := systemNsenter()
	if got == planted {
		t.Fatalf("the copy-in would run the nsenter first on PATH: %s", got)
	}
	if err != nil {
		t.Logf("no system nsenter here: %v", err)
	} else if !slices.Contains(nsenterDirs, filepath.Dir(got)) {
		t.Errorf("nsenter from %s", got)
	}
}
