//go:build e2e

package main

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/install"
)

// A native addon compiled by node-gyp in the sandbox loads in the host's
// node, and a postinstall's file in its own directory comes back; then
// npm ci from the lockfile gives the same.
func TestE2ENativeAddonAndPostinstall(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B1/B2", "benign: node-gyp addon, postinstall in own dir", "works"})
	w := newWorld(t)
	w.project("hello-addon", "writes-own-file")
	if r := w.run("npm", "install"); r.code != 0 {
		t.Fatalf("npm install: exit %d", r.code)
	}
	if got := w.nodeOnHost(`console.log(require("hello-addon").hello())`); got != "hello from a sandboxed build" {
		t.Errorf("addon on the host said %q", got)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("postinstall's file = %q", got)
	}
	if !strings.Contains(w.read("package-lock.json"), `"node_modules/hello-addon"`) {
		t.Error("npm install wrote no lockfile entry for hello-addon")
	}

	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	r := w.succeeds("npm", "--json", "ci")
	var rep sandbox.Report
	must(t, json.Unmarshal([]byte(r.stdout), &rep))
	if rep.Schema != sandbox.ReportSchema || !rep.OK || len(rep.Seccomp) != 2 || !rep.Engine.Rootless || len(rep.Egress.Allowlist) == 0 {
		t.Errorf("report: %+v", rep)
	}
	// The timings name each step once, in run order.
	var steps []string
	for _, st := range rep.Timings {
		steps = append(steps, st.Step)
	}
	if want := []string{"engine", "prepare", "copy-in", "fetch", "baseline", "scripts", "copy-back", "checks", "swap", "clean-up"}; !slices.Equal(steps, want) {
		t.Errorf("timings' steps %v, want %v", steps, want)
	}
	var ran []string
	for _, ph := range rep.Phases {
		for _, s := range ph.Scripts {
			ran = append(ran, ph.Name+":"+s.Package+":"+s.Event)
			if s.Package == "hello-addon@1.0.0" && s.DurationMS <= 0 {
				t.Errorf("no duration for the addon's build: %+v", s)
			}
		}
	}
	if !strings.Contains(r.stderr, "ran: hello-addon@1.0.0 install ") {
		t.Errorf("the scripts and their durations are not listed:\n%s", r.stderr)
	}
	if !slices.Contains(ran, "scripts:hello-addon@1.0.0:install") || !slices.Contains(ran, "scripts:writes-own-file@1.0.0:postinstall") {
		t.Errorf("report's scripts: %v", ran)
	}
	if got := w.nodeOnHost(`console.log(require("hello-addon").hello())`); got != "hello from a sandboxed build" {
		t.Errorf("addon after npm ci said %q", got)
	}
	if _, err := os.Stat(filepath.Join(w.home, ".local/share/containers")); err == nil {
		t.Error("the run made Podman storage under the user's HOME; it must use the existing service")
	}
}

