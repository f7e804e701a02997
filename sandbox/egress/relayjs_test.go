package egress

import (
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runRelayJS runs relay.js (RelayCommand) under node on the host (a free port instead of
// 3128) with a mux on its stdin and stdout, and command in it once the
// test says start (StartCommand on m.w). It skips without node, and fails
// so in CI.
func runRelayJS(t *testing.T, srv relayServer, stdoutGate <-chan struct{}, command ...string) (port int, m *relayMux, done <-chan error) {
	t.Helper()
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("no node in CI, where the e2e tests need it too")
		}
		t.Skip("no node (fails in CI): relay.js is tested in the e2e tests")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port = ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	// As the fetch container runs it: the script on node's command line.
	argv := RelayCommand(command...)
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), fmt.Sprintf("RELAY_PORT=%d", port))
	// The command outlives relay.js here (in a container, relay.js is
	// pid 1): its group is killed, and Wait does not wait for its output.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = time.Second
	stdin, _ := cmd.StdinPipe()
	// A pipe, as conmon gives it in the container.
	stdout, theirs, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout = theirs
	t.Cleanup(func() { stdout.Close() })
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	theirs.Close()
	m = newRelayMux(stdin, srv)
	go func() {
		<-stdoutGate
		m.run(stdout)
	}()
	ch := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		if err != nil {
			err = fmt.Errorf("%w: %s", err, stderr.String())
		}
		ch <- err
	}()
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) })
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close() // connection 1, closed at once
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("relay.js did not listen")
		}
	}
	return port, m, ch
}

// Through the real relay.js: a client that floods a request line is cut
// off near the bound, 500 connections at once are closed but
// maxRelayConns within 3 s (relay.js reads no faster than the host does,
// so no backlog of the flood sits before them), and an abort ends the
// relay with its reason.
func TestRelayJSUnderFlood(t *testing.T) {
	t.Parallel()
	e := testEgress(t)
	gate := make(chan struct{})
	port, m, done := runRelayJS(t, e, gate, "sleep", "60")
	if err := StartCommand(m.w); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	// While the host reads nothing, a flooding client gets no further
	// than the kernel's buffers: relay.js pauses it (node would buffer
	// all it reads). The bytes go on when the host reads again.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	src := &flood{prefix: "GET http://127.0.0.1:1/", fill: 'a', size: floodSize}
	c.SetWriteDeadline(time.Now().Add(time.Second))
	stalled, _ := io.Copy(c, src)
	c.SetWriteDeadline(time.Time{})
	if stalled > 16<<20 {
		t.Errorf("the client sent %d bytes while the host read nothing: relay.js buffers them", stalled)
	}
	close(gate)
	answer := make(chan string, 1)
	go func() {
		b := make([]byte, 64)
		n, _ := io.ReadAtLeast(c, b, 12)
		answer <- string(b[:n])
	}()
	rest, _ := io.Copy(c, src)
	sent := stalled + rest
	a := <-answer
	c.Close()
	// Either bound may end it first: the proxy's on the head it read, or
	// the mux's on what piled up before the proxy read any (a 431, or a
	// bare close).
	if !(strings.HasPrefix(a, "HTTP/1.1 431") && refusedFor(e, "maxRequestHead") || a == "" && refusedFor(e, "maxRelayQueue")) || sent > 32<<20 {
		t.Errorf("the flooding client sent %d bytes and got %q; refused %+v", sent, a, e.Refused())
	}

	var socks []net.Conn
	for i := 0; i < 500; i++ {
		s, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		socks = append(socks, s)
	}
	closed := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && closed < 500-maxRelayConns; {
		closed = 0
		for _, s := range socks {
			s.SetReadDeadline(time.Now().Add(time.Millisecond))
			if _, err := s.Read(make([]byte, 1)); err != nil && !os.IsTimeout(err) {
				closed++
			}
		}
	}
	if closed != 500-maxRelayConns {
		t.Errorf("%d of 500 connections closed within 3 s, want %d (is the flood still queued in relay.js?)", closed, 500-maxRelayConns)
	}

	m.frame(0, frameAbort, []byte("stopped by the test"))
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "exit status 125") || !strings.Contains(err.Error(), "relay: stopped by the test") {
			t.Errorf("relay.js ended with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Error("relay.js did not end on an abort")
	}
}

// relay.js starts its command only when the host says start: the fetch
// container starts while its inputs still go in, and the command must not
// read them half written.
func TestRelayJSWaitsForStart(t *testing.T) {
	t.Parallel()
	ran := filepath.Join(t.TempDir(), "ran")
	gate := make(chan struct{})
	close(gate)
	_, m, done := runRelayJS(t, testEgress(t), gate, "sh", "-c", "echo > "+ran)
	time.Sleep(time.Second)
	if _, err := os.Stat(ran); err == nil {
		t.Fatal("the command ran before the host said start")
	}
	if err := StartCommand(m.w); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("relay.js: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("relay.js did not end after its command")
	}
	if _, err := os.Stat(ran); err != nil {
		t.Errorf("the command did not run after start: %v", err)
	}
}

// Only a command behind the relay waits for the host's start: Relayed
// tells it, wrapped (the containers' timeout) or not.
func TestRelayed(t *testing.T) {
	for _, c := range []struct {
		cmd  []string
		want bool
	}{
		{RelayCommand("sh", "-c", "npm ci"), true},
		{append([]string{"timeout", "-s", "KILL", "960"}, RelayCommand("python3", "x.py")...), true},
		{[]string{"sh", "-c", "find ."}, false},
		{[]string{"node", "-e", "console.log(1)", "relay.js", "sh"}, false},
		{[]string{"node", "-e"}, false},
	} {
		if got := Relayed(c.cmd); got != c.want {
			t.Errorf("Relayed(%.60q) = %v, want %v", c.cmd, got, c.want)
		}
	}
}
