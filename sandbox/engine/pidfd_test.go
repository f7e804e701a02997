package engine

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// isInit is what keeps a pid the engine reports from naming a stranger
// here: a stand-in conmon (a shell whose command line ends in -c ID) and
// its child are recognised, and nothing else is.
func TestIsInit(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	conmon := exec.Command("sh", "-c", `sleep 60 & echo $!; wait`, "sh", "-c", id)
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