// RT-01/02/03/04/36: a stealer's postinstall finds no secret, reaches no
// listener, and what it stashed in its package carries no canary. What it
// finds are decoys: the run names it for reading, printing and stashing
// them, and --strict fails the run with the project unchanged.
func TestE2ECanariesDoNotLeak(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-01/02/03/04/36", "npm: token/env/sweep theft, stash", "nothing secret copied in; lo only; decoys report it"})
	w := newWorld(t)
	w.project("steal-canaries")
	w.failsUnchanged([]string{"npm", "--strict", "install"}, exitTheft, "theft attempt", "steal-canaries@1.0.0")
	before := w.snapshot("proj/node_modules", "proj/package-lock.json")
	r := w.run("npm", "--json", "install")
	if r.code != 0 {
		t.Fatalf("npm install: exit %d (the stealer swallows its errors; the install must succeed)", r.code)
	}
	var rep sandbox.Report
	must(t, json.Unmarshal([]byte(r.stdout), &rep))
	theft := map[string]bool{}
	for _, a := range rep.TheftAttempts {
		theft[a.Decoy+" "+a.How+" by "+strings.Join(a.Packages, ",")] = true
	}
	for _, want := range []string{
		"~/.npmrc read by steal-canaries@1.0.0",
		"~/.aws/credentials read by steal-canaries@1.0.0",
		"~/.npmrc stashed in node_modules/steal-canaries/loot.txt by steal-canaries@1.0.0",
		"GITHUB_TOKEN stashed in node_modules/steal-canaries/loot.txt by steal-canaries@1.0.0",
	} {
		if !theft[want] {
			t.Errorf("report lacks theft attempt %q; has %v", want, rep.TheftAttempts)
		}
	}
	if !strings.Contains(r.stderr, "WARN theft attempt: steal-canaries@1.0.0: decoy ~/.npmrc read") {
		t.Error("no theft warning on stderr")
	}
	// The payload ran: its report is there.
	var probe struct {
		Env        []string
		Files      map[string]string
		Sweep      []string
		Sends      []struct{ Host, Result string }
		Interfaces []string
		Sockets    map[string]string
		Pids       int
	}
	must(t, json.Unmarshal([]byte(w.read("node_modules/steal-canaries/probe.json")), &probe))
	if len(probe.Sends) != 2 {
		t.Errorf("the stealer reported %d send attempts, want 2 (is the payload armed?)", len(probe.Sends))
	}
	for _, s := range probe.Sends {
		if strings.HasPrefix(s.Result, "HTTP") {
			t.Errorf("send to %s succeeded: %s", s.Host, s.Result)
		}
	}
	w.assertListenerSilent()
	for p, res := range probe.Sockets {
		if res != "ENOENT" {
			t.Errorf("engine socket %s inside the sandbox: %s", p, res)
		}
	}
	if len(probe.Sockets) < 4 {
		t.Errorf("the stealer probed %d sockets (is the payload armed?)", len(probe.Sockets))
	}
	// Its own pid namespace: npm, sh, node and little else; the host runs
	// hundreds.
	if probe.Pids == 0 || probe.Pids > 20 {
		t.Errorf("scripts saw %d processes; want only the container's own", probe.Pids)
	}
	if len(probe.Interfaces) != 1 || probe.Interfaces[0] != "lo" {
		t.Errorf("scripts saw interfaces %v, want only lo", probe.Interfaces)
	}
	// GITHUB_TOKEN and NPM_TOKEN hold decoys.
	allowed := map[string]bool{"GITHUB_TOKEN": true, "NPM_TOKEN": true, "PATH": true, "HOME": true, "LANG": true, "TERM": true, "CI": true, "NODE_EXTRA_CA_CERTS": true, "INIT_CWD": true, "PWD": true, "NODE": true, "COLOR": true, "EDITOR": true, "SHLVL": true, "OLDPWD": true, "_": true, "HOSTNAME": true, "container": true, "NODE_GYP_FORCE_PYTHON": true, "PYTHONDONTWRITEBYTECODE": true, "NODE_OPTIONS": true, "SAFE_INSTALL_NETLOG": true}
	for _, k := range probe.Env {
		if !allowed[k] && !strings.HasPrefix(k, "npm_") {
			t.Errorf("scripts saw env var %s, outside the fixed set", k)
		}
	}
	for p, res := range probe.Files {
		// The home's .ssh and .aws hold decoys; anything else is a leak.
		decoy := strings.HasPrefix(p, "/home/sandbox/")
		if strings.HasPrefix(res, "read") && !decoy && (strings.Contains(p, ".ssh") || strings.Contains(p, ".aws") || strings.HasSuffix(p, ".env") || p == "/run/safe-install/npmrc") {
			t.Errorf("the stealer could read %s (%s)", p, res)
		}
	}
	w.assertTreeClean(filepath.Join(w.proj, "node_modules"))
	w.assertSame(before, w.snapshot("proj/node_modules", "proj/package-lock.json"))
}

// RT-10: a symlink out of node_modules is refused, the run fails naming the
// package and the path, and the host is as it was.
func TestE2ESymlinkEscapeRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-10", "npm: symlink out of node_modules", "copy-back validation (exit 10)"})
	w := newWorld(t)
	w.project("plant-symlink")
	r := w.failsUnchanged([]string{"npm", "--json", "install"}, exitArtifact, "plant-symlink@1.0.0", "node_modules/plant-symlink/", "copy-back")
	// The report of a failed run: not ok, and its timings end with the
	// step that failed (the copy-back, which never finished) and clean-up.
	var rep sandbox.Report
	must(t, json.Unmarshal([]byte(r.stdout), &rep))
	var steps []string
	for _, st := range rep.Timings {
		steps = append(steps, st.Step)
	}
	if rep.OK || len(steps) < 3 || !slices.Equal(steps[len(steps)-2:], []string{"until the error", "clean-up"}) || slices.Contains(steps, "copy-back") {
		t.Errorf("failed run's report: ok %v, timings' steps %v", rep.OK, steps)
	}
}

