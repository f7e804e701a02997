package engine

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// What packages write is not on the host's PATH: node_modules/.bin of the
// project and the directories above it (npm run, npx), anything in the
// project, the active virtual environment's bin, relative entries. Other
// node_modules/.bin directories (pnpm installed with npm --prefix) stay.
func TestHostPATH(t *testing.T) {
	const venv, cwd = "/home/u/venv", "/home/u/ws/proj"
	for _, c := range []struct{ path, want string }{
		{"/usr/local/bin:/usr/bin:/bin", "/usr/local/bin:/usr/bin:/bin"},
		{"/home/u/ws/proj/node_modules/.bin:/usr/bin", "/usr/bin"},
		{"/home/u/ws/proj/node_modules/.bin/:/home/u/ws/node_modules/.bin:/home/u/node_modules/.bin:/node_modules/.bin:/usr/bin", "/usr/bin"},
		{"/home/u/ws/proj/.venv/bin:/home/u/ws/proj/bin:/usr/bin", "/usr/bin"},
		{"/home/u/venv/bin:/home/u/venv/bin/:/usr/bin", "/usr/bin"},
		{"/home/u/other-venv/bin:/usr/bin", "/home/u/other-venv/bin:/usr/bin"},
		{".:bin::node_modules/.bin:/usr/bin", "/usr/bin"},
		{"/home/u/tools/node_modules/.bin:/home/u/ws/proj-other/node_modules/.bin:/usr/bin", "/home/u/tools/node_modules/.bin:/home/u/ws/proj-other/node_modules/.bin:/usr/bin"},
	} {
		if got := hostPATH(c.path, venv, cwd); got != c.want {
			t.Errorf("PATH %q: %q, want %q", c.path, got, c.want)
		}
	}
}

// A podman planted in the project's node_modules/.bin, first on PATH as
// under npm run, is not the one started. Control: PATH's lookup finds it.
func TestLookHostSkipsPlantedBin(t *testing.T) {
	proj := t.TempDir()
	t.Chdir(proj)
	bin := filepath.Join(proj, "node_modules", ".bin")
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
