//go:build e2e

package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
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
	"github.com/safe-install/safe-install/sandbox/install"
)

// What a local engine's copy-in (engine.ExtractInto: the host runs the
// image's tar, as root of the containers' user namespace, inside the
// holder's mount namespace) gives a package author. The tar process is
// the one thing of the run that holds the namespace's capabilities
// without seccomp; it must be out of every container's reach (no
// container's pid namespace holds it, so none can ptrace, signal or open
// /proc of it) and hold nothing of the host's but pipes and /dev/null.

// holderForTest starts the run's holder (holderSpec: work and fetch config
// volumes, read-only root) and returns it, with its root as this machine
// sees it and its init's pid.
func holderForTest(t *testing.T) (eng *engine.Podman, id, root string, init int) {
	t.Helper()
	ctx := context.Background()
	eng, image, name := engineForTest(t, "reach")
	n := Names{Work: name + "-work", FetchConfig: name + "-cfg"}
	labels := map[string]string{labelRun: name}
	for _, v := range []string{n.Work, n.FetchConfig} {
		if err := eng.CreateVolume(ctx, engine.VolumeSpec{Name: v, Memory: true, Labels: labels}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { eng.RemoveVolume(context.Background(), v) })
	}
	spec := holderSpec(image, n, DefaultLimits(), Profiles{})
	spec.Labels = labels
	id, err := eng.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Remove(context.Background(), id) })
	if err := eng.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	root, done, err := eng.ContainerDir(ctx, id, "/")
	if err != nil {
		t.Fatalf("a local engine's container directory: %v", err)
	}
	t.Cleanup(done)
	for _, p := range procs(t) {
		if parent := procField(p, "PPid"); parent != "" {
			cmdline, _ := os.ReadFile("/proc/" + parent + "/cmdline")
			if bytes.Contains(cmdline, []byte("\x00-c\x00"+id+"\x00")) {
				init, _ = strconv.Atoi(p)
			}
		}
	}
	if init == 0 {
		t.Fatal("no process here is the holder's init")
	}
	return eng, id, root, init
}

func procs(t *testing.T) []string {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// procField is a field of /proc/PID/status, "" when there is none.
func procField(pid, field string) string {
	status, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return ""
	}
	_, rest, ok := bytes.Cut(append([]byte("\n"), status...), []byte("\n"+field+":"))
	if !ok {
		return ""
	}
	v, _, _ := bytes.Cut(rest, []byte("\n"))
	return strings.TrimSpace(string(v))
}

// strangeFDs lists the fds of process pid that are not what ExtractInto
// gives tar: stdin and stderr pipes, stdout /dev/null, and from fd 3 on
// the namespaces nsenter entered (it leaves them open), ns.
func strangeFDs(pid string, ns ...string) []string {
	want := map[string]func(string) bool{
		"0": func(l string) bool { return strings.HasPrefix(l, "pipe:[") },
		"1": func(l string) bool { return l == "/dev/null" },
		"2": func(l string) bool { return strings.HasPrefix(l, "pipe:[") },
	}
	for i, n := range ns {
		want[strconv.Itoa(3+i)] = func(l string) bool { return l == n }
	}
	ents, _ := os.ReadDir("/proc/" + pid + "/fd")
	var out []string
	for _, e := range ents {
		l, err := os.Readlink("/proc/" + pid + "/fd/" + e.Name())
		if err != nil {
			continue
		}
		if ok := want[e.Name()]; ok == nil || !ok(l) {
			out = append(out, e.Name()+" -> "+l)
		}
	}
	return out
}

