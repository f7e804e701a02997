package sandbox

import (
	"bytes"
	_ "embed"
	"encoding/binary"
	"io"
	"net"
	"sync"
)

// relayScript runs in the fetch container; see relay.js.
//
//go:embed relay.js
var relayScript []byte

// RelayPort is where the relay listens inside the fetch container.
const RelayPort = 3128

const (
	frameOpen  = 1
	frameData  = 2
	frameClose = 3
)

// relayMux is the host end of the relay: it reads frames from the
// container's stdout, hands each new connection to serve, and writes the
// replies as frames to the container's stdin.
type relayMux struct {
	serve func(net.Conn)

	wmu sync.Mutex
	w   io.Writer // the container's stdin

	mu    sync.Mutex
	conns map[uint32]chan []byte
}

func newRelayMux(w io.Writer, serve func(net.Conn)) *relayMux {
	return &relayMux{w: escapeWriter{w}, serve: serve, conns: map[uint32]chan []byte{}}
}

// DetachKeys are the attach session's detach keys: ctrl-p (0x10), ctrl-q.
const DetachKeys = "ctrl-p,ctrl-q"

// escapeWriter writes 0x10 as 0x10 0x00, so the detach sequence 0x10 0x11
// never occurs in the relay's stdin; relay.js undoes it.
type escapeWriter struct{ w io.Writer }

func (e escapeWriter) Write(p []byte) (int, error) {
	if bytes.IndexByte(p, 0x10) < 0 {
		return e.w.Write(p)
	}
	out := make([]byte, 0, len(p)+16)
	for _, b := range p {
		out = append(out, b)
		if b == 0x10 {
			out = append(out, 0)
		}
	}
	if _, err := e.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (m *relayMux) frame(id uint32, typ byte, payload []byte) error {
	head := make([]byte, 9, 9+len(payload))
	binary.BigEndian.PutUint32(head, id)
	head[4] = typ
	binary.BigEndian.PutUint32(head[5:], uint32(len(payload)))
	m.wmu.Lock()
	defer m.wmu.Unlock()
	_, err := m.w.Write(append(head, payload...))
	return err
}

// run reads frames from r (the container's stdout) until it ends.
func (m *relayMux) run(r io.Reader) error {
	head := make([]byte, 9)
	for {
		if _, err := io.ReadFull(r, head); err != nil {
			m.closeAll()
			if err == io.EOF {
				return nil
			}
			return err
		}
		id, typ, n := binary.BigEndian.Uint32(head), head[4], binary.BigEndian.Uint32(head[5:])
		if n > 16<<20 {
			m.closeAll()
			return io.ErrShortBuffer
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			m.closeAll()
			return err
		}
		switch typ {
		case frameOpen:
			m.open(id)
		case frameData:
			m.mu.Lock()
			ch := m.conns[id]
			m.mu.Unlock()
			if ch != nil {
				ch <- payload
			}
		case frameClose:
			m.mu.Lock()
			if ch := m.conns[id]; ch != nil {
				close(ch)
				delete(m.conns, id)
			}
			m.mu.Unlock()
		}
	}
}

func (m *relayMux) open(id uint32) {
	ours, theirs := net.Pipe()
	ch := make(chan []byte, 256)
	m.mu.Lock()
	m.conns[id] = ch
	m.mu.Unlock()
	// Container to proxy.
	go func() {
		for p := range ch {
			if _, err := ours.Write(p); err != nil {
				break
			}
		}
		ours.Close()
		for range ch { // drain what still arrives
		}
	}()
	// Proxy to container.
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := ours.Read(buf)
			if n > 0 && m.frame(id, frameData, buf[:n]) != nil {
				break
			}
			if err != nil {
				break
			}
		}
		_ = m.frame(id, frameClose, nil)
	}()
	go m.serve(theirs)
}

func (m *relayMux) closeAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id, ch := range m.conns {
		close(ch)
		delete(m.conns, id)
	}
}
