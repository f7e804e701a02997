//go:build e2e

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/engine"
)

// probeScript prints what a container sees of its environment, mounts,
// privileges, limits, devices and namespaces.
const probeScript = `echo "== env"; tr '\0' '\n' < /proc/self/environ
echo "== mounts"; cat /proc/self/mountinfo
echo "== status"; grep -E '^(Cap|NoNewPrivs|Seccomp)' /proc/self/status
echo "== limits"; cat /proc/self/limits
echo "== dev"; ls /dev
echo "== ns"; for n in cgroup ipc net pid user uts; do echo "$n $(readlink /proc/self/ns/$n)"; done
echo "== umask $(umask)"
echo "== uidmap"; cat /proc/self/uid_map
echo "== sysctl $(cat /proc/sys/net/ipv4/ping_group_range)"
echo "== end"`

// confAttack is one setting of the user's containers.conf and how a
// container shows it. HOSTDIR (a host directory holding a secret) and
// CANARY (a fresh value) are filled in.
type confAttack struct {
	name string
	conf string
	// mountsConf: the user's ~/.config/containers/mounts.conf instead.
	mountsConf string
	// seen says whether the probe's output, or for an annotation the
	// container's inspect data, shows the setting in effect.
	seen func(out string) bool
	// refused: instead of leaving the setting out, Create refuses the
	// container with ErrEngineConfig and an error containing this.
	refused string
	// found: what the refusal of an engine whose files are not read (the
	// remote one) names, as the check in the container or the inspect
	// data shows it.
	found string
	// since: the first Podman major version that has the setting.
	since int
	// gaps: the services that still let it through, known (README, What
	// it does not stop).
	gaps []string
}

func hostNS(t *testing.T, n string) string {
	l, err := os.Readlink("/proc/self/ns/" + n)
	if err != nil {
		t.Fatal(err)
	}
	return n + " " + l
}

func confAttacks(t *testing.T) []confAttack {
	sysAdmin := func(out string) bool { // CAP_SYS_ADMIN (21) in the bounding set
		_, after, _ := strings.Cut(out, "CapBnd:\t")
		bnd, err := strconv.ParseUint(strings.Fields(after + " x")[0], 16, 64)
		return err == nil && bnd&(1<<21) != 0
	}
	// The rootless default: container root is the user, the rest
	// subordinate ids; keep-id maps the container's user onto the user.
	ownMap := fmt.Sprintf("\n%10d %10d %10d\n", 0, os.Getuid(), 1)
	return []confAttack{
		{name: "volumes", conf: "[containers]\nvolumes = [\"HOSTDIR:/host:ro\"]\n", refused: "volumes", found: "mount /host (",
			seen: func(out string) bool { return strings.Contains(out, " /host ") }},
		{name: "devices", conf: "[containers]\ndevices = [\"/dev/zero:/dev/hostzero\"]\n", refused: "devices", found: "mount /dev/hostzero (",
			seen: func(out string) bool { return strings.Contains(out, "\nhostzero\n") }},
		{name: "annotations", conf: "[containers]\nannotations = [\"run.oci.keep_original_groups=1\"]\n", refused: "annotations", found: "annotation run.oci.keep_original_groups",
			seen: func(out string) bool { return strings.Contains(out, "run.oci.keep_original_groups") }},
		{name: "env", conf: "[containers]\nenv = [\"NPM_TOKEN=CANARY\"]\n",
			seen: func(out string) bool { return strings.Contains(out, "NPM_TOKEN=CANARY") }},
		// A guard: every sandbox container drops every capability, which
		// keeps these out (measured before this branch too).
		{name: "default_capabilities", conf: "[containers]\ndefault_capabilities = [\"SYS_ADMIN\", \"NET_RAW\"]\n", seen: sysAdmin},
		// Podman 5's API takes privileged from containers.conf (4.3's does
		// not): measured with 5.4.2, every capability in the bounding set,
		// no seccomp filter, the host's devices.
		{name: "privileged", conf: "[containers]\nprivileged = true\n", since: 5,
			seen: func(out string) bool { return sysAdmin(out) || strings.Contains(out, "Seccomp:\t0") }},
		{name: "cgroupns", conf: "[containers]\ncgroupns = \"host\"\n",
			seen: func(out string) bool { return strings.Contains(out, hostNS(t, "cgroup")) }},
		{name: "userns", conf: "[containers]\nuserns = \"keep-id\"\n",
			seen: func(out string) bool { return !strings.Contains(out, ownMap) }},
		{name: "umask", conf: "[containers]\numask = \"0000\"\n",
			seen: func(out string) bool { return strings.Contains(out, "== umask 0000") }},
		{name: "mounts.conf", mountsConf: "HOSTDIR:/run/hostsecrets\n", refused: "mounts.conf", found: "mount /run/hostsecrets (",
			seen: func(out string) bool { return strings.Contains(out, " /run/hostsecrets ") }},
		{name: "hooks_dir", conf: "[engine]\nhooks_dir = [\"HOSTDIR/hooks\"]\n", gaps: []string{"user", "remote"}},
	}
}

