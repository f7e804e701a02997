package pip

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/pip/wheel"
)

// hostBin is a directory of the host's PATH with a binary git, a binary
// cmake, and black as another environment's console script.
func hostBin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range map[string]string{
		"git":   "\x7fELF binary",
		"cmake": "\x7fELF binary",
		"black": "#!/usr/bin/python3\nfrom black import patched_main\n",
		"long":  "#!/bin/sh\n'''exec' \"/very/long/venv/bin/python3\" \"$0\" \"$@\"\n' '''\n",
		"notes": "plain text, not executable",
		"shim":  "#!/usr/bin/env bash\nset -e\n[ -n \"$PYENV_DEBUG\" ] && set -x\n\nprogram=\"${0##*/}\"\n\nexport PYENV_ROOT=\"/home/u/.pyenv\"\nexec \"/home/u/.pyenv/libexec/pyenv\" exec \"$program\" \"$@\"\n",
	} {
		mode := os.FileMode(0o755)
		if name == "notes" {
			mode = 0o644
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// ATK-8: a command named like a common tool (git, ssh, sudo, node...) is
// refused with exit 10, naming the member and --allow-command, whether it
// comes from an entry point or a script file, in any case; with
// --allow-command it passes. Well-known commands of real packages are not
// refused.
func TestPipVetRefusesCommonToolCommands(t *testing.T) {
	for _, tc := range []struct {
		name    string
		m       member
		command string
		allow   []string
	}{
		{"an entry point git", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\ngit = demo:main\n"}, "git", nil},
		{"a gui entry point ssh", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[gui_scripts]\nssh = demo:main\n"}, "ssh", nil},
		{"a script sudo", member{Name: "demo-1.0.data/scripts/sudo", Body: "#!/bin/sh\n", Mode: 0o755}, "sudo", nil},
		{"node through .data/data/bin", member{Name: "demo-1.0.data/data/bin/node", Body: "#!/bin/sh\n", Mode: 0o755}, "node", nil},
		{"another case: Git", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\nGit = demo:main\n"}, "Git", nil},
		{"curl, allowed", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\ncurl = demo:main\n"}, "", []string{"CURL"}},
		{"black, pytest, flask, ruff, cmake", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\nblack = d:m\npytest = d:m\npy.test = d:m\nflask = d:m\ndjango-admin = d:m\nruff = d:m\ncmake = d:m\nninja = d:m\nipython = d:m\njupyter = d:m\npip-compile = d:m\naws = d:m\nhttp = d:m\n"}, "", nil},
		{"git-filter-repo", member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\ngit-filter-repo = d:m\nnodeenv = d:m\n"}, "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pi := &pipInstall{python: HostPython{Env: venvLayout(t)}, allowCommand: tc.allow, hostPath: hostBin(t)}
			_, _, err := pi.vet(demoWheel(t, tc.m))
			if tc.command == "" {
				if err != nil {
					t.Fatalf("got %v, want it accepted", err)
				}
				return
			}
			var ae *install.ArtifactError
			if !errors.As(err, &ae) {
				t.Fatalf("got %v, want an ArtifactError", err)
			}
			if ae.Package != "demo==1.0" || ae.Path != tc.m.Name {
				t.Errorf("refused %s %q, want demo==1.0 %q", ae.Package, ae.Path, tc.m.Name)
			}
			for _, want := range []string{`the command "` + tc.command + `"`, "--allow-command " + tc.command} {
				if !strings.Contains(ae.Reason, want) {
					t.Errorf("reason %q, want it to mention %q", ae.Reason, want)
				}
			}
		})
	}
}

// The refusal names the host's command it would shadow, when PATH has one
// outside the environment.
func TestPipVetNamesTheShadowedCommand(t *testing.T) {
	bin := hostBin(t)
	pi := &pipInstall{python: HostPython{Env: venvLayout(t)}, hostPath: "relative/bin:" + bin}
	_, _, err := pi.vet(demoWheel(t, member{Name: "demo-1.0.dist-info/entry_points.txt", Body: "[console_scripts]\ngit = demo:main\n"}))
	if err == nil || !strings.Contains(err.Error(), "in place of the host's "+filepath.Join(bin, "git")) {
		t.Fatalf("got %v", err)
	}
}

// What is a warning: an allowed common name, a command that shadows a
// host binary (cmake over the system's). What is not: a command that
// shadows another Python environment's (black, a long-shebang script, a
// pyenv shim, one in a virtual environment), one the host does not have, one in the
// environment's own scripts directory, a file that is not executable.
func TestPipShadowWarnings(t *testing.T) {
	env := venvLayout(t)
	bin := hostBin(t)
	venv := t.TempDir()
	if err := os.MkdirAll(filepath.Join(venv, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	for p, body := range map[string]string{"pyvenv.cfg": "home = /usr/bin\n", "bin/ruff": "\x7fELF"} {
		if err := os.WriteFile(filepath.Join(venv, p), []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	links := t.TempDir()
	if err := os.Symlink(filepath.Join(venv, "bin", "ruff"), filepath.Join(links, "ruff")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(env.Scripts, "mine"), []byte("\x7fELF"), 0o755); err != nil {
		t.Fatal(err)
	}
	pi := &pipInstall{python: HostPython{Env: env}, allowCommand: []string{"node"},
		hostPath: strings.Join([]string{env.Scripts, links, bin}, string(os.PathListSeparator))}
	w := &wheel.Wheel{Name: "demo", Version: "1.0", Scripts: []string{"black", "cmake", "long", "mine", "newtool", "node", "notes", "ruff", "shim"}}
	got := strings.Join(pi.shadows(w), "\n")
	for _, want := range []string{
		"demo==1.0 installs the command cmake, which an activated environment runs in place of the host's " + filepath.Join(bin, "cmake"),
		"demo==1.0 installs the command node, which an activated environment runs in place of the host's node (allowed: --allow-command node)",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("warnings:\n%s\nwant %q", got, want)
		}
	}
	if n := strings.Count(got, "\n") + 1; n != 2 {
		t.Errorf("%d warnings, want 2:\n%s", n, got)
	}
}
