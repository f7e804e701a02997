//go:build e2e

package main

import (
	"bufio"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/safe-install/safe-install/sandbox"
)

// remoteEnvFile is written by .ci/remote-engine.sh (run as root by
// `make test-e2e`): an sshd on 127.0.0.1 and a second user's rootless
// Podman service behind it. SAFE_INSTALL_TEST_REMOTE names another (CI's
// Podman 5 leg: `make test-podman5`).
func remoteEnvFile() string {
	if f := os.Getenv("SAFE_INSTALL_TEST_REMOTE"); f != "" {
		return f
	}
	return "/etc/safe-install-test/remote.env"
}

func remoteEnv(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(remoteEnvFile())
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the remote engine is not provisioned in CI: %v (sudo bash .ci/remote-engine.sh $USER)", err)
		}
		t.Skipf("no remote engine provisioned (fails in CI): %v; run sudo bash .ci/remote-engine.sh $USER", err)
	}
	defer f.Close()
	env := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

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
