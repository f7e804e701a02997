package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
)

// runApp runs the CLI in-process in dir with a fake HOME.
func runApp(t *testing.T, dir string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, ".npmrc"), []byte("//registry.npmjs.org/:_authToken=npm_TOKENINHOME\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{stdout: &stdout, stderr: &stderr, dir: dir, home: home, vars: map[string]string{"NPM_TOKEN": "ENVTOKEN"}}
	err := execute(context.Background(), newApp(e), append([]string{"safe-install"}, args...))
	if err != nil {
		stderr.WriteString("safe-install: ERROR " + err.Error() + "\n")
	}
	return exitCode(err), stdout.String(), stderr.String()
}

func project(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for n, b := range files {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// The app tests run one at a time: urfave/cli v2 keeps its help flag in a
// package variable that every app run writes.

func TestRefusalsNeedNoEngine(t *testing.T) {
	dir := project(t, map[string]string{"package.json": `{"dependencies": {"x": "github:evil/x"}}`})
	for _, tt := range []struct {
		args []string
		code int
		says string
	}{
		{[]string{"npm", "run", "test"}, exitUsage, "installs only"},
		{[]string{"npm", "install"}, exitPolicy, "--allow-git"},
		{[]string{"npm", "install", "--global", "x"}, exitPolicy, "--global"},
		{[]string{"npm", "--memory", "lots", "ci"}, exitUsage, "--memory"},
		{[]string{"--log-format", "xml", "version"}, exitUsage, "--log-format"},
	} {
		code, _, stderr := runApp(t, dir, tt.args...)
		if code != tt.code || !strings.Contains(stderr, tt.says) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d mentioning %q", tt.args, code, stderr, tt.code, tt.says)
		}
	}
}

// --dry-run prints every container setting and no credential.
func TestDryRun(t *testing.T) {
	dir := project(t, map[string]string{"package.json": `{}`, "package-lock.json": `{"packages": {}}`})
	code, stdout, stderr := runApp(t, dir, "npm", "--dry-run", "ci")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if strings.Contains(stdout, "TOKENINHOME") || strings.Contains(stdout, "ENVTOKEN") {
		t.Error("the dry run prints a credential")
	}
	var out struct {
		Containers []engine.ContainerSpec
	}
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("dry run is not JSON: %v\n%s", err, stdout)
	}
	if len(out.Containers) != 5 {
		t.Fatalf("%d containers, want the seccomp profiles' writer, the work volume's holder, fetch, scripts and the decoy audit", len(out.Containers))
	}
	holder, fetch, scripts := out.Containers[1], out.Containers[2], out.Containers[3]
	// The holder mounts the two volumes a local engine's inputs go into
	// (and no cache, home or tools), runs only sleep, with no network.
	var dests []string
	for _, v := range holder.Volumes {
		dests = append(dests, v.Dest)
	}
	if !slices.Equal(dests, []string{"/work", "/run/safe-install"}) || holder.Network != "none" || len(holder.Command) != 2 || holder.Command[0] != "sleep" {
		t.Errorf("the holder mounts %+v, runs %q with network %q; want the work and fetch config volumes, sleep and no network", holder.Volumes, holder.Command, holder.Network)
	}
	// Neither has a network: the fetch reaches registries only through the
	// relay on its stdin and stdout.
	if scripts.Network != "none" || fetch.Network != "none" || !fetch.Stdin || scripts.Stdin {
		t.Errorf("networks: fetch %q (stdin %v), scripts %q (stdin %v)", fetch.Network, fetch.Stdin, scripts.Network, scripts.Stdin)
	}
	for _, c := range out.Containers {
		if !c.NoNewPrivileges || !c.ReadOnlyRoot || len(c.CapDrop) != 1 || c.CapDrop[0] != "all" || c.User == "0" || strings.HasPrefix(c.User, "0:") {
			t.Errorf("%s is not hardened: %+v", c.Name, c)
		}
	}
	for _, v := range scripts.Volumes {
		if v.Dest == install.FetchConfigDir || strings.Contains(v.Name, "cache") {
			t.Errorf("the scripts container mounts %s at %s", v.Name, v.Dest)
		}
	}
}

