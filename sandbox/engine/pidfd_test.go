package engine

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// isInit is what keeps a pid the engine reports from naming a stranger
// here: a stand-in conmon (a shell whose command line ends in -c ID) and
// its child are recognised, and nothing else is.
func TestIsInit(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	conmon, child := standInConmon(t, "-c", id)
	t.Cleanup(func() {
		if p, err := os.FindProcess(child); err == nil {
			p.Kill()
		}
	})
	other := strings.Repeat("f", 64)
	for _, c := range []struct {
		name        string
		pid, conmon int
		id          string
		want        bool
	}{
		{"the container's init", child, conmon.Process.Pid, id, true},
		{"another container's conmon", child, conmon.Process.Pid, other, false},
		{"not its child", os.Getpid(), conmon.Process.Pid, id, false},
		{"a conmon that is not its parent", child, os.Getpid(), id, false},
		{"no conmon", child, 0, id, false},
		{"a short id", child, conmon.Process.Pid, id[:12], false},
	} {
		if got := isInit(c.pid, c.conmon, c.id); got != c.want {
			t.Errorf("%s: isInit = %v, want %v", c.name, got, c.want)
		}
	}
}

// Exited reads a container's exit code where its conmon writes it, and
// only once its init has ended: a stand-in conmon (a shell whose command
// line names the container and an --exit-dir) and its child as the init.
func TestExitedReadsConmonsRecordAfterTheInitEnded(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	exits := t.TempDir()
	_, child := standInConmon(t, "-c", id, "--exit-dir", exits)
	if fd := openExitDir(child, strings.Repeat("f", 64)); fd >= 0 {
		t.Errorf("the exit directory of a conmon that names another container opened")
	}
	pidfd, err := unix.PidfdOpen(child, 0)
	if err != nil {
		t.Fatal(err)
	}
	p := &Podman{}
	pin := pinned{init: pidfd, exits: openExitDir(child, id)}
	if pin.exits < 0 {
		t.Fatal("the stand-in conmon's exit directory did not open")
	}
	p.pidfds.Store(id, pin)
	t.Cleanup(func() { p.unpin(id) })
	if err := os.WriteFile(filepath.Join(exits, id), []byte("3"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Exited(context.Background(), id); ok {
		t.Fatal("Exited answered while the init runs")
	}
	if err := unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	code, ok := p.Exited(context.Background(), id)
	for ; !ok && time.Now().Before(deadline); code, ok = p.Exited(context.Background(), id) {
		time.Sleep(5 * time.Millisecond)
	}
	if !ok || code != 3 {
		t.Fatalf("Exited after the init ended = %d, %v; want conmon's record, 3", code, ok)
	}
	if err := os.Remove(filepath.Join(exits, id)); err != nil {
		t.Fatal(err)
	}
	if _, ok := p.Exited(context.Background(), id); ok {
		t.Error("Exited answered with no record")
	}
}

func TestExitDirArg(t *testing.T) {
	id := strings.Repeat("a", 64)
	cmd := func(args ...string) []byte { return []byte(strings.Join(args, "\x00") + "\x00") }
	for _, c := range []struct {
		cmdline []byte
		want    string
	}{
		{cmd("conmon", "-c", id, "--exit-dir", "/run/user/1/libpod/tmp/exits", "-l", "x"), "/run/user/1/libpod/tmp/exits"},
		{cmd("conmon", "-c", strings.Repeat("b", 64), "--exit-dir", "/run/x"), ""},
		{cmd("conmon", "-c", id, "--exit-dir", "run/x"), ""},
		{cmd("conmon", "-c", id, "--exit-dir", "/run/../etc"), ""},
		{cmd("conmon", "-c", id, "--exit-dir"), ""},
		{cmd("conmon", "-c", id), ""},
	} {
		if got := exitDirArg(c.cmdline, id); got != c.want {
			t.Errorf("exitDirArg(%q) = %q, want %q", c.cmdline, got, c.want)
		}
	}
}

// standInConmon starts a shell whose command line ends in args, as
// conmon's names its container, with a child (the container's init, in
// the tests): it returns both.
func standInConmon(t *testing.T, args ...string) (*exec.Cmd, int) {
	t.Helper()
	conmon := exec.Command("sh", append([]string{"-c", `sleep 60 & echo $!; wait`, "sh"}, args...)...)
	out, err := conmon.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := conmon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conmon.Process.Kill(); conmon.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	child, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	return conmon, child
}

// Exited is asked only of a container whose init is its pid namespace's
// pid 1: one sharing the host's (or another container's) pid namespace
// leaves processes running when its init ends.
func TestNsInit(t *testing.T) {
	for status, want := range map[string]bool{
		"Name:\tnode\nNSpid:\t4242\t1\nNSpgid:\t1\n": true,
		"Name:\tnode\nNSpid:\t4242\t17\t1\n":         true,
		"Name:\tnode\nNSpid:\t4242\n":                false, // the host's namespace
		"Name:\tnode\nNSpid:\t4242\t7\n":             false, // not its namespace's init
		"Name:\tnode\n":                              false,
	} {
		if got := nsInit([]byte(status)); got != want {
			t.Errorf("nsInit(%q) = %v, want %v", status, got, want)
		}
	}
	// Control: this test's own process is not a namespace's init.
	self, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	if nsInit(self) {
		t.Error("this process counts as a pid namespace's init")
	}
}
