//go:build e2e

package main

import (
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Issue 17: the ssh connection to a remote engine is lost in the middle
// of a run, closed (the far end went away) or silent (a network that
// drops every packet, so no FIN ever comes). The run must end by itself
// within a bound, with exit 15 and a message naming the engine and the
// way to clean up; the project is as it was; once the connection is back,
// `safe-install clean` leaves nothing of the run on the remote engine.
func TestE2ERemoteConnectionLostMidRun(t *testing.T) {
	remote := remoteEnv(t)
	for _, how := range []string{"closed", "silent"} {
		t.Run(how, func(t *testing.T) {
			w := newWorld(t)
			u, err := url.Parse(remote["SI_REMOTE_URL"])
			must(t, err)
			cut := newCuttableProxy(t, u.Host)
			u.Host = cut.addr()
			knownHosts := filepath.Join(w.home, ".ssh", "known_hosts")
			_, key, _ := strings.Cut(remote["SI_REMOTE_HOSTKEY"], " ")
			must(t, os.WriteFile(knownHosts, []byte("["+u.Hostname()+"]:"+u.Port()+" "+key+"\n"), 0o600))
			conn := []string{"--connection", u.String(), "--identity", remote["SI_REMOTE_KEY"]}

			w.project("writes-own-file")
			// The first run on a fresh remote builds its image, with npm's
			// cache in HOME: not the project's.
			before := w.snapshot(".npm")
			p := w.pauseAt("scripts", append(conn, "npm", "install")...)
			cut.cut(how == "silent")
			cutAt := time.Now()
			p.resume()
			code, out := p.wait()
			took := time.Since(cutAt)
			t.Logf("the run ended %s after the connection was %s", took.Round(100*time.Millisecond), how)
			if code != exitUnavailable {
				t.Errorf("the run that lost its engine ended with %d, want %d", code, exitUnavailable)
			}
			for _, want := range []string{"Podman service", "connection", "safe-install clean"} {
				if !strings.Contains(out, want) {
					t.Errorf("the message does not say %q", want)
				}
			}
			if took > 2*time.Minute {
				t.Errorf("the run took %s to notice that its engine was gone, want at most 2 min", took)
			}
			w.assertSame(withoutStaging(before), withoutStaging(w.snapshot(".npm")))

			cut.restore()
			w.expect(w.run(append(conn, "clean")...), 0)
			w.assertSame(before, w.snapshot(".npm"))
			if left := remoteRunObjects(t, w, conn, p.cmd.Process.Pid); left != "" {
				t.Errorf("left on the remote engine after clean: %s", left)
			}
			w.succeeds(append(conn, "npm", "install")...)
		})
	}
}

// remoteRunObjects lists the remote engine's containers and volumes whose
// client label names pid.
func remoteRunObjects(t *testing.T, w *world, conn []string, pid int) string {
	t.Helper()
	var left []string
	for _, kind := range [][]string{{"ps", "-a"}, {"volume", "ls"}} {
		args := append([]string{"--remote", "--url", conn[1], "--identity", conn[3]}, kind...)
		args = append(args, "--filter", "label=io.safe-install.run", "--format", `{{index .Labels "io.safe-install.client"}}`)
		cmd := exec.Command("podman", args...)
		cmd.Env = w.env
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("listing the remote engine's objects: %v\n%s", err, out)
		}
		for _, label := range strings.Fields(string(out)) {
			if f := strings.Split(label, "/"); len(f) == 4 && f[2] == strconv.Itoa(pid) {
				left = append(left, label)
			}
		}
	}
	return strings.Join(left, " ")
}

// cuttableProxy forwards TCP connections to target until it is cut:
// then it closes them all, or, silent, stops carrying bytes while it
// holds them open, and accepts new ones only to do the same.
type cuttableProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	conns  []net.Conn
	state  string // "open", "closed" or "silent"
}

func newCuttableProxy(t *testing.T, target string) *cuttableProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	must(t, err)
	p := &cuttableProxy{ln: ln, target: target, state: "open"}
	t.Cleanup(func() { ln.Close(); p.closeAll() })
	go p.serve()
	return p
}

func (p *cuttableProxy) addr() string { return p.ln.Addr().String() }

func (p *cuttableProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		state := p.state
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		switch state {
		case "closed":
			c.Close()
		case "silent":
			// held open by p.conns, never read
		default:
			go p.forward(c)
		}
	}
}

func (p *cuttableProxy) forward(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, up)
	p.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if n > 0 {
				if !p.carrying() {
					return // silent: the bytes are dropped, the sockets stay
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				if err != io.EOF || p.carrying() {
					dst.Close()
				}
				return
			}
		}
	}
	go pipe(up, c)
	go pipe(c, up)
}

func (p *cuttableProxy) carrying() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state == "open"
}

// cut ends the carrying of bytes: closing every connection, or holding
// them all open and silent.
func (p *cuttableProxy) cut(silent bool) {
	p.mu.Lock()
	if silent {
		p.state = "silent"
		p.mu.Unlock()
		return
	}
	p.state = "closed"
	p.mu.Unlock()
	p.closeAll()
}

// restore drops what the cut held and carries new connections again.
func (p *cuttableProxy) restore() {
	p.closeAll()
	p.mu.Lock()
	p.state = "open"
	p.mu.Unlock()
}

func (p *cuttableProxy) closeAll() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}
