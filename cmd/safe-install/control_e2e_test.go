//go:build e2e

package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// listenerPy runs inside the throwaway network namespace: it keeps what
// every connection to 127.0.0.1:PORT sends, appended to OUT.
const listenerPy = `import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
s.settimeout(0.5)
out = open(sys.argv[2], "ab")
while True:
    try:
        c, _ = s.accept()
    except socket.timeout:
        continue
    c.settimeout(3)
    try:
        while True:
            b = c.recv(65536)
            if not b:
                break
            out.write(b)
            out.flush()
    except OSError:
        pass
    c.close()
`

// plainInNetns runs command (a shell line) in dir with the world's
// environment, without safe-install, inside a new user and network
// namespace whose only interface is lo, with a listener on the world's
// port inside it. Packets go nowhere else: other addresses are unreachable
// there. It returns what the listener received.
func (w *world) plainInNetns(dir, command string, extraEnv ...string) []byte {
	w.t.Helper()
	tmp := w.t.TempDir()
	py, out := filepath.Join(tmp, "listener.py"), filepath.Join(tmp, "received")
	must(w.t, os.WriteFile(py, []byte(listenerPy), 0o644))
	must(w.t, os.WriteFile(out, nil, 0o644))
	script := fmt.Sprintf(`ip link set lo up && python3 %s %d %s & L=$!; sleep 0.5; cd %s && (%s); status=$?; sleep 1; kill $L; exit $status`,
		py, w.listener.port, out, dir, command)
	cmd := exec.Command("unshare", "-rn", "sh", "-c", script)
	cmd.Env = append(append([]string{}, w.env...), extraEnv...)
	if hostNPMMajor() >= 12 {
		// The plain install is the attack's control: npm 12 would hold
		// back every script the project does not allow.
		cmd.Env = append(cmd.Env, "npm_config_dangerously_allow_all_scripts=true")
	}
	res, err := cmd.CombinedOutput()
	w.t.Logf("plain, in a throwaway netns: %s\n%s", command, lastLinesOf(string(res), 15))
	if err != nil {
		w.t.Fatalf("plain install in the netns failed: %v", err)
	}
	data, err := os.ReadFile(out)
	must(w.t, err)
	return data
}

func lastLinesOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// hasCanary is assertNoCanary's mirror, for the positive controls.
func (w *world) hasCanary(data []byte) bool { return len(w.canariesIn(data)) > 0 }

// The positive controls of the corpus (testdata/corpus/README.md): its
// stealers, installed the plain way (in a throwaway network namespace), do
// steal and persist. Without this, a stealer that silently broke would pass
// every safe-install test above.
func TestE2EPositiveControls(t *testing.T) {
	t.Parallel()
	t.Run("npm stealer", func(t *testing.T) {
		t.Parallel()
		corpus(t, corpusCase{"control RT-01/02/03", "plain npm install of steal-canaries", "none (armed: the listener gets canaries)"})
		w := newWorld(t)
		w.project("steal-canaries")
		got := w.plainInNetns(w.proj, "npm install --offline --no-audit --no-fund --foreground-scripts")
		if !w.hasCanary(got) {
			t.Errorf("plain npm: the stealer sent %d bytes and no canary: the payload is not armed", len(got))
		}
	})
	t.Run("worm demo", func(t *testing.T) {
		t.Parallel()
		corpus(t, corpusCase{"control worm-demo", "plain npm install of examples/worm-demo", "none (armed: steals and persists)"})
		w := newWorld(t)
		w.copyExample("worm-demo")
		must(t, os.WriteFile(filepath.Join(w.proj, "worm", "target.json"), []byte(fmt.Sprintf(`{"port": %d}`, w.listener.port)), 0o644))
		got := w.plainInNetns(w.proj, "npm install --offline --no-audit --no-fund")
		if !w.hasCanary(got) {
			t.Errorf("plain npm: the worm sent %d bytes and no canary", len(got))
		}
		if rc, _ := os.ReadFile(filepath.Join(w.home, ".bashrc")); !strings.Contains(string(rc), "worm-demo was here") {
			t.Error("plain npm: the worm did not persist in ~/.bashrc")
		}
		for _, p := range []string{filepath.Join(w.home, ".config/systemd/user/gh-token-monitor.service"), filepath.Join(w.proj, ".github/workflows/worm-demo.yml")} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("plain npm: the worm did not write %s", p)
			}
		}
	})
	t.Run("pip stealer", func(t *testing.T) {
		t.Parallel()
		corpus(t, corpusCase{"control RT-05", "plain pip install of pip-stealer", "none (armed: the listener gets canaries)"})
		w := newPipWorld(t)
		got := w.plainInNetns(w.proj, fmt.Sprintf("%s -m pip install --no-index --find-links %s pip-stealer==1.0", w.python, w.index.dir), "PIP_CONFIG_FILE=/dev/null")
		if !w.hasCanary(got) {
			t.Errorf("plain pip: the stealer sent %d bytes and no canary", len(got))
		}
	})
}
