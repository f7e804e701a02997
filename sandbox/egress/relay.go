package egress

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"
)

// relayScript runs in the fetch container; see relay.js.
//
//go:embed relay.js
var relayScript []byte

// RelayScript is relay.js, which the fetch container runs in front of its
// package manager.
func RelayScript() []byte { return relayScript }

// RelayCommand is the fetch container's command: relay.js, given to node
// on its command line (not a file in a volume, so the container can start
// before anything is copied in), in front of cmd. relay.js runs cmd once
// the host says start. The "relay.js" after the script is its argv[1], so
// that the command is process.argv.slice(2), as for a script file.
func RelayCommand(cmd ...string) []string {
	return append([]string{"node", "-e", string(relayScript), "relay.js"}, cmd...)
}

// Relayed says whether cmd runs behind the relay (RelayCommand, perhaps
// wrapped), which starts nothing before the host says start: only then may
// its container start before its inputs are in.
func Relayed(cmd []string) bool {
	for i := range cmd {
		if len(cmd)-i >= 4 && cmd[i] == "node" && cmd[i+1] == "-e" && cmd[i+2] == string(relayScript) && cmd[i+3] == "relay.js" {
			return true
		}
	}
	return false
}

// Relay carries the fetch container's connections to the proxy: frames
// come from its stdout and replies go to its stdin, until stdout ends.
func (e *Egress) Relay(stdin io.Writer, stdout io.Reader) error {
	return newRelayMux(stdin, e).run(stdout)
}

// RelayPort is where the relay listens inside the fetch container.
const RelayPort = 3128

// Frames are [id u32][type u8][length u32][payload], both ways.
const (
	frameOpen  = 1
	frameData  = 2
	frameClose = 3
	// frameAbort (host to relay only) ends the relay, and with it the
	// fetch container; its payload, the reason, goes to the output.
	frameAbort = 4
	// frameStart (host to relay only, once) starts the relay's command.
	frameStart = 5
	frameHead  = 9
)

// StartCommand tells relay.js, through the container's stdin (Relay's),
// to start its command: the host says so once the fetch's inputs are in,
// so that the container and relay.js start while they go in. A frame of
// one write, which an io.Pipe keeps whole beside the relay's own (no byte
// of it needs escaping).
func StartCommand(stdin io.Writer) error {
	_, err := stdin.Write([]byte{0, 0, 0, 0, frameStart, 0, 0, 0, 0})
	return err
}

// The relay mux's bounds (invariant 12). The fetch container's
// stdout is the sandbox's: in the pip fetch, build hooks run beside
// relay.js as the same user and can write frames of their own into it
// (/proc/1/fd/1 opens: the pipe; corpus case relay-hijack), so no frame is
// trusted. A connection past a bound is
// closed and the others go on; a stream that is not the relay's stops the
// fetch. Either is recorded as a Refusal naming the bound.
const (
	// maxRelayFrame is the largest payload either side sends: relay.js
	// cuts what a socket reads to this size (node reads 64 KiB at a time)
	// and so does the host. A longer frame is not the relay's.
	maxRelayFrame = 64 << 10
	// maxRelayQueue bounds the bytes one connection may have waiting for
	// the proxy to read them: one frame, more than a whole request head
	// (maxRequestHead). A client sends a head and waits for the answer, so
	// it never has more waiting. One that keeps sending while the proxy
	// is busy is closed, instead of stalling every connection (a blocking
	// hand-off) or growing without end.
	maxRelayQueue = maxRelayFrame
	// maxRelayRefused bounds the refused connections waiting to be closed
	// in the relay: the fetch container's nofile rlimit (8192, see
	// hardened) is more sockets than relay.js can hold open anyway.
	maxRelayRefused = 8192
	// maxRelayConns bounds the connections open at once: npm opens at most
	// 15 per registry (its maxsockets), pip a few. With maxRelayQueue and
	// maxRequestHead it holds the relay and the proxy to about 20 MiB of
	// peak RSS at worst (measured: TestRelayFloodsAreBounded). One more
	// is closed as it opens.
	maxRelayConns = 64
)

// relayServer is what the mux hands connections to: the egress proxy.
type relayServer interface {
	ServeConn(ctx context.Context, c net.Conn)
	record(Refusal)
}