// RT-18: a postinstall that rewrites the project's package.json, lockfile
// and .npmrc changes nothing on the host: the manifests come from before
// any script ran, and nothing else of the project comes back.
func TestE2EManifestRewriteIgnored(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-18", "npm: manifest, lockfile, .npmrc rewrite", "manifests from the pre-script state"})
	w := newWorld(t)
	w.project("rewrite-manifest")
	if r := w.run("npm", "install"); r.code != 0 {
		t.Fatalf("npm install: exit %d", r.code)
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		if strings.Contains(w.read(f), "curl") {
			t.Errorf("the host's %s carries the script's rewrite", f)
		}
	}
	if !strings.Contains(w.read("package.json"), "rewrite-manifest") {
		t.Error("package.json lost its dependency")
	}
	if _, err := os.Stat(filepath.Join(w.proj, ".npmrc")); err == nil {
		t.Error("the script's .npmrc reached the host project")
	}
}

// A failing install script fails the run with its package, exit code and
// output named, and leaves an earlier node_modules byte for byte.
func TestE2EFailingScriptLeavesProjectUnchanged(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"invariant 8", "failing install script", "project unchanged (exit 11)"})
	w := newWorld(t)
	w.project("writes-own-file")
	if r := w.run("npm", "install"); r.code != 0 {
		t.Fatalf("first install: exit %d", r.code)
	}
	w.project("writes-own-file", "fail-postinstall")
	w.failsUnchanged([]string{"npm", "install"}, exitScript, "fail-postinstall@2.1.0", "exit code 3", "cannot find the frobnicator")
}

// npm install <pkg> from the real npm registry updates package.json and the
// lockfile, as plain npm would. esbuild's postinstall (it checks its
// platform binary by running it) works offline under the seccomp profile.
func TestE2ERegistryInstall(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B3", "benign: registry packages with bins", "works"})
	w := newWorld(t)
	// No token for the public registry: the canary one would be sent there.
	must(t, os.Remove(filepath.Join(w.home, ".npmrc")))
	w.project()
	r := w.run("npm", "install", "left-pad@1.3.0", "esbuild@0.24.2")
	if r.code != 0 {
		t.Fatalf("npm install left-pad esbuild: exit %d", r.code)
	}
	if !strings.Contains(r.stderr, "1 install script ran offline") {
		t.Error("esbuild's postinstall did not run")
	}
	if got := w.nodeOnHost(`console.log(JSON.stringify(require("esbuild").transformSync("let x: number = 1", {loader: "ts"}).code))`); got != `"let x = 1;\n"` {
		t.Errorf("esbuild on the host = %s", got)
	}
	if !strings.Contains(w.read("package.json"), `"left-pad": "^1.3.0"`) {
		t.Errorf("package.json = %s", w.read("package.json"))
	}
	if !strings.Contains(w.read("package-lock.json"), `"node_modules/left-pad"`) {
		t.Error("the lockfile has no left-pad")
	}
	if got := w.nodeOnHost(`console.log(JSON.stringify(require("left-pad")("x", 3)))`); got != `"  x"` {
		t.Errorf("left-pad on the host = %q", got)
	}
}

// doctor on a machine set up by `make setup` finds nothing fatal.
func TestE2EDoctor(t *testing.T) {
	requireE2E(t)
	out, err := exec.Command(binary, "doctor").CombinedOutput()
	if err != nil {
		t.Fatalf("doctor: %v\n%s", err, out)
	}
	for _, want := range []string{"ok   engine", "rootless true", "ok   image"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("doctor does not say %q:\n%s", want, out)
		}
	}
}

// Issue 6: the project's own script policy (npm's allowScripts) decides
// which dependencies' scripts run; the rest are reported as not reviewed
// and do not run at all.
func TestE2EScriptPolicy(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-63", "script inventory and policy", "allowScripts/onlyBuiltDependencies honoured"})
	w := newWorld(t)
	w.npmDefaultScripts()
	w.project("writes-own-file", "fail-postinstall")
	if r := w.run("npm", "install", "--ignore-scripts"); r.code != 0 {
		t.Fatalf("npm install --ignore-scripts: exit %d", r.code)
	}
	var m map[string]any
	must(t, json.Unmarshal([]byte(w.read("package.json")), &m))
	m["allowScripts"] = map[string]bool{"writes-own-file": true}
	data, _ := json.MarshalIndent(m, "", "  ")
	must(t, os.WriteFile(filepath.Join(w.proj, "package.json"), data, 0o644))

	r := w.run("npm", "--json", "ci")
	if r.code != 0 {
		t.Fatalf("npm ci with a policy: exit %d (fail-postinstall must not have run)", r.code)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("the allowed script's file = %q", got)
	}
	if !strings.Contains(r.stderr, "not reviewed") || !strings.Contains(r.stderr, "fail-postinstall@2.1.0") {
		t.Error("fail-postinstall is not reported as not reviewed")
	}
	var rep sandbox.Report
	must(t, json.Unmarshal([]byte(r.stdout), &rep))
	if !rep.Policy.Active || !slices.Equal(rep.Policy.NotReviewed, []string{"fail-postinstall@2.1.0"}) {
		t.Errorf("report policy %+v", rep.Policy)
	}

	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	if r := w.run("npm", "--deny-scripts", "writes-own-file", "ci"); r.code != 0 {
		t.Fatalf("npm ci --deny-scripts: exit %d", r.code)
	}
	if _, err := os.Stat(filepath.Join(w.proj, "node_modules/writes-own-file/generated.txt")); err == nil {
		t.Error("a denied script ran")
	}
}

