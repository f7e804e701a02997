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

// runCheck runs mountCheckScript with /bin/sh (dash, as in the image) on
// the mount table mountinfo, with the nonce in its environment, before
// the command `echo ran`; /dev is left out (the host's is not a
// container's).
func runCheck(t *testing.T, c ContainerSpec, mountinfo string) (string, int) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "mountinfo")
	if err := os.WriteFile(f, []byte(mountinfo), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd, nonce := withMountCheck(c, []string{"echo", "ran"})
	script := strings.Replace(cmd[2], "/proc/self/mountinfo", f, 1)
	script = strings.Replace(script, "for d in /dev/* /dev/*/*; do", "for d in; do", 1)
	if script == cmd[2] || !strings.Contains(script, "for d in; do") {
		t.Fatal("the script no longer reads what the test replaces")
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
	b, err := os.ReadFile("testdata/mountinfo-4.3.1-rootless")
	if err != nil {
		t.Fatal(err)
	}
	base := string(b)
	if out, code := runCheck(t, checkSpec, base); code != 0 || out != "ran\n" {
		t.Fatalf("the table of a container with only what it asked for: exit %d\n%s", code, out)
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
		out, code := runCheck(t, checkSpec, base+c.change)
		if code != mountCheckExit || !strings.Contains(out, "safe-install-check NONCE: "+c.want) || strings.Contains(out, "ran") {
			t.Errorf("%s: exit %d, want %d naming %q, command not run:\n%s", c.name, code, mountCheckExit, c.want, out)
		}
	}
	// A tmpfs the spec asked for must be a whole tmpfs, not a directory of
	// one (the engine host's /run/user/...).
	swapped := regexp.MustCompile(`(?m)^(\S+ \S+ \S+) / /tmp `).ReplaceAllString(base, "$1 /user/1000 /tmp ")
	if swapped == base {
		t.Fatal("testdata has no /tmp tmpfs")
	}
	if out, code := runCheck(t, checkSpec, swapped); code != mountCheckExit || !strings.Contains(out, "mount /tmp (tmpfs /user/1000)") {
		t.Errorf("a tmpfs directory bound at /tmp: exit %d\n%s", code, out)
	}
	// A volume the spec did not ask for at that place is a mount like any.
	fewer := checkSpec
	fewer.Volumes = fewer.Volumes[:1]
	if out, code := runCheck(t, fewer, base); code != mountCheckExit || !strings.Contains(out, "mount /cache (ext4 ") {
		t.Errorf("an unasked volume at /cache: exit %d\n%s", code, out)
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