// As root, nothing runs; as anyone else, the refusal is not about root.
func TestRootIsRefused(t *testing.T) {
	t.Parallel()
	_, _, err := engine.Connect(context.Background(), engine.Remote{Connection: "unix:///nonexistent.sock"}, nil)
	if os.Geteuid() == 0 {
		if err != sandbox.ErrRootful {
			t.Errorf("as root Connect = %v, want ErrRootful", err)
		}
	} else if err == sandbox.ErrRootful {
		t.Error("refused as root while not root")
	}
}

// doctor names a broken prerequisite and exits non-zero. As root (CI's unit
// pass) the broken one is the user itself; otherwise it must not blame root.
func TestDoctorAsRoot(t *testing.T) {
	code, stdout, stderr := runApp(t, t.TempDir(), "doctor")
	if os.Geteuid() == 0 {
		if code != exitUnavailable || !strings.Contains(stdout, "FAIL user") || !strings.Contains(stdout, "fix:") {
			t.Errorf("doctor as root: exit %d\n%s%s", code, stdout, stderr)
		}
	} else if strings.Contains(stdout, "FAIL user") {
		t.Errorf("doctor blames root for uid %d:\n%s", os.Geteuid(), stdout)
	}
}

// The global --connection reaches doctor (a command of its own with the
// same flag must not reset it), and doctor's own flag works too.
func TestConnectionFlagReachesDoctor(t *testing.T) {
	for _, args := range [][]string{
		{"--connection", "unix:///nonexistent/podman.sock", "doctor"},
		{"doctor", "--connection", "unix:///nonexistent/podman.sock"},
	} {
		code, stdout, _ := runApp(t, t.TempDir(), args...)
		if code != exitUnavailable || !strings.Contains(stdout, "connection       unix:///nonexistent/podman.sock") {
			t.Errorf("%v: exit %d\n%s", args, code, stdout)
		}
	}
}

// Every safe-install flag is accepted before the npm word as after it.
func TestFlagsBeforeTheCommand(t *testing.T) {
	t.Parallel()
	app := newApp(&env{})
	for in, want := range map[string]string{
		"-q npm ci":                            "npm -q ci",
		"--debug -q npm ci":                    "--debug npm -q ci",
		"--timeout 5m --dry-run npm install x": "npm --timeout 5m --dry-run install x",
		"--connection ssh://h --keep npm ci":   "--connection ssh://h npm --keep ci",
		"--timeout=5m pip install -r r.txt":    "pip --timeout=5m install -r r.txt",
		"npm -q ci":                            "npm -q ci",
		"--debug npm ci":                       "--debug npm ci",
		"doctor":                               "doctor",
		"-q":                                   "-q",
	} {
		got := strings.Join(hoistFlags(app, append([]string{"safe-install"}, strings.Fields(in)...))[1:], " ")
		if got != want {
			t.Errorf("%q became %q, want %q", in, got, want)
		}
	}
	code, _, stderr := runApp(t, t.TempDir(), "-q", "npm", "--dry-run", "ci")
	if strings.Contains(stderr, "flag provided but not defined") {
		t.Errorf("-q before npm refused (exit %d): %s", code, stderr)
	}
}

// npm install-test's npm test runs on the host after the install, and its
// exit code is safe-install's.
func TestHostAfterExitCodePassesThrough(t *testing.T) {
	var stdout, stderr bytes.Buffer
	e := &env{stdout: &stdout, stderr: &stderr, dir: t.TempDir(), vars: map[string]string{"PATH": os.Getenv("PATH"), "WHO": "the test"}}
	err := runHostAfter(context.Background(), e, []string{"sh", "-c", `echo "$WHO"; exit 3`}, true)
	if code := exitCode(err); code != 3 {
		t.Errorf("exit %d, want the command's 3 (%v)", code, err)
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), "the test") {
		t.Errorf("with --json the command's output goes to stderr: stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	if err := runHostAfter(context.Background(), e, []string{"true"}, false); err != nil {
		t.Errorf("a passing command: %v", err)
	}
}