// ATK: the user's containers.conf names defaults for every container,
// and Podman fills a spec's empty fields from them server-side: a host
// directory bind-mounted (invariant 1), a host device, an annotation crun
// acts on, an NPM_TOKEN in the environment (invariant 4), the host's
// cgroup namespace, the sandbox user mapped onto the user, a umask of 0,
// an OCI hook run at each container's start, mounts.conf's host directory
// copied in, and on Podman 5 privileged. Each setting gets a plain podman
// run as control (it shows there), then a sandbox container of the
// engine's, through this run's private service (CONTAINERS_CONF), the
// user's own service on the default socket (the user's
// ~/.config/containers/containers.conf.d) and a service named as a remote
// engine is: the engine names the setting, or refuses to run, naming the
// setting and the file (corpus ATK-10).
func TestE2EAttackContainersConfReachesSandbox(t *testing.T) {
	v, err := exec.Command("podman", "version", "--format", "{{.Client.Version}}").Output()
	if err != nil {
		t.Fatalf("podman version: %v", err)
	}
	major, _ := strconv.Atoi(strings.Split(string(v), ".")[0])
	for _, a := range confAttacks(t) {
		if major < a.since {
			t.Logf("%s: not a setting of Podman %s", a.name, strings.TrimSpace(string(v)))
			continue
		}
		for _, service := range []string{"private", "user", "remote"} {
			if slices.Contains(a.gaps, service) {
				continue // a known gap: README, What it does not stop
			}
			t.Run(a.name+"/"+service, func(t *testing.T) { confAttackRun(t, a, service) })
		}
	}
}

func confAttackRun(t *testing.T, a confAttack, service string) {
	_, image, name := engineForTest(t, "cconf") // the image, made without the attack
	hostDir := t.TempDir()
	os.Chmod(hostDir, 0o755)
	canary := fmt.Sprintf("canary%06d", rand.IntN(1000000))
	os.WriteFile(filepath.Join(hostDir, "secret"), []byte(canary), 0o644)
	marker := filepath.Join(hostDir, "hook-ran")
	os.Mkdir(filepath.Join(hostDir, "hooks"), 0o755)
	hook := fmt.Sprintf(`{"version":"1.0.0","hook":{"path":"/bin/sh","args":["sh","-c","echo ran >> %s"]},`+
		`"when":{"always":true},"stages":["prestart"]}`, marker)
	os.WriteFile(filepath.Join(hostDir, "hooks", "probe.json"), []byte(hook), 0o644)
	conf := strings.NewReplacer("HOSTDIR", hostDir, "CANARY", canary).Replace(a.conf)
	if service != "user" {
		// The services this test starts inherit the environment.
		path := filepath.Join(hostDir, "containers.conf")
		if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Setenv("CONTAINERS_CONF", path)
	} else {
		userConfig(t, conf)
	}
	if a.mountsConf != "" {
		mountsConf(t, strings.ReplaceAll(a.mountsConf, "HOSTDIR", hostDir))
	}
	seen := func(out string) bool { return a.seen(strings.ReplaceAll(out, canary, "CANARY")) }
	if a.seen == nil {
		seen = func(string) bool { _, err := os.Stat(marker); os.Remove(marker); return err == nil }
	}
	// Control: a plain podman run with this configuration shows it.
	if out := plainRun(t, image, a.name == "annotations"); !seen(out) {
		t.Fatalf("control: a plain podman run does not show %s:\n%s", a.name, out)
	}
	var to engine.Remote
	switch service {
	case "user":
		userService(t)
	case "remote":
		to.Connection = startedService(t)
	}
	eng, stop, err := engine.Connect(context.Background(), to, nil)
	if err == nil {
		t.Cleanup(stop)
		var out string
		out, err = probe(t, eng, engine.ContainerSpec{Name: name, Image: image, User: "1000:1000", Network: "none",
			CapDrop: []string{"all"}, NoNewPrivileges: true, ReadOnlyRoot: true}, a.name == "annotations")
		if err == nil && seen(out) {
			t.Errorf("ATTACK WORKS: the user's %s reaches the sandbox container (%s service):\n%s", a.name, service, out)
		}
	}
	switch {
	case err != nil && a.refused != "" && errors.Is(err, engine.ErrEngineConfig) && strings.Contains(err.Error(), a.refused) &&
		(service != "remote" || strings.Contains(err.Error(), a.found)):
		t.Logf("refused: %v", err)
	case err != nil:
		t.Fatal(err)
	}
}

