//go:build e2e

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// pnpmTestVersion is the pnpm the tests run, on the host and (from the
// host's pnpm --version) in the sandbox.
const pnpmTestVersion = "12.23.0"

var (
	hostPNPMOnce sync.Once
	hostPNPMDir  string
	hostPNPMErr  error
)

// hostPNPM is the directory of a pnpm 12 binary: the host's on PATH when
// it is that version, else pnpm installed once into the user's cache with
// the host's npm.
func hostPNPM(t testing.TB) string {
	t.Helper()
	hostPNPMOnce.Do(func() {
		if bin, err := exec.LookPath("pnpm"); err == nil {
			if out, err := exec.Command(bin, "--version").Output(); err == nil && strings.TrimSpace(string(out)) == pnpmTestVersion {
				hostPNPMDir = filepath.Dir(bin)
				return
			}
		}
		cache, _ := os.UserCacheDir()
		prefix := filepath.Join(cache, "safe-install-test", "pnpm-"+pnpmTestVersion)
		bin := filepath.Join(prefix, "node_modules", ".bin", "pnpm")
		if _, err := os.Stat(bin); err != nil {
			// Not -g: a global install with its own prefix would not read the
			// machine's global npmrc (its CA, its registry).
			install := exec.Command("npm", "install", "--prefix", prefix, "--no-audit", "--no-fund", "--no-save", "pnpm@"+pnpmTestVersion)
			// node trusts its own CA list only; a machine whose way to the
			// registry re-signs TLS has its CA in the system's bundle.
			install.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt")
			out, err := install.CombinedOutput()
			if err != nil {
				hostPNPMErr = fmt.Errorf("installing pnpm %s: %v\n%s", pnpmTestVersion, err, out)
				return
			}
		}
		out, err := exec.Command(bin, "--version").Output()
		if err != nil || strings.TrimSpace(string(out)) != pnpmTestVersion {
			hostPNPMErr = fmt.Errorf("%s --version: %q %v", bin, out, err)
			return
		}
		hostPNPMDir = filepath.Dir(bin)
	})
	if hostPNPMErr != nil {
		t.Fatalf("pnpm on the host: %v", hostPNPMErr)
	}
	return hostPNPMDir
}

var (
	pnpmFixturesOnce sync.Once
	pnpmFixturesErr  error
)

// publishPnpmFixtures publishes, once, the packages the pnpm tests install
// from Verdaccio (startVerdaccio published writes-own-file).
func publishPnpmFixtures(t *testing.T, v *verdaccio) {
	pnpmFixturesOnce.Do(func() {
		dir := t.TempDir()
		host := strings.TrimPrefix(v.url, "http:")
		for _, src := range []string{
			filepath.Join("testdata", "corpus", "npm", "victim"),
			filepath.Join("testdata", "corpus", "npm", "fail-postinstall"),
			filepath.Join("testdata", "corpus", "npm", "rewrite-manifest"),
			filepath.Join("testdata", "corpus", "pnpm", "pnpm-tamper"),
			filepath.Join("testdata", "corpus", "pnpm", "pnpm-plant-symlink"),
			filepath.Join("testdata", "corpus", "pnpm", "pnpm-plant-ws-symlink"),
			filepath.Join("testdata", "corpus", "pnpm", "pnpm-bin-hijack"),
			filepath.Join("testdata", "corpus", "pnpm", "pnpm-plugin-canary"),
			filepath.Join("..", "..", "examples", "native-addon", "hello-addon"),
		} {
			tgz := filepath.Join(dir, filepath.Base(src)+".tgz")
			writeTarGz(t, tgz, "package", src, nil)
			out, err := exec.Command("npm", "publish", tgz, "--registry", v.url, "--"+host+":_authToken="+v.token).CombinedOutput()
			if err != nil {
				pnpmFixturesErr = fmt.Errorf("publishing %s: %v\n%s", src, err, out)
				return
			}
		}
	})
	if pnpmFixturesErr != nil {
		t.Fatal(pnpmFixturesErr)
	}
}

// newPnpmWorld is a world whose registry is the loopback Verdaccio (the
// token only in the user's ~/.npmrc) and whose PATH has pnpm 12; pnpm's
// own rule decides which builds run, as for a user of pnpm.
func newPnpmWorld(t *testing.T) *world {
	t.Helper()
	v := startVerdaccio(t)
	publishPnpmFixtures(t, v)
	w := newWorld(t)
	host := strings.TrimPrefix(v.url, "http:")
	must(t, os.WriteFile(filepath.Join(w.home, ".npmrc"), []byte("registry="+v.url+"\n"+host+":_authToken="+v.token+"\n"), 0o600))
	w.canaries = append(w.canaries, v.token)
	w.pnpmOnPath()
	return w
}

