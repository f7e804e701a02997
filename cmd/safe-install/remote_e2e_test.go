//go:build e2e

package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/engine/remotetest"
)

// remoteEnv is the remote engine .ci/remote-engine.sh provisions (run as
// root by `make test-e2e`): an sshd on 127.0.0.1 and a second user's
// rootless Podman service behind it. SAFE_INSTALL_TEST_REMOTE names
// another (CI's Podman 5 leg: `make test-podman5`).
func remoteEnv(t *testing.T) map[string]string { return remotetest.Env(t) }

// Issue 8: the same install through another user's Podman over ssh. An
// unknown or wrong host key is refused before any request, with the
// fingerprint; with the right one, a native addon builds remotely, loads
// here, no canary leaks, and the client has no Podman storage at all.
func TestE2ERemoteEngineOverSSH(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"issue 8", "remote engine: unknown/changed host key; canaries", "known_hosts enforced; same sandbox"})
	remote := remoteEnv(t)
	w := newWorld(t)
	// Nothing local to fall back on: no runtime dir with a Podman socket.
	runtimeDir := t.TempDir()
	for i, kv := range w.env {
		if strings.HasPrefix(kv, "XDG_RUNTIME_DIR=") {
			w.env[i] = "XDG_RUNTIME_DIR=" + runtimeDir
		}
	}
	w.project("hello-addon", "steal-canaries")
	knownHosts := filepath.Join(w.home, ".ssh", "known_hosts")
	args := func(extra ...string) []string {
		return append([]string{"--connection", remote["SI_REMOTE_URL"], "--identity", remote["SI_REMOTE_KEY"]}, extra...)
	}

	r := w.failsUnchanged(args("npm", "install"), exitUnavailable, "is not in "+knownHosts, "SHA256:", "ssh-keyscan")
	if _, err := os.Stat(knownHosts); err == nil {
		t.Error("an unknown host key was written to known_hosts")
	}
	_ = r

	pub, _, err := ed25519.GenerateKey(rand.Reader)
	must(t, err)
	wrong, err := ssh.NewPublicKey(pub)
	must(t, err)
	host := strings.Fields(remote["SI_REMOTE_HOSTKEY"])[0]
	must(t, os.WriteFile(knownHosts, []byte(host+" "+string(ssh.MarshalAuthorizedKey(wrong))), 0o600))
	w.failsUnchanged(args("npm", "install"), exitUnavailable, "does NOT match")

	must(t, os.WriteFile(knownHosts, []byte(remote["SI_REMOTE_HOSTKEY"]+"\n"), 0o600))
	// doctor checks the remote like a local engine, and names what is broken.
	if r := w.run(args("doctor")...); r.code != 0 || !strings.Contains(r.stdout, "ok   engine           Podman") {
		t.Errorf("doctor --connection: exit %d\n%s", r.code, r.stdout)
	}
	broken := strings.Replace(remote["SI_REMOTE_URL"], "podman.sock", "no-such.sock", 1)
	if r := w.run("--connection", broken, "--identity", remote["SI_REMOTE_KEY"], "doctor"); r.code != exitUnavailable ||
		!strings.Contains(r.stdout, "FAIL engine") {
		t.Errorf("doctor on a wrong socket: exit %d, want %d naming the engine\n%s", r.code, exitUnavailable, r.stdout)
	}
	r = w.run(args("npm", "--json", "install")...)
	if r.code != 0 {
		t.Fatalf("npm install through the remote engine: exit %d", r.code)
	}
	if got := w.nodeOnHost(`console.log(require("hello-addon").hello())`); got != "hello from a sandboxed build" {
		t.Errorf("addon built remotely said %q here", got)
	}
	var rep sandbox.Report
	must(t, json.Unmarshal([]byte(r.stdout), &rep))
	u, err := url.Parse(remote["SI_REMOTE_URL"])
	must(t, err)
	if !strings.HasPrefix(rep.Engine.Host, "ssh://"+u.User.Username()+"@127.0.0.1:") || !rep.Engine.Rootless {
		t.Errorf("report's engine %+v, want the ssh connection", rep.Engine)
	}
	if n, data := w.listener.received(); n != 0 || len(data) != 0 {
		t.Errorf("the listener got %d connections", n)
	}
	w.assertTreeClean(filepath.Join(w.proj, "node_modules"))
	if _, err := os.Stat(filepath.Join(w.home, ".local", "share", "containers")); err == nil {
		t.Error("the client made Podman storage under its HOME")
	}
	// Nothing of Podman's (no private service, no podman/ state): only
	// safe-install's own lock directory (sandbox/internal/hostlock).
	entries, _ := os.ReadDir(runtimeDir)
	for _, e := range entries {
		if e.Name() != "safe-install" {
			t.Errorf("the client wrote %s to its runtime dir", e.Name())
		}
	}
	// The remote engine kept nothing of the run. When it is the tests' own
	// engine (CI's Podman 5 leg), other tests' runs are on it now, and
	// TestMain's leftover check covers it.
	if "unix://"+u.Path == testEngine {
		return
	}
	ps := exec.Command("podman", "--remote", "--url", remote["SI_REMOTE_URL"], "--identity", remote["SI_REMOTE_KEY"],
		"ps", "-a", "--filter", "label=io.safe-install.run", "--format", "{{.Names}}")
	ps.Env = w.env
	out, err := ps.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		t.Errorf("containers left on the remote engine (err %v): %s", err, out)
	}
}