// relayMux is the host end of the relay: it reads frames from the
// container's stdout, hands each new connection to the proxy, and writes
// the replies as frames to the container's stdin. Reading never waits for
// a connection, so a slow one stalls no other.
type relayMux struct {
	srv relayServer

	wmu        sync.Mutex
	w          io.Writer // the container's stdin
	wbuf, ebuf []byte    // a frame, and the frame escaped

	mu     sync.Mutex
	conns  map[uint32]*relayConn
	active int         // connections whose pump runs: at most maxRelayConns
	closes chan uint32 // refused connections, for closer to close
}

func newRelayMux(w io.Writer, srv relayServer) *relayMux {
	return &relayMux{w: w, srv: srv, conns: map[uint32]*relayConn{}, closes: make(chan uint32, maxRelayRefused)}
}

// frame writes one frame to the container's stdin, escaped (escapeWriter).
func (m *relayMux) frame(id uint32, typ byte, payload []byte) error {
	m.wmu.Lock()
	defer m.wmu.Unlock()
	b := binary.BigEndian.AppendUint32(m.wbuf[:0], id)
	b = append(b, typ)
	b = binary.BigEndian.AppendUint32(b, uint32(len(payload)))
	m.wbuf = append(b, payload...)
	m.ebuf = appendEscaped(m.ebuf[:0], m.wbuf)
	_, err := m.w.Write(m.ebuf)
	return err
}

// run reads frames from r (the container's stdout) until it ends. It
// never writes to the container itself: relay.js blocks in a write to its
// stdout while that is full, and would then read no stdin.
func (m *relayMux) run(r io.Reader) error {
	go m.closer()
	defer close(m.closes)
	br := bufio.NewReaderSize(r, 64<<10)
	head := make([]byte, frameHead)
	buf := make([]byte, maxRelayFrame)
	for {
		if _, err := io.ReadFull(br, head); err != nil {
			m.closeAll()
			if err == io.EOF {
				return nil
			}
			return err
		}
		id, typ, n := binary.BigEndian.Uint32(head), head[4], binary.BigEndian.Uint32(head[5:])
		if n > maxRelayFrame {
			return m.broken(br, fmt.Sprintf("a frame of %d bytes, over %d (bound maxRelayFrame)", n, maxRelayFrame))
		}
		payload := buf[:n]
		if _, err := io.ReadFull(br, payload); err != nil {
			m.closeAll()
			return err
		}
		switch typ {
		case frameOpen:
			if !m.open(id) {
				return m.broken(br, fmt.Sprintf("connection %d opened while open", id))
			}
		case frameData:
			m.deliver(id, payload)
		case frameClose:
			if c := m.lookup(id); c != nil {
				m.remove(c)
				c.end()
			}
		default:
			return m.broken(br, fmt.Sprintf("a frame of unknown type %d", typ))
		}
	}
}

// broken stops the mux on a stream that is not the relay's: every
// connection closes, the relay is told to end the fetch, and the rest of
// the stream is read and dropped until the container ends, so that the
// attach ends with it.
func (m *relayMux) broken(r io.Reader, why string) error {
	m.srv.record(Refusal{Method: "-", Host: "relay", Reason: why + ": the fetch was stopped"})
	m.closeAll()
	go m.frame(0, frameAbort, []byte("safe-install stopped the fetch: the relay's stream broke the protocol: "+why))
	_, err := io.Copy(io.Discard, r)
	if err == nil {
		err = fmt.Errorf("the relay's stream broke the protocol: %s", why)
	}
	return err
}

// open starts a connection, or refuses it past maxRelayConns; false when
// id is open already.
func (m *relayMux) open(id uint32) bool {
	m.mu.Lock()
	if m.conns[id] != nil {
		m.mu.Unlock()
		return false
	}
	if m.active >= maxRelayConns {
		m.mu.Unlock()
		m.srv.record(Refusal{Method: "-", Host: "relay", Reason: fmt.Sprintf("more than %d connections at once (bound maxRelayConns)", maxRelayConns)})
		select {
		case m.closes <- id:
		default: // more than relay.js can hold: it keeps those open, the host ignores them
		}
		return true
	}
	ours, theirs := net.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	c := &relayConn{id: id, ours: ours, cancel: cancel, wake: make(chan struct{}, 1)}
	m.conns[id] = c
	m.active++
	m.mu.Unlock()
	go m.feed(c)
	go m.pump(c)
	go m.srv.ServeConn(ctx, theirs)
	return true
}