// RT-17: a postinstall that injects code into another package (one with no
// install script) fails the run naming that package's file; the host
// project is as it was.
func TestE2ECrossPackageTamperingRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-17", "npm: tampering with other packages", "copy-back tamper check (exit 10)"})
	w := newWorld(t)
	w.project("victim", "tamper")
	w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "refused artifact from victim", "node_modules/victim/", "another package's script")
}

// RT-16: a shim planted in node_modules/.bin (the host runs it on the next
// `npm run`) is refused; the host project is as it was.
func TestE2EBinShimRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-16", "npm: .bin shim hijack", "copy-back .bin check (exit 10)"})
	w := newWorld(t)
	w.project("bin-hijack", "writes-own-file")
	w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "node_modules/.bin/eslint", "not a symlink")
}

// RT-70: a postinstall that wipes the home and a neighbouring package. The
// home it wipes is the container's; the neighbour's missing files are
// refused, so the project keeps its tree.
func TestE2EWipeRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-70", "npm: rm -rf ~ and the neighbours (dead-man's switch)", "container home; copy-back deletion check (exit 10)"})
	w := newWorld(t)
	w.project("victim", "home-wipe")
	w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "refused artifact from victim", "node_modules/victim/", "deleted during the scripts phase")
}

// RT-31/32/34: datagrams to the host's loopback (IPv4 and IPv6, DNS-style)
// and an abstract unix socket of the host's network namespace: none
// reaches the host, since the scripts have a network namespace of their own.
func TestE2ESideChannelsDoNotReachTheHost(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-31/32/34", "npm: DNS-style UDP over v4/v6, abstract unix socket", "own network namespace (lo only)"})
	w := newWorld(t)
	udp4, err := net.ListenPacket("udp4", "127.0.0.1:0")
	must(t, err)
	defer udp4.Close()
	port := udp4.LocalAddr().(*net.UDPAddr).Port
	udp6, err := net.ListenPacket("udp6", fmt.Sprintf("[::1]:%d", port))
	must(t, err)
	defer udp6.Close()
	abstract := "si-canary-" + w.suffix
	unixLn, err := net.Listen("unix", "@"+abstract)
	must(t, err)
	defer unixLn.Close()
	var mu sync.Mutex
	var got []string
	for _, pc := range []net.PacketConn{udp4, udp6} {
		go func(pc net.PacketConn) {
			buf := make([]byte, 2048)
			for {
				n, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				mu.Lock()
				got = append(got, fmt.Sprintf("%d bytes from %v", n, from))
				mu.Unlock()
			}
		}(pc)
	}
	go func() {
		for {
			c, err := unixLn.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			got = append(got, "abstract socket connection")
			mu.Unlock()
			c.Close()
		}
	}()
	w.target = map[string]any{"udp": port, "abstract": abstract}
	// Positive control: run plainly on the host (it addresses only
	// loopback), every channel reaches the listeners.
	plain := t.TempDir()
	for _, f := range []string{"leak.js", "package.json"} {
		data, err := os.ReadFile(filepath.Join("testdata", "corpus", "npm", "side-channels", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(plain, f), data, 0o644))
	}
	must(t, os.WriteFile(filepath.Join(plain, "target.json"), w.targetJSON(), 0o644))
	if out, err := exec.Command("node", filepath.Join(plain, "leak.js")).CombinedOutput(); err != nil {
		t.Fatalf("the plain run: %v\n%s", err, out)
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	if len(got) != 3 {
		t.Errorf("plainly on the host the channels delivered %v, want 3 (is the package armed?)", got)
	}
	got = nil
	mu.Unlock()

	w.project("side-channels")
	if r := w.run("npm", "install"); r.code != 0 {
		t.Fatalf("npm install: exit %d", r.code)
	}
	var probe map[string]string
	must(t, json.Unmarshal([]byte(w.read("node_modules/side-channels/probe.json")), &probe))
	if len(probe) != 3 {
		t.Errorf("the package tried %d channels, want 3 (is it armed?): %v", len(probe), probe)
	}
	if probe["abstract"] == "connected" {
		t.Error("the abstract socket connected inside the sandbox")
	}
	time.Sleep(500 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if len(got) > 0 {
		t.Errorf("the host received: %v", got)
	}
}

// B5: a postinstall that needs the network fails clearly: exit 11, the
// package and its event named, and a hint that scripts have no network.
func TestE2EScriptNeedingNetworkFailsClearly(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B5", "benign: postinstall that downloads", "fails clearly with a network hint (exit 11)"})
	w := newWorld(t)
	w.project("needs-network")
	w.failsUnchanged([]string{"npm", "install"}, exitScript, "needs-network@1.0.0 postinstall", "ECONNREFUSED", "no network here")
}

// setManifest sets one key of the project's package.json.
func (w *world) setManifest(key string, value any) {
	w.t.Helper()
	var m map[string]any
	must(w.t, json.Unmarshal([]byte(w.read("package.json")), &m))
	m[key] = value
	data, _ := json.MarshalIndent(m, "", "  ")
	must(w.t, os.WriteFile(filepath.Join(w.proj, "package.json"), data, 0o644))
}

// rootScripts adds the project's own lifecycle scripts to its package.json.
func (w *world) rootScripts(scripts map[string]string) { w.setManifest("scripts", scripts) }

// patchScript is the project's patch-package: it applies
// patches/victim+1.0.0.patch (here simply appended) to node_modules/victim.
const patchScript = `const fs = require('fs');
const patch = fs.readFileSync('patches/victim+1.0.0.patch', 'utf8');
fs.appendFileSync('node_modules/victim/index.js', patch);
`

// B8: the project's own postinstall patches a dependency (patch-package):
// it runs in the sandbox after the dependencies' scripts, gets patches/
// but not .env, and its change to another package comes back.
func TestE2EProjectPostinstallPatchesADependency(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B8", "benign npm: patch-package in the root postinstall", "project scripts phase (changes are the project's)"})
	w := newWorld(t)
	w.project("victim", "writes-own-file")
	w.rootScripts(map[string]string{"postinstall": "node patch.js && node -e \"require('fs').writeFileSync('node_modules/.saw-env', String(require('fs').existsSync('.env')))\""})
	must(t, os.WriteFile(filepath.Join(w.proj, "patch.js"), []byte(patchScript), 0o644))
	must(t, os.MkdirAll(filepath.Join(w.proj, "patches"), 0o755))
	must(t, os.WriteFile(filepath.Join(w.proj, "patches", "victim+1.0.0.patch"), []byte("\n// patched by the project\n"), 0o644))
	r := w.succeeds("npm", "install")
	if !strings.Contains(w.read("node_modules/victim/index.js"), "// patched by the project") {
		t.Error("the project's patch did not reach node_modules/victim/index.js")
	}
	if w.read("node_modules/writes-own-file/generated.txt") == "" {
		t.Error("the dependency's own postinstall did not run")
	}
	if got := w.read("node_modules/.saw-env"); got != "false" {
		t.Errorf("the project's scripts saw .env: %q", got)
	}
	for _, want := range []string{"project's own scripts", "postinstall"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the output does not mention %q", want)
		}
	}
	w.assertTreeClean(filepath.Join(w.proj, "node_modules"))
}

// RT-17 beside a project postinstall: a dependency's injection into
// another package is still refused, although the project's own scripts
// may change other packages.
func TestE2ETamperingRefusedBesideProjectScripts(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-17 (project scripts)", "npm: tampering, with a root postinstall that may patch", "hash between the phases; tamper check (exit 10)"})
	w := newWorld(t)
	w.project("victim", "tamper")
	w.rootScripts(map[string]string{"postinstall": "node -e \"console.log('project postinstall')\""})
	w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "refused artifact from victim", "node_modules/victim/", "another package's script")
}

// B7: a root prepare that sets up git hooks (husky) runs in the sandbox,
// where there is no .git: the install works, the host's .git is untouched,
// and the user is told the hooks were not installed on the host.
func TestE2EProjectPrepareLeavesGitAlone(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B7", "benign npm: root prepare with husky (git config core.hooksPath)", "project scripts phase; .git never copied in"})
	w := newWorld(t)
	w.project("victim")
	w.rootScripts(map[string]string{"prepare": "git config core.hooksPath .husky/_ 2>/dev/null || node -e \"require('fs').existsSync('.git') ? process.exit(3) : console.log('husky - .git can\\'t be found')\""})
	for _, f := range []string{".git/config", ".git/hooks/pre-commit.sample", ".husky/pre-commit"} {
		must(t, os.MkdirAll(filepath.Join(w.proj, filepath.Dir(f)), 0o755))
		must(t, os.WriteFile(filepath.Join(w.proj, f), []byte("# "+f+"\n"), 0o644))
	}
	before := w.snapshot("proj/node_modules", "proj/package-lock.json")
	r := w.succeeds("npm", "install")
	w.assertSame(before, w.snapshot("proj/node_modules", "proj/package-lock.json"))
	for _, want := range []string{"proj@1.0.0 prepare", "run them on the host"} {
		if !strings.Contains(r.stderr+r.stdout, want) {
			t.Errorf("the output does not mention %q", want)
		}
	}
}

// RT-62: a package with no scripts whose binding.gyp runs a stealer while
// gyp reads it, in npm's implicit node-gyp rebuild. It runs where every
// install script runs (offline, nothing secret), the summary names it as
// an install, and the decoys show what it did.
func TestE2EGypCommandExpansionIsContained(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-62", "npm: binding.gyp <!(...) expansion runs a stealer (no scripts declared)", "treated as an install script: offline, nothing secret; decoys report it"})
	w := newWorld(t)
	w.project("gyp-expansion")
	r := w.succeeds("npm", "install")
	if w.read("node_modules/gyp-expansion/probe.json") == "" {
		t.Fatal("the stealer did not run (no probe.json): is the case armed?")
	}
	for _, want := range []string{"gyp-expansion@1.0.0 install (node-gyp rebuild)", "WARN theft attempt: gyp-expansion@1.0.0"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the output does not mention %q", want)
		}
	}
	w.assertListenerSilent()
	w.assertTreeClean(filepath.Join(w.proj, "node_modules"))
}

