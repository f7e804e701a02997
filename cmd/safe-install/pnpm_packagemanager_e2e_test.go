//go:build e2e

package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pinnedPnpm is the pnpm a project pins: not the host's (pnpmTestVersion),
// so that the run's pnpm shows which one it took.
const pinnedPnpm = "12.22.0"

// pnpmTarballSHA512 is the hex sha512 of pnpm's tarball, as Corepack
// writes it in packageManager, from the npm registry's integrity.
func pnpmTarballSHA512(t *testing.T, version string) string {
	t.Helper()
	cmd := exec.Command("npm", "view", "pnpm@"+version, "dist.integrity")
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("npm view pnpm@%s dist.integrity: %v", version, err)
	}
	sum, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(strings.TrimSpace(string(out)), "sha512-"))
	if err != nil || len(sum) != 64 {
		t.Fatalf("pnpm's integrity %q: %v", out, err)
	}
	return hex.EncodeToString(sum)
}

// A project that pins pnpm in packageManager, with Corepack's sha512 of
// its tarball or without one, gets that pnpm, not the host's; a pin whose
// hash is not the tarball's is refused before pnpm runs, also when that
// pnpm is already in the cache (the first install put it there).
// pmOnFail: ignore keeps the pin out of pnpm-lock.yaml: pnpm 12 records a
// pin there with every platform package of it (16 @pnpm/exe.*), and a
// registry that lacks one (this machine's has linux-x64 and linux-arm64
// only) fails the frozen install of plain pnpm as well.
func TestE2EPnpmPackageManagerPin(t *testing.T) {
	t.Parallel()
	w := newPnpmWorld(t)
	sum := pnpmTarballSHA512(t, pinnedPnpm)
	pin := func(spec string) {
		t.Helper()
		data, _ := json.MarshalIndent(map[string]any{"name": "proj", "version": "1.0.0", "private": true,
			"packageManager": "pnpm@" + pinnedPnpm + spec, "dependencies": depsMap([]string{"victim@1.0.0"})}, "", "  ")
		must(t, os.WriteFile(filepath.Join(w.proj, "package.json"), data, 0o644))
	}
	pin("+sha512." + sum)
	w.pnpmLock("pmOnFail: ignore\n", nil)
	for _, spec := range []string{"+sha512." + sum, ""} {
		pin(spec)
		must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
		w.expect(w.run("pnpm", "install", "--frozen-lockfile"), 0, "(pnpm "+pinnedPnpm+")")
		if got := w.nodeOnHost(`console.log(require("victim/package.json").version)`); got != "1.0.0" {
			t.Errorf("packageManager pnpm@%s%s: victim on the host: %q", pinnedPnpm, spec, got)
		}
	}

	// One hex digit off: not the tarball the registry serves.
	wrong := "0" + sum[1:]
	if sum[0] == '0' {
		wrong = "1" + sum[1:]
	}
	pin("+sha512." + wrong)
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	w.failsUnchanged([]string{"pnpm", "install", "--frozen-lockfile"}, exitFailure, "does not match the sha512 in package.json's packageManager")
}