// deliver queues a data frame for its connection. Data for a connection
// the host closed meanwhile (relay.js may still be sending) is dropped.
func (m *relayMux) deliver(id uint32, p []byte) {
	c := m.lookup(id)
	if c == nil || c.push(p) {
		return
	}
	m.srv.record(Refusal{Method: "-", Host: "relay",
		Reason: fmt.Sprintf("a connection sent over %d bytes the proxy had not read yet (bound maxRelayQueue)", maxRelayQueue)})
	m.remove(c)
	c.discard()
	c.ours.Close() // the pump ends and tells the relay
}

// feed hands the container's bytes to the proxy.
func (m *relayMux) feed(c *relayConn) {
	for p := c.pop(); p != nil; p = c.pop() {
		if _, err := c.ours.Write(p); err != nil {
			break
		}
	}
	c.discard()
	c.ours.Close()
}

// pump frames the proxy's bytes to the container until the proxy or the
// container ends the connection; only then is its place free.
func (m *relayMux) pump(c *relayConn) {
	buf := make([]byte, maxRelayFrame)
	for {
		n, err := c.ours.Read(buf)
		if n > 0 && m.frame(c.id, frameData, buf[:n]) != nil {
			break
		}
		if err != nil {
			break
		}
	}
	c.ours.Close()
	c.cancel()
	m.remove(c)
	c.discard()
	_ = m.frame(c.id, frameClose, nil)
	m.mu.Lock()
	m.active--
	m.mu.Unlock()
}

// closer tells the relay to close the connections refused as they opened.
func (m *relayMux) closer() {
	for id := range m.closes {
		_ = m.frame(id, frameClose, nil)
	}
}

func (m *relayMux) lookup(id uint32) *relayConn {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.conns[id]
}

// remove takes c out of the open connections (not another that reuses
// its id: relay.js does not, but the stream may be anyone's).
func (m *relayMux) remove(c *relayConn) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.conns[c.id] == c {
		delete(m.conns, c.id)
	}
}

// closeAll ends every connection: the stream ended.
func (m *relayMux) closeAll() {
	m.mu.Lock()
	all := m.conns
	m.conns = map[uint32]*relayConn{}
	m.mu.Unlock()
	for _, c := range all {
		c.discard()
		c.ours.Close()
	}
}

// relayConn is one relayed connection: the container's bytes wait in a
// queue of at most maxRelayQueue bytes for feed to hand them to the proxy
// through a pipe, whose other end the proxy serves.
type relayConn struct {
	id     uint32
	ours   net.Conn
	cancel context.CancelFunc // the proxy's context for this connection

	mu    sync.Mutex
	buf   []byte        // waiting for feed
	ended bool          // nothing more comes
	wake  chan struct{} // capacity 1: buf or ended changed
}

// push queues a copy of p; false when that would exceed maxRelayQueue.
func (c *relayConn) push(p []byte) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.ended {
		return true
	}
	if len(c.buf)+len(p) > maxRelayQueue {
		return false
	}
	c.buf = append(c.buf, p...)
	c.signal()
	return true
}

// end says the container closed it: what is queued is still handed on.
func (c *relayConn) end() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended = true
	c.signal()
}

// discard ends it and drops what is queued.
func (c *relayConn) discard() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ended, c.buf = true, nil
	c.signal()
}

func (c *relayConn) signal() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// pop waits for queued bytes and takes them all; nil once it has ended
// and nothing is left.
func (c *relayConn) pop() []byte {
	for {
		c.mu.Lock()
		if p := c.buf; len(p) > 0 {
			c.buf = nil
			c.mu.Unlock()
			return p
		}
		ended := c.ended
		c.mu.Unlock()
		if ended {
			return nil
		}
		<-c.wake
	}
}

// escapeWriter writes 0x10 as 0x10 0x00, so the detach sequence 0x10 0x11
// never occurs in the relay's stdin; relay.js undoes it.
type escapeWriter struct{ w io.Writer }

func (e escapeWriter) Write(p []byte) (int, error) {
	if _, err := e.w.Write(appendEscaped(nil, p)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// appendEscaped appends p to dst with each 0x10 followed by 0x00.
func appendEscaped(dst, p []byte) []byte {
	for {
		i := bytes.IndexByte(p, 0x10)
		if i < 0 {
			return append(dst, p...)
		}
		dst = append(append(dst, p[:i+1]...), 0)
		p = p[i+1:]
	}
}