// While the tar runs (its stdin held open mid-entry), it is in the
// holder's user, mount, network and IPC namespaces and in none of the
// containers' pid namespaces, with the holder's root and working
// directory, only pipes, /dev/null and the holder's namespaces open, a
// fixed environment and no supplementary groups. Controls: the holder's
// init is in a pid namespace of its own (the NSpid check can fail), this
// process's root, network and IPC are not the holder's, and a child
// holding a host file is caught by the fd check.
func TestE2EExtractIntoTarIsOutOfContainersReach(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	eng, id, _, init := holderForTest(t)
	holder := strconv.Itoa(init)
	if f := strings.Fields(procField(holder, "NSpid")); len(f) != 2 {
		t.Fatalf("control: the holder's init has NSpid %q, want one pid here and one in its own namespace", f)
	}
	ctl := exec.Command("sleep", "30")
	ctl.Stdin, ctl.Stderr = strings.NewReader(""), io.Discard
	hostFile, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer hostFile.Close()
	ctl.ExtraFiles = []*os.File{hostFile}
	if err := ctl.Start(); err != nil {
		t.Fatal(err)
	}
	defer ctl.Process.Kill()
	if got := strangeFDs(strconv.Itoa(ctl.Process.Pid)); !slices.Contains(got, "3 -> /etc/hostname") {
		t.Fatalf("control: a child holding /etc/hostname shows %q", got)
	}
	ctl.Process.Kill()
	ctl.Wait()

	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- eng.ExtractInto(ctx, id, install.WorkDir, pr) }()
	tw := tar.NewWriter(pw)
	body := []byte("0123456789")
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "held", Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	tw.Write(body[:5])
	tw.Flush()
	var tarPid string
	for deadline := time.Now().Add(20 * time.Second); tarPid == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		for _, p := range procs(t) {
			if procField(p, "PPid") == strconv.Itoa(os.Getpid()) && procField(p, "Name") == "tar" {
				tarPid = p
			}
		}
	}
	if tarPid == "" {
		select {
		case err := <-done:
			t.Fatalf("ExtractInto ended: %v", err)
		default:
		}
		t.Fatal("no tar among this process's children")
	}
	ns := func(pid, kind string) string { l, _ := os.Readlink("/proc/" + pid + "/ns/" + kind); return l }
	if f := strings.Fields(procField(tarPid, "NSpid")); len(f) != 1 {
		t.Errorf("tar has NSpid %q: a container's pid namespace holds it, and its processes can reach it", f)
	}
	if ns(tarPid, "pid") != ns("self", "pid") {
		t.Errorf("tar is in pid namespace %s, not this process's", ns(tarPid, "pid"))
	}
	for _, kind := range []string{"net", "ipc"} {
		if ns("self", kind) == ns(holder, kind) {
			t.Fatalf("control: this process's %s namespace is the holder's", kind)
		}
	}
	for _, kind := range []string{"user", "mnt", "net", "ipc"} {
		if ns(tarPid, kind) != ns(holder, kind) {
			t.Errorf("tar's %s namespace %s, the holder's %s", kind, ns(tarPid, kind), ns(holder, kind))
		}
	}
	if got := strangeFDs(tarPid, ns(holder, "user"), ns(holder, "mnt"), ns(holder, "net"), ns(holder, "ipc")); len(got) > 0 {
		// fds this process inherited without close-on-exec (its
		// parent's) would go into the holder's namespaces with tar.
		t.Errorf("tar holds %q", got)
	}
	// Root and working directory are the holder's (no host directory, as
	// runc's CVE-2024-21626 leaked): setns into a mount namespace puts
	// both at its root, and GNU tar's -C works through a directory fd.
	same := func(a, b string) bool {
		x, errA := os.Stat(a)
		y, errB := os.Stat(b)
		return errA == nil && errB == nil && os.SameFile(x, y)
	}
	if same("/proc/self/root", "/proc/"+holder+"/root") {
		t.Fatal("control: this process's root is the holder's")
	}
	if !same("/proc/"+tarPid+"/root", "/proc/"+holder+"/root") || !same("/proc/"+tarPid+"/cwd", "/proc/"+holder+"/root") {
		info := func(p string) string {
			fi, err := os.Stat(p)
			if err != nil {
				return err.Error()
			}
			st := fi.Sys().(*syscall.Stat_t)
			l, _ := os.Readlink(p)
			return fmt.Sprintf("%s dev %d ino %d", l, st.Dev, st.Ino)
		}
		t.Errorf("tar's root %s, cwd %s; the holder's root %s, its %s %s", info("/proc/"+tarPid+"/root"), info("/proc/"+tarPid+"/cwd"),
			info("/proc/"+holder+"/root"), install.WorkDir, info("/proc/"+holder+"/root"+install.WorkDir))
	}
	if env, _ := os.ReadFile("/proc/" + tarPid + "/environ"); string(env) != "PATH=/usr/bin:/bin\x00LC_ALL=C\x00" {
		t.Errorf("tar's environment %q", env)
	}
	if g := procField(tarPid, "Groups"); g != "" {
		t.Errorf("tar keeps the groups %q", g)
	}
	t.Logf("tar %s: Uid %s, CapEff %s, Seccomp %s, NoNewPrivs %s, fds %v", tarPid, procField(tarPid, "Uid"),
		procField(tarPid, "CapEff"), procField(tarPid, "Seccomp"), procField(tarPid, "NoNewPrivs"), fdList(tarPid))
	tw.Write(body[5:])
	tw.Close()
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func fdList(pid string) []string {
	ents, _ := os.ReadDir("/proc/" + pid + "/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink(filepath.Join("/proc", pid, "fd", e.Name()))
		out = append(out, e.Name()+"="+l)
	}
	return out
}