// Invariants 1 and 10 on an engine safe-install cannot read the
// configuration of: the remote user's containers.conf adds a host
// directory holding a canary and a host device to every container (the
// positive control: Podman's own client, through the same service, shows
// the canary in a container). The install is refused with exit 15, naming
// the container, what it found and the next step; the canary is read by
// no container of the run, the project is unchanged, and the remote
// engine keeps nothing of the run.
func TestE2ERemoteEngineConfigRefused(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"F-remote-conf", "remote engine's containers.conf adds volumes and devices", "checked in every container before its command"})
	canary := fmt.Sprintf("remote-conf-canary-%d", time.Now().UnixNano())
	uri, identity, home := remotetest.BadService(t, canary)
	w := newWorld(t)
	w.project("hello-addon")
	hostKey, err := os.ReadFile(filepath.Join(home, ".ssh", "known_hosts"))
	must(t, err)
	must(t, os.WriteFile(filepath.Join(w.home, ".ssh", "known_hosts"), hostKey, 0o600))
	remote := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("podman", append([]string{"--remote", "--url", uri, "--identity", identity}, args...)...)
		cmd.Env = w.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("podman %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	image := strings.Fields(remote("images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", "reference=localhost/safe-install-npm"))
	if len(image) == 0 {
		t.Fatal("no sandbox image on the remote engine")
	}
	if out := remote("run", "--rm", "--user", "1000:1000", "--network", "none", image[0], "cat", "/x/secret"); !strings.Contains(out, canary) {
		t.Fatalf("positive control: the remote engine's volume does not reach a plain container: %s", out)
	}
	r := w.failsUnchanged([]string{"--connection", uri, "--identity", identity, "npm", "install"}, exitUnavailable,
		"container has what safe-install did not ask for", "mount /x (", "/dev/fuse", "containers.conf", "restart its Podman service")
	if strings.Contains(r.stdout+r.stderr, canary) {
		t.Errorf("the canary reached the run's output:\n%s\n%s", r.stdout, r.stderr)
	}
	// The run's own: the service shares its user's storage with the other
	// remote tests' service.
	run := regexp.MustCompile(`(safe-install-[0-9a-f]{12})-fetch container`).FindStringSubmatch(r.stderr)
	if run == nil {
		t.Fatalf("the refusal names no fetch container:\n%s", r.stderr)
	}
	if left := remote("ps", "-a", "--filter", "name="+run[1], "--format", "{{.Names}}"); strings.TrimSpace(left) != "" {
		t.Errorf("containers left on the remote engine: %s", left)
	}
}
