//go:build e2e

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A config dependency named pnpm-plugin-* is code: pnpm installs it first
// and loads its pnpmfile by itself, in the fetch, where the registries
// (and the egress proxy's credentials) are in reach; safe-install refuses
// a project's .pnpmfile.cjs without --allow-pnpmfile, and so must it refuse
// this one, which the host does not have. Positive control: plain pnpm
// runs the plugin's pnpmfile.
func TestE2EPnpmConfigDependencyNeedsAllowPnpmfile(t *testing.T) {
	t.Parallel()
	w := newPnpmWorld(t)
	w.pnpmProject(nil)
	cmd := exec.Command("npm", "view", "pnpm-plugin-canary@1.0.0", "dist.integrity")
	cmd.Env = w.env
	out, err := cmd.Output()
	if err != nil || !strings.HasPrefix(string(out), "sha512-") {
		t.Fatalf("npm view pnpm-plugin-canary: %q %v", out, err)
	}
	ws := filepath.Join(w.proj, "pnpm-workspace.yaml")
	data, err := os.ReadFile(ws)
	must(t, err)
	data = append(data, []byte("configDependencies:\n  pnpm-plugin-canary: \"1.0.0+"+strings.TrimSpace(string(out))+"\"\n")...)
	must(t, os.WriteFile(ws, data, 0o644))

	control := filepath.Join(w.home, "control")
	must(t, os.MkdirAll(control, 0o755))
	for _, name := range []string{"package.json", "pnpm-workspace.yaml"} {
		data, err := os.ReadFile(filepath.Join(w.proj, name))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(control, name), data, 0o644))
	}
	w.plainPnpm(control, "install", "--no-frozen-lockfile", "--ignore-scripts")
	if _, err := os.Stat(filepath.Join(control, "config-dependency-ran")); err != nil {
		t.Fatalf("positive control: plain pnpm install --ignore-scripts did not run the config dependency's pnpmfile (%v): the attack is not armed", err)
	}
	must(t, os.RemoveAll(control))

	w.failsUnchanged([]string{"pnpm", "install"}, exitPolicy, "configDependencies (pnpm-plugin-canary)", "--allow-pnpmfile")
}