// RT-30: from the scripts container, the host listener's port on every
// loopback address is closed, no route leads anywhere (gateways, metadata,
// host aliases), and the namespace shows lo alone. The positive control
// runs the same probe plainly on the host, where it reaches the listener.
func TestE2ENoWayToTheHostNetwork(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-30", "npm: host loopback, gateway and metadata reachability", "own network namespace, lo only, no routes, --no-hosts"})
	w := newWorld(t)
	plain := t.TempDir()
	data, err := os.ReadFile(filepath.Join("testdata", "corpus", "npm", "net-probe", "probe.py"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(plain, "probe.py"), data, 0o644))
	must(t, os.WriteFile(filepath.Join(plain, "target.json"), w.targetJSON(), 0o644))
	if out, err := exec.Command("python3", filepath.Join(plain, "probe.py")).CombinedOutput(); err != nil {
		t.Fatalf("the plain run: %v\n%s", err, out)
	}
	if conns, _ := w.listener.received(); conns == 0 {
		t.Fatal("plainly on the host the probe did not reach the listener: is the case armed?")
	}
	before, _ := w.listener.received()

	w.project("net-probe")
	if r := w.run("npm", "install"); r.code != 0 {
		t.Fatalf("npm install: exit %d", r.code)
	}
	var probe struct {
		TCP, UDP, Files map[string]string
	}
	must(t, json.Unmarshal([]byte(w.read("node_modules/net-probe/probe.json")), &probe))
	if len(probe.TCP) != 3 || len(probe.UDP) < 4 {
		t.Fatalf("the probe tried too little (is it armed?): %+v", probe)
	}
	for host, res := range probe.TCP {
		if res == "connected" {
			t.Errorf("TCP to %s:%d connected inside the sandbox", host, w.listener.port)
		}
	}
	for addr, res := range probe.UDP {
		if res == "route" {
			t.Errorf("a route to %s exists inside the sandbox", addr)
		}
	}
	for _, line := range strings.Split(probe.Files["/proc/net/dev"], "\n")[2:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(line), ":"); ok && name != "lo" {
			t.Errorf("/proc/net/dev lists %q", name)
		}
	}
	if routes := strings.Split(strings.TrimSpace(probe.Files["/proc/net/route"]), "\n"); len(routes) > 1 {
		t.Errorf("/proc/net/route has entries: %q", routes[1:])
	}
	if strings.Contains(probe.Files["/etc/hosts"], "host.containers.internal") {
		t.Error("/etc/hosts names host.containers.internal")
	}
	if after, _ := w.listener.received(); after != before {
		t.Errorf("the listener got %d connections from the sandbox", after-before)
	}
}