// pnpmOnPath puts the host's pnpm 12 first on the world's PATH and lets
// pnpm's own rule decide which builds run, as for a user of pnpm.
func (w *world) pnpmOnPath() {
	w.t.Helper()
	w.npmDefaultScripts()
	dir := hostPNPM(w.t)
	for i, kv := range w.env {
		if p, ok := strings.CutPrefix(kv, "PATH="); ok {
			w.env[i] = "PATH=" + dir + ":" + p
		}
	}
}

// pnpmProject writes package.json with these registry dependencies,
// pnpm-workspace.yaml allowing the builds of allow (and no release-age
// wait: the fixtures were published seconds ago), and pnpm-lock.yaml from
// the host's pnpm (--lockfile-only: nothing is installed, no script runs).
func (w *world) pnpmProject(deps []string, allow ...string) {
	w.t.Helper()
	data, _ := json.MarshalIndent(map[string]any{"name": "proj", "version": "1.0.0", "private": true, "dependencies": depsMap(deps)}, "", "  ")
	must(w.t, os.WriteFile(filepath.Join(w.proj, "package.json"), data, 0o644))
	w.pnpmLock("", allow)
}

// depsMap turns name@version strings into package.json's dependencies.
func depsMap(deps []string) map[string]string {
	d := map[string]string{}
	for _, dep := range deps {
		name, version, _ := strings.Cut(dep, "@")
		d[name] = version
	}
	return d
}

// pnpmLock writes pnpm-workspace.yaml (head, then no release-age wait and
// allowBuilds for allow) and pnpm-lock.yaml from the host's pnpm.
func (w *world) pnpmLock(head string, allow []string) {
	w.t.Helper()
	ws := head + "minimumReleaseAge: 0\n"
	if len(allow) > 0 {
		ws += "allowBuilds:\n"
		for _, a := range allow {
			ws += "  " + a + ": true\n"
		}
	}
	must(w.t, os.WriteFile(filepath.Join(w.proj, "pnpm-workspace.yaml"), []byte(ws), 0o644))
	w.plainPnpm(w.proj, "install", "--lockfile-only", "--no-frozen-lockfile")
}

// plainPnpm runs the host's pnpm, with the world's environment, in dir.
func (w *world) plainPnpm(dir string, args ...string) string {
	w.t.Helper()
	cmd := exec.Command(filepath.Join(hostPNPMDir, "pnpm"), append(args, "--store-dir", filepath.Join(w.t.TempDir(), "store"))...)
	cmd.Dir = dir
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		w.t.Fatalf("plain pnpm %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// pnpmControlDir copies the project's manifests (and extra, like a
// workspace package's package.json) into another directory beside it.
func (w *world) pnpmControlDir(extra ...string) string {
	w.t.Helper()
	dir := filepath.Join(w.home, "control")
	for _, name := range append([]string{"package.json", "pnpm-lock.yaml", "pnpm-workspace.yaml"}, extra...) {
		data, err := os.ReadFile(filepath.Join(w.proj, name))
		must(w.t, err)
		must(w.t, os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755))
		must(w.t, os.WriteFile(filepath.Join(dir, name), data, 0o644))
	}
	return dir
}

// pnpmControl installs a copy of the project's manifests with plain pnpm:
// the attack's positive control.
func (w *world) pnpmControl(extra ...string) string {
	w.t.Helper()
	dir := w.pnpmControlDir(extra...)
	w.plainPnpm(dir, "install", "--frozen-lockfile")
	return dir
}

// A project with pnpm 12: the allowed builds (a postinstall writing into
// its own directory, a node-gyp addon) run in the sandbox and what they
// built works on the host; a build that is not allowed does not run (its
// postinstall would fail the install) and is named with the way to allow
// it; the layout is pnpm's.
func TestE2EPnpmAllowedBuildsRun(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B1/B2 (pnpm)", "benign: node-gyp addon, postinstall in own dir, under pnpm 12", "works"})
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"writes-own-file@1.0.0", "hello-addon@1.0.0", "victim@1.0.0", "fail-postinstall@2.1.0"}, "writes-own-file", "hello-addon")
	r := w.run("pnpm", "install", "--frozen-lockfile")
	w.expect(r, 0, "fail-postinstall@2.1.0 (postinstall: node fail.js)", "allowBuilds", "--allow-scripts fail-postinstall")
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("postinstall's file = %q", got)
	}
	if got := w.nodeOnHost(`console.log(require("hello-addon").hello())`); got != "hello from a sandboxed build" {
		t.Errorf("addon on the host said %q", got)
	}
	if target, err := os.Readlink(filepath.Join(w.proj, "node_modules", "victim")); err != nil || target != ".pnpm/victim@1.0.0/node_modules/victim" {
		t.Errorf("node_modules/victim links to %q (%v), want pnpm's virtual store", target, err)
	}
	if !strings.Contains(r.stderr, "ran: ") || !strings.Contains(r.stderr, "writes-own-file@1.0.0 postinstall") {
		t.Errorf("the run does not name the builds that ran")
	}
	if strings.Contains(w.read("node_modules/.modules.yaml"), "writes-own-file@1.0.0") {
		t.Errorf("pnpm's record still lists the build that ran as pending")
	}
	w.assertTreeClean(filepath.Join(w.proj, "node_modules"))
}

