package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// What packages write is not on the host's PATH: node_modules/.bin (npm
// run, npx), the active virtual environment's bin, relative entries.
func TestHostPATH(t *testing.T) {
	t.Setenv("VIRTUAL_ENV", "/home/u/venv")
	for _, c := range []struct{ path, want string }{
		{"/usr/local/bin:/usr/bin:/bin", "/usr/local/bin:/usr/bin:/bin"},
		{"/home/u/proj/node_modules/.bin:/usr/bin", "/usr/bin"},
		{"/home/u/proj/node_modules/.bin/:/home/u/node_modules/x/node_modules/.bin:/usr/bin", "/usr/bin"},
		{"/home/u/venv/bin:/home/u/venv/bin/:/usr/bin", "/usr/bin"},
		{"/home/u/other-venv/bin:/usr/bin", "/home/u/other-venv/bin:/usr/bin"},
		{".:bin::node_modules/.bin:/usr/bin", "/usr/bin"},
		{"/opt/node_modules_backup/bin:/usr/bin", "/opt/node_modules_backup/bin:/usr/bin"},
	} {
		t.Setenv("PATH", c.path)
		if got := HostPATH(); got != c.want {
			t.Errorf("PATH %q: %q, want %q", c.path, got, c.want)
		}
	}
}

// A podman planted in the project's node_modules/.bin, first on PATH as
// under npm run, is not the one started. Control: PATH's lookup finds it.
func TestLookHostSkipsPlantedBin(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "proj", "node_modules", ".bin")
	sys := t.TempDir()
	for _, d := range []string{bin, sys} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "podman"), []byte("#!/bin/sh\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	t.Setenv("VIRTUAL_ENV", "")
	t.Setenv("PATH", bin+string(os.PathListSeparator)+sys)
	if got, err := exec.LookPath("podman"); err != nil || got != filepath.Join(bin, "podman") {
		t.Fatalf("control: PATH's podman is %q (%v), not the planted one", got, err)
	}
	if got, err := LookHost("podman"); err != nil || got != filepath.Join(sys, "podman") {
		t.Errorf("LookHost: %q (%v), want %s", got, err, filepath.Join(sys, "podman"))
	}
	if _, err := LookHost("no-such-command-here"); err == nil {
		t.Errorf("LookHost found a command that is nowhere")
	}
}
