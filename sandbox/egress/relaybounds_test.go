package egress

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/internal/footprint"
)

// frameSink stands for the container's stdin: it undoes the escaping and
// keeps what the mux wrote, frame by frame (the mux writes one per call).
type frameSink struct {
	mu     sync.Mutex
	counts map[byte]int
	data   map[uint32][]byte // the first 1 KiB sent on each connection
	closed map[uint32]bool
	abort  string
}

func newFrameSink() *frameSink {
	return &frameSink{counts: map[byte]int{}, data: map[uint32][]byte{}, closed: map[uint32]bool{}}
}

func (s *frameSink) Write(p []byte) (int, error) {
	raw := bytes.ReplaceAll(p, []byte{0x10, 0}, []byte{0x10})
	id, typ, payload := binary.BigEndian.Uint32(raw), raw[4], raw[frameHead:]
	s.mu.Lock()
	defer s.mu.Unlock()
	s.counts[typ]++
	switch typ {
	case frameData:
		if len(s.data[id]) < 1024 {
			s.data[id] = append(s.data[id], payload...)
		}
	case frameClose:
		s.closed[id] = true
	case frameAbort:
		s.abort = string(payload)
	}
	return len(p), nil
}

// waitFor polls cond for up to 10 s.
func (s *frameSink) waitFor(t testing.TB, what string, cond func(*frameSink) bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		s.mu.Lock()
		ok := cond(s)
		s.mu.Unlock()
		if ok {
			return
		}
	}
	t.Fatalf("the relay's stdin never showed %s", what)
}

// sendFrame writes one frame as relay.js does (its stdout is not escaped).
func sendFrame(w io.Writer, id uint32, typ byte, payload []byte) error {
	head := make([]byte, frameHead, frameHead+len(payload))
	binary.BigEndian.PutUint32(head, id)
	head[4] = typ
	binary.BigEndian.PutUint32(head[5:], uint32(len(payload)))
	_, err := w.Write(append(head, payload...))
	return err
}

// startMux runs a mux on a stream the test writes; wait ends the stream
// and returns run's error.
func startMux(srv relayServer) (in *io.PipeWriter, sink *frameSink, wait func() error) {
	pr, pw := io.Pipe()
	sink = newFrameSink()
	m := newRelayMux(sink, srv)
	done := make(chan error, 1)
	go func() { done <- m.run(pr) }()
	return pw, sink, func() error { pw.Close(); return <-done }
}

// 100,000 tiny frames: a request head sent six bytes at a time that never
// ends, then frames for a connection that never opened. The proxy ends the
// connection at a bound; the rest is dropped as it comes.
func muxTinyFrames(t testing.TB) {
	e := testEgress(t)
	in, sink, wait := startMux(e)
	sendFrame(in, 1, frameOpen, nil)
	sendFrame(in, 1, frameData, []byte("GET http://127.0.0.1:1/ HTTP/1.1\r\n"))
	for i := 0; i < 100_000; i++ {
		sendFrame(in, 1, frameData, []byte("X: y\r\n"))
	}
	for i := 0; i < 100_000; i++ {
		sendFrame(in, 7, frameData, []byte{'z'})
	}
	sink.waitFor(t, "connection 1 closed", func(s *frameSink) bool { return s.closed[1] })
	if wait() != nil || !(refusedFor(e, "maxRequestHead") || refusedFor(e, "maxRelayQueue")) {
		t.Errorf("refusals %+v; want the connection ended at maxRequestHead or maxRelayQueue", e.Refused())
	}
}

// A frame that claims 4 GiB, then 64 MiB of whatever: the mux stops, tells
// the relay to end the fetch, and reads the rest without keeping it.
func muxHugeFrame(t testing.TB) {
	e := testEgress(t)
	in, sink, wait := startMux(e)
	go func() {
		sendFrame(in, 1, frameOpen, nil)
		head := []byte{0, 0, 0, 1, frameData, 0xff, 0xff, 0xff, 0xff}
		in.Write(head)
		io.Copy(in, &flood{fill: 'g', size: 64 << 20})
		in.Close()
	}()
	sink.waitFor(t, "an abort", func(s *frameSink) bool { return strings.Contains(s.abort, "maxRelayFrame") })
	if err := wait(); err == nil || !strings.Contains(err.Error(), "maxRelayFrame") {
		t.Errorf("run returned %v", err)
	}
	if !refusedFor(e, "maxRelayFrame") {
		t.Errorf("refusals %+v", e.Refused())
	}
}

// 10,000 opens and no close: maxRelayConns are served, the rest closed as
// they come, and the goroutines stay bounded.
func muxOpenFlood(t testing.TB) {
	e := testEgress(t)
	in, sink, wait := startMux(e)
	base := runtime.NumGoroutine()
	peak := 0
	for id := uint32(1); id <= 10_000; id++ {
		sendFrame(in, id, frameOpen, nil)
		if id%500 == 0 {
			peak = max(peak, runtime.NumGoroutine()-base)
		}
	}
	sink.waitFor(t, "refused connections closed", func(s *frameSink) bool {
		return s.counts[frameClose] >= min(10_000-maxRelayConns, maxRelayRefused)
	})
	if peak > 4*maxRelayConns {
		t.Errorf("%d goroutines more during the flood", peak)
	}
	wait()
	var n int
	for _, r := range e.Refused() {
		if strings.Contains(r.Reason, "maxRelayConns") {
			n = r.Count
		}
	}
	if n != 10_000-maxRelayConns {
		t.Errorf("%d opens refused, want %d: %+v", n, 10_000-maxRelayConns, e.Refused())
	}
}