// RT-17, pnpm's twin: an allowed build writes through node_modules/victim
// (a link into the virtual store) into victim's files. Plain pnpm lets it;
// safe-install refuses the whole tree and the project is as it was.
func TestE2EPnpmCrossPackageTamperingRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-17 (pnpm)", "pnpm: tampering with other packages through the layout's links", "copy-back tamper check (exit 10)"})
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"victim@1.0.0", "pnpm-tamper@1.0.0"}, "pnpm-tamper")
	control := w.pnpmControl()
	if data, _ := os.ReadFile(filepath.Join(control, "node_modules", "victim", "index.js")); !strings.Contains(string(data), "rt17") {
		t.Fatalf("positive control: under plain pnpm the tamper did not reach victim's index.js (%q): the attack is not armed", data)
	}
	must(t, os.RemoveAll(control))
	w.failsUnchanged([]string{"pnpm", "install", "--frozen-lockfile"}, exitArtifact,
		"victim@1.0.0", "node_modules/.pnpm/victim@1.0.0/node_modules/victim/", "ran no build of its own")
}

// RT-10, pnpm's twin: an allowed build plants a link six levels up, out of
// node_modules, to ~/.bashrc. Plain pnpm leaves it there; safe-install
// refuses it.
func TestE2EPnpmSymlinkEscapeRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-10 (pnpm)", "pnpm: symlink out of node_modules", "copy-back validation (exit 10)"})
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"pnpm-plant-symlink@1.0.0"}, "pnpm-plant-symlink")
	control := w.pnpmControl()
	rc := filepath.Join(control, "node_modules", "pnpm-plant-symlink", "rc")
	if data, err := os.ReadFile(rc); err != nil || !strings.Contains(string(data), "the user's shell setup") {
		t.Fatalf("positive control: under plain pnpm the planted link does not reach ~/.bashrc (%q, %v): the attack is not armed", data, err)
	}
	must(t, os.RemoveAll(control))
	w.failsUnchanged([]string{"pnpm", "install", "--frozen-lockfile"}, exitArtifact,
		"pnpm-plant-symlink@1.0.0", "node_modules/.pnpm/pnpm-plant-symlink@1.0.0/node_modules/pnpm-plant-symlink/rc", `symlink to "../../../../../../.bashrc"`)
}

// What is not allowed does not run: with no allowBuilds, no scripts
// container starts, and the builds are named.
func TestE2EPnpmUnallowedBuildsAreNamed(t *testing.T) {
	t.Parallel()
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"pnpm-tamper@1.0.0", "victim@1.0.0"})
	r := w.run("pnpm", "install", "--frozen-lockfile")
	w.expect(r, 0, "pnpm-tamper@1.0.0 (postinstall: node inject.js)", "not run", "--allow-scripts pnpm-tamper")
	if !strings.Contains(r.stderr, "no scripts container") {
		t.Errorf("a scripts container ran with no build allowed")
	}
	if data := w.read("node_modules/victim/index.js"); strings.Contains(data, "rt17") {
		t.Errorf("the unallowed build ran: %q", data)
	}
	if slices.Contains(strings.Fields(r.stderr), "ran:") {
		t.Errorf("the run names builds that ran")
	}
}

// RT-16, pnpm's twin: an allowed build plants the project's
// node_modules/.bin/eslint from the virtual store. Plain pnpm leaves it
// for the host's next `pnpm lint`; safe-install refuses the tree.
func TestE2EPnpmBinShimRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-16 (pnpm)", "pnpm: .bin shim hijack from the virtual store", "copy-back .bin check (exit 10)"})
	w := newPnpmWorld(t)
	w.pnpmProject([]string{"pnpm-bin-hijack@1.0.0", "victim@1.0.0"}, "pnpm-bin-hijack")
	control := w.pnpmControl()
	if data, err := os.ReadFile(filepath.Join(control, "node_modules", ".bin", "eslint")); err != nil || !strings.Contains(string(data), "curl") {
		t.Fatalf("positive control: under plain pnpm the build did not plant node_modules/.bin/eslint (%q, %v): the attack is not armed", data, err)
	}
	must(t, os.RemoveAll(control))
	w.failsUnchanged([]string{"pnpm", "install", "--frozen-lockfile"}, exitArtifact, "node_modules/.bin")
}