// RT-43: writes to the runtime through /proc/self/exe, to the image's
// tools and loader config and to kernel knobs all fail; no inherited
// descriptor is a directory (a leaked host one, CVE-2024-21626); the
// host's podman, conmon, runc and node are unchanged.
func TestE2ERuntimeCannotBeOverwritten(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-43", "npm: runtime and binary overwrite (CVE-2019-5736 style), leaked fds", "read-only root, non-root user, masked /proc and /sys"})
	w := newWorld(t)
	hashes := func() map[string]string {
		out := map[string]string{}
		for _, name := range []string{"podman", "conmon", "runc", "node"} {
			for _, dir := range []string{"/usr/bin", "/usr/sbin", "/usr/libexec/podman", "/usr/local/bin"} {
				if data, err := os.ReadFile(filepath.Join(dir, name)); err == nil {
					out[filepath.Join(dir, name)] = fmt.Sprintf("%x", sha256.Sum256(data))
				}
			}
		}
		return out
	}
	before := hashes()
	if len(before) < 4 {
		t.Fatalf("found only %v of podman, conmon, runc and node", before)
	}
	w.project("runtime-overwrite")
	if r := w.run("npm", "install"); r.code != 0 {
		t.Fatalf("npm install: exit %d", r.code)
	}
	var probe struct {
		Writes map[string]string
		FDs    map[string]struct {
			Link string
			Dir  bool
		}
	}
	must(t, json.Unmarshal([]byte(w.read("node_modules/runtime-overwrite/probe.json")), &probe))
	if len(probe.Writes) < 10 {
		t.Fatalf("the package tried only %d writes (is it armed?)", len(probe.Writes))
	}
	for target, res := range probe.Writes {
		if strings.HasPrefix(res, "WROTE") || strings.HasPrefix(res, "opened") {
			t.Errorf("%s: %s", target, res)
		}
	}
	for fd, d := range probe.FDs {
		if n, _ := strconv.Atoi(fd); n > 2 && d.Dir {
			t.Errorf("inherited descriptor %s is a directory: %s", fd, d.Link)
		}
	}
	if after := hashes(); !maps.Equal(before, after) {
		t.Errorf("host binaries changed: %v, then %v", before, after)
	}
}