// A hostile tar stream through ExtractInto stays in the directory it is
// extracted at: more hostile than writeInputs ever writes (links out and
// files through them, hard links out, ../ and absolute names, a device, a
// setuid root file), then writeInputs' own stream for node_modules links
// out (npm rebuild copies the project's links in). The fetch config that
// went in first (a file standing for pipfetch.py, which the fetch runs) and the
// holder's /tmp stay as they were. Control: a file through a link inside
// the tree does land where the link points, so the links out were tried.
func TestE2EExtractIntoStaysInItsDirectory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	eng, id, root, _ := holderForTest(t)
	good := []byte("// the host's relay\n")
	var cfg bytes.Buffer
	if err := writeInputs(&cfg, "", []install.Input{{Name: "relay.js", Data: good, Mode: 0o644}}); err != nil {
		t.Fatal(err)
	}
	if err := eng.ExtractInto(ctx, id, install.FetchConfigDir, &cfg); err != nil {
		t.Fatal(err)
	}
	tmpBefore, _ := os.ReadDir(filepath.Join(root, "tmp"))

	var hostile bytes.Buffer
	tw := tar.NewWriter(&hostile)
	pwned := []byte("PWNED")
	for _, h := range []*tar.Header{
		{Typeflag: tar.TypeDir, Name: "sub/", Mode: 0o755},
		{Typeflag: tar.TypeSymlink, Name: "in", Linkname: "sub"},
		{Typeflag: tar.TypeReg, Name: "in/control", Mode: 0o644, Size: int64(len(pwned))},
		{Typeflag: tar.TypeSymlink, Name: "abs", Linkname: install.FetchConfigDir},
		{Typeflag: tar.TypeReg, Name: "abs/relay.js", Mode: 0o644, Size: int64(len(pwned))},
		{Typeflag: tar.TypeSymlink, Name: "dot", Linkname: ".." + install.FetchConfigDir},
		{Typeflag: tar.TypeReg, Name: "dot/relay.js", Mode: 0o644, Size: int64(len(pwned))},
		{Typeflag: tar.TypeSymlink, Name: "self", Linkname: "/proc/self/root/tmp"},
		{Typeflag: tar.TypeReg, Name: "self/planted", Mode: 0o644, Size: int64(len(pwned))},
		{Typeflag: tar.TypeSymlink, Name: "tmp", Linkname: "/tmp"},
		{Typeflag: tar.TypeReg, Name: "tmp/planted", Mode: 0o644, Size: int64(len(pwned))},
		{Typeflag: tar.TypeLink, Name: "hard", Linkname: install.FetchConfigDir + "/relay.js"},
		{Typeflag: tar.TypeLink, Name: "hard2", Linkname: "../" + install.FetchConfigDir + "/relay.js"},
		{Typeflag: tar.TypeLink, Name: "hard3", Linkname: "abs/relay.js"},
		{Typeflag: tar.TypeReg, Name: "../.." + install.FetchConfigDir + "/relay.js", Mode: 0o644, Size: int64(len(pwned))},
		{Typeflag: tar.TypeReg, Name: "/tmp/planted-abs", Mode: 0o644, Size: int64(len(pwned))},
		{Typeflag: tar.TypeChar, Name: "null", Devmajor: 1, Devminor: 3, Mode: 0o666},
		{Typeflag: tar.TypeReg, Name: "suid", Mode: 0o4755, Size: int64(len(pwned))},
	} {
		if h.Typeflag == tar.TypeSymlink {
			h.Mode = 0o777
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			tw.Write(pwned)
		}
	}
	tw.Close()
	// tar reports what it refused (exit 2); what matters is what landed.
	err := eng.ExtractInto(ctx, id, install.WorkDir, &hostile)
	t.Logf("the hostile stream: %v", err)
	var ours bytes.Buffer
	if err := writeInputs(&ours, "", []install.Input{
		{Name: "node_modules/x", Link: install.FetchConfigDir},
		{Name: "node_modules/x/relay.js", Data: pwned, Mode: 0o644},
		{Name: "node_modules/y", Link: "../.." + install.FetchConfigDir},
		{Name: "node_modules/y/relay.js", Data: pwned, Mode: 0o644},
	}); err != nil {
		t.Fatal(err)
	}
	if err := eng.ExtractInto(ctx, id, install.WorkDir, &ours); err != nil {
		t.Logf("writeInputs' stream: %v", err)
	}

	if got, _ := os.ReadFile(filepath.Join(root, "work/sub/control")); !bytes.Equal(got, pwned) {
		t.Fatalf("control: a file through the link in the tree gave %q at its target", got)
	}
	if got, err := os.ReadFile(filepath.Join(root, install.FetchConfigDir, "relay.js")); err != nil || !bytes.Equal(got, good) {
		t.Errorf("the fetch config's relay.js is now %q (%v)", got, err)
	}
	cfgEnts, _ := os.ReadDir(filepath.Join(root, install.FetchConfigDir))
	if len(cfgEnts) != 1 {
		t.Errorf("the fetch config volume holds %d entries, want relay.js alone", len(cfgEnts))
	}
	if tmpAfter, _ := os.ReadDir(filepath.Join(root, "tmp")); len(tmpAfter) != len(tmpBefore) {
		t.Errorf("the holder's /tmp had %d entries, now %d", len(tmpBefore), len(tmpAfter))
	}
	if fi, err := os.Lstat(filepath.Join(root, "work/null")); err == nil {
		t.Errorf("a device in the work volume: %v", fi.Mode())
	}
	filepath.Walk(filepath.Join(root, "work"), func(p string, fi os.FileInfo, err error) error {
		if err == nil {
			rel, _ := filepath.Rel(root, p)
			l, _ := os.Readlink(p)
			t.Logf("%s %v %s", rel, fi.Mode(), l)
		}
		return nil
	})
}