// userConfig makes conf a drop-in of the user's containers.conf: a copy of
// the user's configuration directory's containers files in XDG_CONFIG_HOME,
// for this process and the services it starts.
func userConfig(t *testing.T, conf string) {
	home, _ := os.UserHomeDir()
	from := filepath.Join(home, ".config", "containers")
	if x := os.Getenv("XDG_CONFIG_HOME"); x != "" {
		from = filepath.Join(x, "containers")
	}
	dir := t.TempDir()
	to := filepath.Join(dir, "containers")
	os.MkdirAll(filepath.Join(to, "containers.conf.d"), 0o755)
	for _, f := range []string{"containers.conf", "storage.conf", "registries.conf", "policy.json"} {
		if b, err := os.ReadFile(filepath.Join(from, f)); err == nil {
			os.WriteFile(filepath.Join(to, f), b, 0o644)
		}
	}
	if err := os.WriteFile(filepath.Join(to, "containers.conf.d", "50-attack.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_CONFIG_HOME", dir)
}

// plainRun is the probe in a container of the podman command line, with
// its defaults; with inspect, that container's annotations instead.
func plainRun(t *testing.T, image string, inspect bool) string {
	if !inspect {
		out, err := exec.Command("podman", "run", "--rm", "--user=1000:1000", image, "sh", "-c", probeScript).CombinedOutput()
		if err != nil {
			t.Fatalf("control: podman run: %v\n%s", err, out)
		}
		return string(out)
	}
	id, err := exec.Command("podman", "create", image, "true").Output()
	if err != nil {
		t.Fatalf("control: podman create: %v", err)
	}
	defer exec.Command("podman", "rm", "-f", strings.TrimSpace(string(id))).Run()
	out, _ := exec.Command("podman", "inspect", "--format", "{{json .Config.Annotations}}", strings.TrimSpace(string(id))).CombinedOutput()
	return string(out)
}

// mountsConf makes conf the user's mounts.conf, which Podman reads from
// HOME: a HOME of the test's, with the user's storage and configuration
// directories named.
func mountsConf(t *testing.T, conf string) {
	home, _ := os.UserHomeDir()
	for k, dir := range map[string]string{"XDG_DATA_HOME": ".local/share", "XDG_CONFIG_HOME": ".config"} {
		if os.Getenv(k) == "" {
			t.Setenv(k, filepath.Join(home, dir))
		}
	}
	fake := t.TempDir()
	os.MkdirAll(filepath.Join(fake, ".config", "containers"), 0o755)
	if err := os.WriteFile(filepath.Join(fake, ".config", "containers", "mounts.conf"), []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", fake)
}

// userService is the user's own Podman service on the default socket
// (XDG_RUNTIME_DIR/podman/podman.sock), as systemd's podman.socket
// starts it: the user's files (userConfig), no CONTAINERS_CONF. The
// socket is in a directory of the test's; the service keeps the real
// runtime directory (its state).
func userService(t *testing.T) {
	t.Helper()
	run := t.TempDir()
	sock := filepath.Join(run, "podman", "podman.sock")
	os.Mkdir(filepath.Dir(sock), 0o700)
	serve(t, sock)
	t.Setenv("XDG_RUNTIME_DIR", run)
}

// startedService is a Podman service with this test's environment, as an
// engine named by CONTAINER_HOST or --remote is: its URL.
func startedService(t *testing.T) string {
	sock := filepath.Join(t.TempDir(), "podman.sock")
	serve(t, sock)
	return "unix://" + sock
}

// serve runs a Podman service on sock, with this test's environment,
// until the test ends.
func serve(t *testing.T, sock string) {
	cmd := exec.Command("podman", "system", "service", "--time=0", "unix://"+sock)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM); cmd.Wait() })
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the Podman service did not start")
		}
	}
}