// B9: a monorepo's workspace and a file: directory dependency are linked
// into node_modules, pointing out of it at the project's own directories:
// those exact links come back and work on the host; nothing else may leave.
func TestE2EWorkspacesAndFileLinks(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B9", "benign npm: workspaces and file: directory links", "copy-back accepts links to the declared directories only"})
	w := newWorld(t)
	files := map[string]string{
		"package.json":                `{"name": "proj", "version": "1.0.0", "private": true, "workspaces": ["packages/*"], "dependencies": {"sibling": "file:vendor/sibling"}}`,
		"packages/a/package.json":     `{"name": "@me/a", "version": "1.0.0", "main": "index.js"}`,
		"packages/a/index.js":         `module.exports = "workspace a";`,
		"vendor/sibling/package.json": `{"name": "sibling", "version": "1.0.0", "main": "index.js"}`,
		"vendor/sibling/index.js":     `module.exports = "sibling";`,
	}
	for name, body := range files {
		must(t, os.MkdirAll(filepath.Join(w.proj, filepath.Dir(name)), 0o755))
		must(t, os.WriteFile(filepath.Join(w.proj, name), []byte(body), 0o644))
	}
	if r := w.run("npm", "install"); r.code != 0 {
		t.Fatalf("npm install: exit %d", r.code)
	}
	for link, want := range map[string]string{"node_modules/@me/a": "../../packages/a", "node_modules/sibling": "../vendor/sibling"} {
		if got, err := os.Readlink(filepath.Join(w.proj, link)); err != nil || got != want {
			t.Errorf("%s -> %q (%v), want -> %q", link, got, err, want)
		}
	}
	if got := w.nodeOnHost(`console.log(require("@me/a") + ", " + require("sibling"))`); got != "workspace a, sibling" {
		t.Errorf("on the host: %q", got)
	}
}

// B11: a postinstall that generates code into a new top-level directory of
// node_modules (Prisma's .prisma) works, and the run lists the directory.
func TestE2EGeneratedClientOutsideAnyPackage(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B11", "benign npm: postinstall writes node_modules/.prisma (Prisma-style)", "allowed with a warning naming the directory"})
	w := newWorld(t)
	w.project("generates-client")
	r := w.succeeds("npm", "install")
	if got := w.nodeOnHost(`console.log(require("./node_modules/.prisma/client").generated)`); got != "true" {
		t.Errorf("the generated client on the host: %q", got)
	}
	if !strings.Contains(r.stderr, "wrote outside any package: node_modules/.prisma (1 file") {
		t.Error("the run does not name node_modules/.prisma")
	}
}

