package engine

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/containers/podman/v5/libpod/define"
)

// checkSpec is the container the mount table in testdata was read in
// (rootless Podman 4.3.1: two views of one volume, a tmpfs).
var checkSpec = ContainerSpec{
	Name:    "safe-install-0123456789ab-fetch",
	Volumes: []VolumeMount{{Name: "v", Dest: "/work"}, {Name: "v", Dest: "/cache", ReadOnly: true}},
	Tmpfs:   []TmpfsMount{{Dest: "/tmp", Options: "rw,size=1m"}},
}

// checkInput is what the check reads in a container, from testdata by
// default (a rootless Podman 4.3.1 container of checkSpec's, with every
// capability dropped and no-new-privileges).
type checkInput struct {
	mountinfo, status, netdev string
	pid                       string // what $$ is; "1" unless set
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func defaultInput(t *testing.T) checkInput {
	return checkInput{mountinfo: readTestdata(t, "mountinfo-4.3.1-rootless"), status: readTestdata(t, "status-4.3.1-rootless"),
		netdev: readTestdata(t, "netdev-none"), pid: "1"}
}

// runCheck runs mountCheckScript with /bin/sh (dash, as in the image) on
// in, with the nonce in its environment, before the command `echo ran`;
// /dev is left out (the host's is not a container's).
func runCheck(t *testing.T, c ContainerSpec, in checkInput) (string, int) {
	t.Helper()
	dir := t.TempDir()
	cmd, nonce := withMountCheck(c, []string{"echo", "ran"})
	script := cmd[2]
	for _, r := range []struct{ old, new, content string }{
		{"/proc/self/mountinfo", filepath.Join(dir, "mountinfo"), in.mountinfo},
		{"/proc/self/status", filepath.Join(dir, "status"), in.status},
		{"/proc/net/dev", filepath.Join(dir, "netdev"), in.netdev},
		{"for d in /dev/* /dev/*/*; do", "for d in; do", ""},
		{"pid=$$;", "pid=" + in.pid + ";", ""},
	} {
		if !strings.Contains(script, r.old) {
			t.Fatalf("the script no longer has %q, which the test replaces", r.old)
		}
		script = strings.Replace(script, r.old, r.new, 1)
		if r.content != "" {
			if err := os.WriteFile(r.new, []byte(r.content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	run := exec.Command("/bin/sh", append([]string{"-c", script}, cmd[3:]...)...)
	run.Env = []string{mountCheckEnv + "=" + nonce, "PATH=/usr/bin:/bin"}
	out, err := run.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(string(out), nonce, "NONCE"), code
}

func TestMountCheckScript(t *testing.T) {
	spec := checkSpec
	spec.CapDrop, spec.NoNewPrivileges = []string{"all"}, true
	in := defaultInput(t)
	if out, code := runCheck(t, spec, in); code != 0 || out != "ran\n" {
		t.Fatalf("a container with only what it asked for: exit %d\n%s", code, out)
	}
	refused := func(name string, c ContainerSpec, in checkInput, want string) {
		t.Helper()
		out, code := runCheck(t, c, in)
		if code != mountCheckExit || !strings.Contains(out, "safe-install-check NONCE: "+want) || strings.Contains(out, "ran") {
			t.Errorf("%s: exit %d, want %d naming %q, command not run:\n%s", name, code, mountCheckExit, want, out)
		}
	}
	ext4 := " 254:0 "
	for _, c := range []struct{ name, change, want string }{
		{"containers.conf volume", "400 275" + ext4 + "/home/u/.ssh /x ro,relatime - ext4 /dev/vda rw\n", "mount /x (ext4 /home/u/.ssh)"},
		{"rootless device", "401 280 0:6 /fuse /dev/fuse rw,relatime master:16 - devtmpfs devtmpfs rw\n", "mount /dev/fuse (devtmpfs /fuse)"},
		{"mounts.conf secrets", "402 275" + ext4 + "/usr/share/rhel/secrets /run/secrets rw - ext4 /dev/vda rw\n", "mount /run/secrets"},
		{"under a volume", "403 276" + ext4 + "/home/u /work/node_modules/x rw - ext4 /dev/vda rw\n", "mount /work/node_modules/x"},
		{"over a volume", "404 275" + ext4 + "/home/u /work rw - ext4 /dev/vda rw\n", "a second mount on /work (ext4 /home/u)"},
		{"host file as /etc/hosts", "405 275" + ext4 + "/etc/hosts /etc/hosts rw - ext4 /dev/vda rw\n", "a second mount on /etc/hosts"},
		{"host proc under /proc", "406 278 0:5 /1 /proc/driver rw - proc proc rw\n", "mount /proc/driver (proc /1)"},
		{"a device node in /dev", "407 280 0:6 /sda /dev/null rw - devtmpfs devtmpfs rw\n", "a second mount on /dev/null"},
	} {
		changed := in
		changed.mountinfo += c.change
		refused(c.name, spec, changed, c.want)
	}
	// A tmpfs the spec asked for must be a whole tmpfs, not a directory of
	// one (the engine host's /run/user/...).
	swapped := in
	swapped.mountinfo = regexp.MustCompile(`(?m)^(\S+ \S+ \S+) / /tmp `).ReplaceAllString(in.mountinfo, "$1 /user/1000 /tmp ")
	if swapped.mountinfo == in.mountinfo {
		t.Fatal("testdata has no /tmp tmpfs")
	}
	refused("a tmpfs directory bound at /tmp", spec, swapped, "mount /tmp (tmpfs /user/1000)")
	// A volume the spec did not ask for at that place is a mount like any.
	fewer := spec
	fewer.Volumes = fewer.Volumes[:1]
	refused("an unasked volume at /cache", fewer, in, "mount /cache (ext4 ")

	hostPID := in
	hostPID.pid = "4242"
	refused("the host's pid namespace", spec, hostPID, "a pid namespace not its own (the check is pid 4242)")
	network := in
	network.netdev += "  eth0: 1 2 0 0 0 0 0 0 3 4 0 0 0 0 0 0\n"
	refused("a network", spec, network, "network interface eth0:")
	for _, c := range []struct{ old, new, want string }{
		{"CapBnd:\t0000000000000000", "CapBnd:\t000001ffffffffff", "CapBnd: 000001ffffffffff"},
		{"CapEff:\t0000000000000000", "CapEff:\t0000000000200000", "CapEff: 0000000000200000"},
		{"NoNewPrivs:\t1", "NoNewPrivs:\t0", "no-new-privileges off"},
	} {
		changed := in
		changed.status = strings.Replace(in.status, c.old, c.new, 1)
		if changed.status == in.status {
			t.Fatalf("testdata's status has no %q", c.old)
		}
		refused(c.want, spec, changed, c.want)
	}
	seccomp := spec
	seccomp.SeccompProfile = "/profiles/scripts.json"
	unfiltered := in
	unfiltered.status = strings.Replace(in.status, "Seccomp:\t2", "Seccomp:\t0", 1)
	if out, code := runCheck(t, seccomp, in); code != 0 {
		t.Errorf("a seccomp filter asked for and there: exit %d\n%s", code, out)
	}
	refused("no seccomp filter", seccomp, unfiltered, "no seccomp filter (mode 0)")
	// What the spec does not ask for is not required.
	if out, code := runCheck(t, checkSpec, unfiltered); code != 0 {
		t.Errorf("no seccomp profile asked for: exit %d\n%s", code, out)
	}
}

// Only lines with the container's nonce are the check's: a package's own
// output can hold the same words.
func TestMountCheckFindings(t *testing.T) {
	out := "safe-install-check forged: mount /x\nnpm warn\nsafe-install-check abc: mount /x (ext4 /home/u)\n" +
		"safe-install-check abc: device /dev/fuse\n"
	got := mountCheckFindings(strings.NewReader(out), "abc")
	if strings.Join(got, "|") != "mount /x (ext4 /home/u)|device /dev/fuse" {
		t.Errorf("findings %q", got)
	}
	if got := mountCheckFindings(strings.NewReader(out), "other"); len(got) != 0 {
		t.Errorf("another nonce's findings %q", got)
	}
}

// inspected is the inspect data of a container Create made from checkSpec
// (rootless Podman 4.3.1, measured).
func inspected() *define.InspectContainerData {
	return &define.InspectContainerData{
		Mounts: []define.InspectMount{
			{Type: "volume", Name: "v", Destination: "/work", RW: true},
			{Type: "volume", Name: "v", Destination: "/cache", RW: false},
		},
		Config: &define.InspectContainerConfig{Annotations: map[string]string{
			"io.podman.annotations.autoremove": "FALSE", "io.podman.annotations.privileged": "FALSE"}},
		HostConfig: &define.InspectContainerHostConfig{
			Binds:       []string{"v:/work:nodev,nosuid,rw,rprivate,rbind", "v:/cache:nodev,nosuid,ro,rprivate,rbind"},
			Tmpfs:       map[string]string{"/tmp": "rw,size=1m,rprivate,nosuid,nodev,tmpcopyup"},
			NetworkMode: "none", PidMode: "private", IpcMode: "shareable", UTSMode: "private", CgroupMode: "private",
			CapAdd: []string{}, Devices: []define.InspectDevice{},
		},
	}
}

func TestInspectFindings(t *testing.T) {
	if got := inspectFindings(checkSpec, inspected()); len(got) != 0 {
		t.Fatalf("the container as created: %q", got)
	}
	for _, c := range []struct {
		name   string
		change func(d *define.InspectContainerData)
		want   string
	}{
		{"bind mount", func(d *define.InspectContainerData) {
			d.Mounts = append(d.Mounts, define.InspectMount{Type: "bind", Source: "/home/u", Destination: "/x"})
		}, "mount /x of type bind from /home/u"},
		{"another volume", func(d *define.InspectContainerData) {
			d.Mounts = append(d.Mounts, define.InspectMount{Type: "volume", Name: "theirs", Destination: "/y"})
		}, "mount /y of type volume from theirs"},
		{"another volume at a spec's place", func(d *define.InspectContainerData) { d.Mounts[0].Name = "theirs" }, "mount /work of type volume from theirs"},
		{"writable where read-only was asked", func(d *define.InspectContainerData) { d.Mounts[1].RW = true }, "volume v at /cache writable true"},
		{"a second tmpfs at a spec's place", func(d *define.InspectContainerData) {
			d.Mounts = append(d.Mounts, define.InspectMount{Type: "tmpfs", Destination: "/tmp"}, define.InspectMount{Type: "tmpfs", Destination: "/tmp"})
		}, "mount /tmp of type tmpfs"},
		{"a volume missing", func(d *define.InspectContainerData) { d.Mounts = d.Mounts[:1] }, "no volume v at /cache"},
		{"a bind in Binds", func(d *define.InspectContainerData) {
			d.HostConfig.Binds = append(d.HostConfig.Binds, "/home/u:/x:ro")
		}, "bind /home/u:/x:ro"},
		{"another tmpfs", func(d *define.InspectContainerData) { d.HostConfig.Tmpfs["/run"] = "rw" }, "tmpfs at /run"},
		{"device", func(d *define.InspectContainerData) {
			d.HostConfig.Devices = []define.InspectDevice{{PathOnHost: "/dev/fuse", PathInContainer: "/dev/fuse"}}
		}, "device /dev/fuse at /dev/fuse"},
		{"privileged", func(d *define.InspectContainerData) { d.HostConfig.Privileged = true }, "privileged"},
		{"capability", func(d *define.InspectContainerData) { d.HostConfig.CapAdd = []string{"CAP_SYS_ADMIN"} }, "capability CAP_SYS_ADMIN added"},
		{"host pid namespace", func(d *define.InspectContainerData) { d.HostConfig.PidMode = "host" }, `pid namespace "host"`},
		{"another container's ipc", func(d *define.InspectContainerData) { d.HostConfig.IpcMode = "container:abc" }, `ipc namespace "container:abc"`},
		{"a network", func(d *define.InspectContainerData) { d.HostConfig.NetworkMode = "slirp4netns" }, `network namespace "slirp4netns"`},
		{"keep-id", func(d *define.InspectContainerData) { d.HostConfig.UsernsMode = "keep-id" }, `user namespace "keep-id"`},
		{"runtime annotation", func(d *define.InspectContainerData) { d.Config.Annotations["run.oci.keep_original_groups"] = "1" },
			"annotation run.oci.keep_original_groups"},
	} {
		d := inspected()
		c.change(d)
		got := inspectFindings(checkSpec, d)
		if len(got) != 1 || !strings.HasPrefix(got[0], c.want) {
			t.Errorf("%s: findings %q, want one: %q", c.name, got, c.want)
		}
	}
	d := inspected()
	d.Mounts = append(d.Mounts, define.InspectMount{Type: "tmpfs", Destination: "/tmp"})
	if got := inspectFindings(checkSpec, d); len(got) != 0 {
		t.Errorf("the spec's tmpfs listed among the mounts: %q", got)
	}
	d = inspected()
	d.HostConfig = nil
	if got := inspectFindings(checkSpec, d); len(got) == 0 {
		t.Error("no host configuration passed")
	}
}

// The refusal is an ErrEngineConfig (exit 15), names the role and the next
// step, and shows engine data escaped.
func TestRefusal(t *testing.T) {
	err := refusal("safe-install-0123456789ab-fetch", "ssh://u@h:22/run/podman.sock", []string{"mount /x\x1b[2J (ext4 /home/u)"})
	if !errors.Is(err, ErrEngineConfig) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("not an ErrEngineConfig: %v", err)
	}
	msg := err.Error()
	if strings.ContainsRune(msg, 0x1b) {
		t.Errorf("engine data unescaped: %q", msg)
	}
	for _, want := range []string{"safe-install-0123456789ab-fetch container", "mount /x", "ssh://u@h:22/run/podman.sock",
		"containers.conf", "restart its Podman service"} {
		if !strings.Contains(msg, want) {
			t.Errorf("refusal does not name %q: %s", want, msg)
		}
	}
}
