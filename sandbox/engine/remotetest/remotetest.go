// Package remotetest reaches the remote engine .ci/remote-engine.sh
// provisions (an sshd on 127.0.0.1 and another user's rootless Podman
// behind it), for end-to-end tests.
package remotetest

import (
	"bufio"
	"bytes"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Env is what .ci/remote-engine.sh wrote, SI_REMOTE_URL, SI_REMOTE_KEY and
// SI_REMOTE_HOSTKEY, from /etc/safe-install-test/remote.env or the file
// SAFE_INSTALL_TEST_REMOTE names (CI's Podman 5 leg). Not provisioned, the
// test is skipped, or fails in CI.
func Env(t testing.TB) map[string]string {
	t.Helper()
	file := os.Getenv("SAFE_INSTALL_TEST_REMOTE")
	if file == "" {
		file = "/etc/safe-install-test/remote.env"
	}
	b, err := os.ReadFile(file)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the remote engine is not provisioned in CI: %v (sudo bash .ci/remote-engine.sh $USER)", err)
		}
		t.Skipf("no remote engine provisioned (fails in CI): %v; run sudo bash .ci/remote-engine.sh $USER", err)
	}
	env := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			env[k] = v
		}
	}
	return env
}

// BadService starts, as the remote engine's user and through the test's
// ssh login, a second Podman service of that user whose containers.conf
// adds a host directory holding a canary file (volumes) and a host device
// (devices) to every container: what a user's own service could be
// configured with, on a machine whose files safe-install cannot read. It
// returns the service's ssh URL, the identity and a HOME whose known_hosts
// has the host's key.
func BadService(t testing.TB, canary string) (uri, identity, home string) {
	t.Helper()
	env := Env(t)
	u, err := url.Parse(env["SI_REMOTE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	home = t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(filepath.Join(home, ".ssh"), 0o700))
	knownHosts := filepath.Join(home, ".ssh", "known_hosts")
	must(os.WriteFile(knownHosts, []byte(env["SI_REMOTE_HOSTKEY"]+"\n"), 0o600))
	ssh := func(script string) string {
		t.Helper()
		cmd := exec.Command("ssh", "-i", env["SI_REMOTE_KEY"], "-p", u.Port(), "-o", "UserKnownHostsFile="+knownHosts,
			"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", u.User.Username()+"@"+u.Hostname(), script)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ssh %s: %v\n%s", script, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	// The user's own containers.conf (the runtime this machine needs),
	// then the entries under test. CONTAINERS_CONF stands alone: the
	// user's own service and its other tests are untouched.
	dir := ssh(`set -e; d=$(mktemp -d /tmp/safe-install-mountcheck.XXXXXX); mkdir "$d/canary"
printf '%s\n' '` + canary + `' >"$d/canary/secret"
{ cat "$HOME/.config/containers/containers.conf" 2>/dev/null || true
  printf '\n[containers]\nvolumes = ["%s/canary:/x:ro"]\ndevices = ["/dev/fuse"]\n' "$d"; } >"$d/containers.conf"
export XDG_RUNTIME_DIR=/run/user/$(id -u) CONTAINERS_CONF="$d/containers.conf"
nohup podman system service --time=120 "unix://$d/podman.sock" >"$d/service.log" 2>&1 </dev/null &
echo $! >"$d/pid"
for i in $(seq 100); do [ -S "$d/podman.sock" ] && break; sleep 0.1; done
[ -S "$d/podman.sock" ] || { cat "$d/service.log"; exit 1; }
echo "$d"`)
	t.Cleanup(func() { ssh(`kill $(cat '` + dir + `/pid') 2>/dev/null; sleep 0.5; rm -rf '` + dir + `'`) })
	u.Path = dir + "/podman.sock"
	return u.String(), env["SI_REMOTE_KEY"], home
}