// B6: platform binaries in optional dependencies (esbuild, swc): npm keeps
// only the one whose os and cpu match, which must be this machine's, and
// the postinstall that checks for it works offline.
func TestE2EPlatformOptionalDependencies(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B6", "benign npm: platform binaries through optionalDependencies", "fetched in the fetch phase for the host's os/cpu"})
	w := newWorld(t)
	w.project("platform-bin")
	w.setManifest("optionalDependencies", map[string]string{
		"platform-bin-linux-x64":    w.pack("platform-bin-linux-x64"),
		"platform-bin-darwin-arm64": w.pack("platform-bin-darwin-arm64"),
	})
	if r := w.run("npm", "install"); r.code != 0 {
		t.Fatalf("npm install: exit %d", r.code)
	}
	if got := strings.TrimSpace(w.read("node_modules/platform-bin/verified.txt")); got != "binary for linux x64" {
		t.Errorf("the postinstall found %q", got)
	}
	if _, err := os.Stat(filepath.Join(w.proj, "node_modules", "platform-bin-darwin-arm64")); err == nil {
		t.Error("the darwin arm64 package was installed on linux x64")
	}
}

// A project with nothing to install (no dependencies, or only an optional
// one for another platform) installs as npm does: exit 0 and no
// node_modules; an existing one is emptied, as npm ci empties it.
func TestE2ENothingToInstall(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B14", "benign npm: nothing to install (no dependencies; only fsevents)", "works as npm: no node_modules"})
	for name, deps := range map[string]map[string]string{"no dependencies": nil, "only fsevents": {"fsevents": "2.3.3"}} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			must(t, os.Remove(filepath.Join(w.home, ".npmrc"))) // fsevents comes from the public registry
			w.project()
			if deps != nil {
				w.setManifest("optionalDependencies", deps)
			}
			r := w.succeeds("npm", "install")
			if !strings.Contains(r.stderr, "nothing to install") {
				t.Errorf("the summary does not say there was nothing to install")
			}
			if _, err := os.Lstat(filepath.Join(w.proj, "node_modules")); err == nil {
				t.Error("npm install made a node_modules")
			}
			w.succeeds("npm", "ci")
			if _, err := os.Lstat(filepath.Join(w.proj, "node_modules")); err == nil {
				t.Error("npm ci made a node_modules")
			}
			must(t, os.MkdirAll(filepath.Join(w.proj, "node_modules", "stale"), 0o755))
			w.succeeds("npm", "ci")
			if ents, err := os.ReadDir(filepath.Join(w.proj, "node_modules")); err != nil || len(ents) != 0 {
				t.Errorf("npm ci over an old node_modules left %v, %v; want it empty", ents, err)
			}
		})
	}
}

// B15: a dependency that installs git hooks from its own install script
// (simple-git-hooks, from the registry) finds no .git in the sandbox; the
// host's .git is untouched, and the run names the package and the host
// command that would install the hooks.
func TestE2EDependencyGitHooksAreNamed(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B15", "benign npm: simple-git-hooks' postinstall (git hooks from a dependency)", "no .git in the sandbox; named with the host command"})
	w := newWorld(t)
	must(t, os.Remove(filepath.Join(w.home, ".npmrc"))) // from the public registry
	w.project()
	w.setManifest("simple-git-hooks", map[string]string{"pre-commit": "npx lint-staged"})
	must(t, os.MkdirAll(filepath.Join(w.proj, ".git", "hooks"), 0o755))
	must(t, os.WriteFile(filepath.Join(w.proj, ".git", "config"), []byte("[core]\n"), 0o644))
	before := w.snapshot("proj/node_modules", "proj/package-lock.json", "proj/package.json")
	r := w.succeeds("npm", "install", "simple-git-hooks@2.14.0")
	w.assertSame(before, w.snapshot("proj/node_modules", "proj/package-lock.json", "proj/package.json"))
	if !strings.Contains(r.stderr, "simple-git-hooks@2.14.0 installs git hooks") || !strings.Contains(r.stderr, "`npx simple-git-hooks`") {
		t.Error("the run does not name simple-git-hooks and the host command")
	}
}

// B16: a postinstall that tries to download (https.get and fetch), finds no
// network and exits 0: the run succeeds and names the package and the
// hosts, in the output and in the report.
func TestE2EQuietDownloadIsNamed(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"B16", "benign npm: a postinstall downloads, fails quietly, exits 0 (Prisma-style)", "named: netlog.js notes the hosts"})
	w := newWorld(t)
	w.project("quiet-download")
	r := w.succeeds("npm", "--json", "install")
	for _, want := range []string{"tried to reach the network", "quiet-download@1.0.0 tried binaries.example.test", "mirror.example.test"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the output does not mention %q", want)
		}
	}
	var rep sandbox.Report
	must(t, json.Unmarshal([]byte(r.stdout), &rep))
	if !slices.Contains(rep.NetworkAttempts, install.NetworkAttempt{Package: "quiet-download@1.0.0", Host: "binaries.example.test"}) {
		t.Errorf("report network_attempts %+v", rep.NetworkAttempts)
	}
	w.assertListenerSilent()
}