// probe runs probeScript in a container of spec and returns its output
// (with inspect, the container's annotations, as Podman's command line
// shows them).
func probe(t *testing.T, eng *engine.Podman, spec engine.ContainerSpec, inspect bool) (string, error) {
	t.Helper()
	ctx := context.Background()
	spec.Command = []string{"sh", "-c", probeScript}
	spec.Labels = map[string]string{labelRun: spec.Name}
	id, err := eng.Create(ctx, spec)
	if err != nil {
		return "", err
	}
	t.Cleanup(func() { eng.Remove(context.Background(), id) })
	if inspect {
		out, err := exec.Command("podman", "inspect", "--format", "{{json .Config.Annotations}}", id).CombinedOutput()
		if err != nil {
			t.Fatalf("podman inspect: %v\n%s", err, out)
		}
		return string(out), nil
	}
	if err := eng.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := eng.Wait(wctx, id); err != nil {
		// The engine's check inside the container refused it (an engine
		// whose files are not read: the remote one).
		return "", err
	}
	var out bytes.Buffer
	eng.Logs(ctx, id, &out)
	if !strings.Contains(out.String(), "== end") {
		t.Fatalf("the probe did not finish:\n%s", out.String())
	}
	return out.String(), nil
}

// The next step an ErrEngineConfig names for the user's own service
// works: with CONTAINERS_CONF naming a file without the entry, the run
// starts a service of its own with it, whose containers have no host path.
func TestE2EContainersConfNextStepRuns(t *testing.T) {
	_, image, name := engineForTest(t, "cconf")
	hostDir := t.TempDir()
	userConfig(t, "[containers]\nvolumes = [\""+hostDir+":/host:ro\"]\n")
	userService(t)
	ctx := context.Background()
	// Control: the user's service is refused.
	if _, _, err := engine.Connect(ctx, engine.Remote{}, nil); !errors.Is(err, engine.ErrEngineConfig) {
		t.Fatalf("control: the user's service with containers.conf volumes is not refused: %v", err)
	}
	// The user's own file, as the next step says, without the drop-in.
	own := filepath.Join(os.Getenv("XDG_CONFIG_HOME"), "containers", "containers.conf")
	if _, err := os.Stat(own); err != nil {
		os.WriteFile(own, nil, 0o644)
	}
	t.Setenv("CONTAINERS_CONF", own)
	eng, stop, err := engine.Connect(ctx, engine.Remote{}, nil)
	if err != nil {
		t.Fatalf("with CONTAINERS_CONF naming a file without the entry: %v", err)
	}
	t.Cleanup(stop)
	out, err := probe(t, eng, engine.ContainerSpec{Name: name, Image: image, User: "1000:1000", Network: "none",
		CapDrop: []string{"all"}, NoNewPrivileges: true, ReadOnlyRoot: true}, false)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, " /host ") {
		t.Errorf("ATTACK WORKS: the run used the user's service, which mounts %s at /host:\n%s", hostDir, out)
	}
}