// The worst a container can make the host hold: maxRelayConns
// connections, each with a request waiting upstream (a slow registry) and
// a full queue behind it that the proxy is not reading meanwhile.
func muxWorstCase(t testing.TB) {
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Second)
		io.WriteString(w, "late")
	}))
	defer reg.Close()
	e, err := New([]Registry{{URL: reg.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	in, sink, wait := startMux(e)
	junk := bytes.Repeat([]byte{'j'}, maxRelayFrame)
	for id := uint32(1); id <= maxRelayConns; id++ {
		sendFrame(in, id, frameOpen, nil)
		sendFrame(in, id, frameData, []byte("GET "+reg.URL+"/x HTTP/1.1\r\nHost: x\r\n\r\n"))
	}
	time.Sleep(200 * time.Millisecond) // the requests are upstream now
	for id := uint32(1); id <= maxRelayConns; id++ {
		sendFrame(in, id, frameData, append(junk[:maxRelayQueue-100:maxRelayQueue-100], "\r\n\r\n"...))
	}
	sink.waitFor(t, "every connection answered and closed", func(s *frameSink) bool { return len(s.closed) == maxRelayConns })
	wait()
	if refusedFor(e, "maxRelayQueue") {
		t.Errorf("a queue within its bound was refused: %+v", e.Refused())
	}
}

// The relay floods measured: tiny frames, a 4 GiB claim, 10,000 opens,
// every connection at its bounds at once.
func TestRelayFloodsAreBounded(t *testing.T) {
	t.Parallel()
	base := measure(t, "baseline")
	for _, name := range []string{"mux-tiny-frames", "mux-huge-frame", "mux-open-flood", "mux-worst-case"} {
		f := measure(t, name)
		t.Logf("%s: peak %d KiB (+%d), allocated %d KiB", name, f.PeakKiB, f.PeakKiB-base.PeakKiB, f.AllocBytes>>10)
		if f.PeakKiB-base.PeakKiB > slack*footprint.RaceFactor || f.AllocBytes > 64<<20 {
			t.Errorf("%s: peak %d KiB over the baseline's %d, allocated %d bytes", name, f.PeakKiB, base.PeakKiB, f.AllocBytes)
		}
	}
}

// stallServer never reads connection 1 and echoes the others.
type stallServer struct {
	mu      sync.Mutex
	refused []Refusal
	n       int
}

func (s *stallServer) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	s.mu.Lock()
	s.n++
	first := s.n == 1
	s.mu.Unlock()
	if first {
		<-ctx.Done() // the mux cancels it when it closes the connection
		return
	}
	io.Copy(c, c)
}

func (s *stallServer) record(r Refusal) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refused = append(s.refused, r)
}

// A connection whose consumer does not read is closed at maxRelayQueue,
// and another is served meanwhile: nothing waits for the slow one.
func TestRelaySlowConsumerIsClosedAlone(t *testing.T) {
	t.Parallel()
	srv := &stallServer{}
	in, sink, wait := startMux(srv)
	defer wait()
	sendFrame(in, 1, frameOpen, nil)
	chunk := bytes.Repeat([]byte{'s'}, maxRelayFrame)
	for sent := 0; sent < 4*maxRelayQueue; sent += len(chunk) {
		sendFrame(in, 1, frameData, chunk)
	}
	sendFrame(in, 2, frameOpen, nil)
	sendFrame(in, 2, frameData, []byte("ping"))
	sink.waitFor(t, "the echo on connection 2", func(s *frameSink) bool { return string(s.data[2]) == "ping" })
	sink.waitFor(t, "connection 1 closed", func(s *frameSink) bool { return s.closed[1] })
	srv.mu.Lock()
	defer srv.mu.Unlock()
	if len(srv.refused) != 1 || !strings.Contains(srv.refused[0].Reason, "maxRelayQueue") {
		t.Errorf("refused %+v", srv.refused)
	}
}

// Frames that relay.js never sends stop the fetch: an unknown type, an
// open of an open connection. Data and closes for unknown connections are
// dropped quietly (relay.js sends them after the host closed one).
func TestRelayProtocolViolations(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		frames func(io.Writer)
		abort  string
	}{
		{"unknown type", func(w io.Writer) { sendFrame(w, 1, 9, nil) }, "unknown type 9"},
		{"open twice", func(w io.Writer) { sendFrame(w, 1, frameOpen, nil); sendFrame(w, 1, frameOpen, nil) }, "opened while open"},
		{"unknown connection", func(w io.Writer) {
			sendFrame(w, 5, frameData, []byte("x"))
			sendFrame(w, 5, frameClose, nil)
		}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := &stallServer{}
			in, sink, wait := startMux(srv)
			tt.frames(in)
			if tt.abort != "" {
				sink.waitFor(t, "an abort", func(s *frameSink) bool { return strings.Contains(s.abort, tt.abort) })
			}
			err := wait()
			if (err != nil) != (tt.abort != "") {
				t.Errorf("run returned %v", err)
			}
			srv.mu.Lock()
			defer srv.mu.Unlock()
			if (len(srv.refused) > 0) != (tt.abort != "") {
				t.Errorf("refused %+v", srv.refused)
			}
		})
	}
}

// End to end in one process: a request through the mux reaches the
// registry and its answer comes back framed, with the bounds in place.
func TestRelayCarriesARequest(t *testing.T) {
	t.Parallel()
	reg := newUpstream(t)
	e, err := New([]Registry{{URL: reg.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	in, sink, wait := startMux(e)
	defer wait()
	sendFrame(in, 1, frameOpen, nil)
	sendFrame(in, 1, frameData, []byte("GET "+reg.URL+"/left-pad HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"))
	sink.waitFor(t, "the answer", func(s *frameSink) bool { return bytes.Contains(s.data[1], []byte("package data for /left-pad")) })
	sink.waitFor(t, "connection 1 closed", func(s *frameSink) bool { return s.closed[1] })
}
