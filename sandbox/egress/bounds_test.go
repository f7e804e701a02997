package egress

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/internal/footprint"
)

// Hostile input for the egress proxy and the relay mux (invariant
// 12), with the memory it costs measured in a process of its own
// (footprint).

// TestFootprint runs one scenario in a subprocess of footprint.Measure.
func TestFootprint(t *testing.T) {
	footprint.Serve(t, map[string]func(testing.TB){
		"naive-line": naiveRequestLine,
		"proxy-line": func(t testing.TB) {
			floodProxy(t, "GET http://127.0.0.1:1/", 'a', http.StatusRequestHeaderFieldsTooLarge)
		},
		"proxy-headers": func(t testing.TB) {
			floodProxy(t, "GET http://127.0.0.1:1/ HTTP/1.1\r\n", 'h', http.StatusRequestHeaderFieldsTooLarge)
		},
		"proxy-body": func(t testing.TB) {
			floodProxy(t, "POST http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4294967296\r\n\r\n", 'b', http.StatusMethodNotAllowed)
		},
		"mux-tiny-frames": muxTinyFrames,
		"mux-huge-frame":  muxHugeFrame,
		"mux-open-flood":  muxOpenFlood,
		"mux-worst-case":  muxWorstCase,
	})
}

func measure(t *testing.T, name string) footprint.Footprint { return footprint.Measure(t, name) }

// flood is a generated stream: prefix, then fill bytes (header lines
// when fill is 'h'), size bytes in all, never held in memory.
type flood struct {
	prefix string
	fill   byte
	size   int64
	sent   int64
	block  []byte
}

func (f *flood) Read(p []byte) (int, error) {
	if f.sent >= f.size {
		return 0, io.EOF
	}
	if f.block == nil {
		unit := []byte{f.fill}
		if f.fill == 'h' {
			unit = []byte("X-Flood: yes\r\n")
		}
		f.block = bytes.Repeat(unit, (64<<10)/len(unit))
	}
	var n int
	if f.sent < int64(len(f.prefix)) {
		n = copy(p, f.prefix[f.sent:])
	} else {
		n = copy(p, f.block)
	}
	n = int(min(int64(n), f.size-f.sent))
	f.sent += int64(n)
	return n, nil
}

// floodSize is the red-team's request line: 256 MiB.
const floodSize = 256 << 20

// floodProxy streams a 256 MiB request (line, headers or body) at the
// proxy and expects code, the connection closed and the rest unread.
func floodProxy(t testing.TB, prefix string, fill byte, code int) {
	e := testEgress(t)
	client, server := net.Pipe()
	served := make(chan struct{})
	go func() { e.ServeConn(context.Background(), server); close(served) }()
	src := &flood{prefix: prefix, fill: fill, size: floodSize}
	wrote := make(chan int64, 1)
	go func() { n, _ := io.Copy(client, src); wrote <- n }()
	resp, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		t.Fatalf("reading the proxy's answer: %v", err)
	}
	io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != code {
		t.Errorf("status %d, want %d", resp.StatusCode, code)
	}
	<-served
	client.Close()
	if n := <-wrote; n > 1<<20 {
		t.Errorf("the proxy read %d bytes of the flood; it should stop at the bound", n)
	}
	if code == http.StatusRequestHeaderFieldsTooLarge && !refusedFor(e, "maxRequestHead") {
		t.Errorf("no refusal names maxRequestHead: %+v", e.Refused())
	}
}

// naiveRequestLine is the positive control: http.ReadRequest straight on
// a bufio.Reader, as the proxy read requests before the bounds.
func naiveRequestLine(t testing.TB) {
	client, server := net.Pipe()
	go func() {
		io.Copy(client, &flood{prefix: "GET http://127.0.0.1:1/", fill: 'a', size: floodSize})
		client.Close()
	}()
	if _, err := http.ReadRequest(bufio.NewReader(server)); err == nil {
		t.Fatal("the flood parsed as a request")
	}
}

func testEgress(t testing.TB) *Egress {
	e, err := New([]Registry{{URL: "http://127.0.0.1:1/"}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func refusedFor(e *Egress, bound string) bool {
	for _, r := range e.Refused() {
		if strings.Contains(r.Reason, bound) {
			return true
		}
	}
	return false
}

// slack is what a flood may cost over an idle test process (KiB): the
// relay and proxy budget about 25 MiB at worst; the race detector takes
// footprint.RaceFactor times as much.
const slack = 32 << 10

// The red-team's 256 MiB request line, endless headers and a 4 GiB body,
// against the proxy: each is refused at its bound, and memory stays put;
// the same line against plain http.ReadRequest costs more than it carries.
func TestProxyFloodsAreBounded(t *testing.T) {
	t.Parallel()
	base := measure(t, "baseline")
	if testing.Short() {
		t.Log("-short: no positive control (it takes about 0.9 GiB, 2-3 GiB under -race)")
	} else {
		naive := measure(t, "naive-line")
		t.Logf("baseline: peak %d KiB; naive http.ReadRequest on the 256 MiB line: peak %d KiB, allocated %d MiB",
			base.PeakKiB, naive.PeakKiB, naive.AllocBytes>>20)
		if naive.PeakKiB-base.PeakKiB < floodSize>>10 {
			t.Errorf("the positive control grew by only %d KiB: is the flood armed?", naive.PeakKiB-base.PeakKiB)
		}
	}
	for _, name := range []string{"proxy-line", "proxy-headers", "proxy-body"} {
		f := measure(t, name)
		t.Logf("%s: peak %d KiB (+%d), allocated %d KiB", name, f.PeakKiB, f.PeakKiB-base.PeakKiB, f.AllocBytes>>10)
		if f.PeakKiB-base.PeakKiB > slack*footprint.RaceFactor || f.AllocBytes > 16<<20 {
			t.Errorf("%s: peak %d KiB over the baseline's %d, allocated %d bytes", name, f.PeakKiB, base.PeakKiB, f.AllocBytes)
		}
	}
}

// A GET with a body is refused without reading it, and so is a chunked one.
func TestProxyRefusesRequestBodies(t *testing.T) {
	t.Parallel()
	for _, raw := range []string{
		"GET http://127.0.0.1:1/x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
		"GET http://127.0.0.1:1/x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
	} {
		e := testEgress(t)
		if code, _ := roundTrip(t, e, raw); code != http.StatusBadRequest {
			t.Errorf("status %d, want 400 for %q", code, raw)
		}
	}
}

// The time bounds: a trickled head is cut at headTimeout and recorded; an
// idle connection closes quietly; a TLS handshake that never comes and an
// answer nobody reads end at theirs.
func TestProxyTimeBounds(t *testing.T) {
	t.Parallel()
	short := connBounds{head: 200 * time.Millisecond, idle: 200 * time.Millisecond, handshake: 200 * time.Millisecond, write: 200 * time.Millisecond}
	reg := newUpstream(t)
	tests := []struct {
		name, send string
		read       bool   // read the answer
		bound      string // the refusal expected, "" for none
	}{
		{"trickled head", "GET " + reg.URL + "/x HTTP/1.1\r\nHost: x\r\n", true, "headTimeout"},
		{"trickled header line", "GET " + reg.URL + "/x HTTP/1.1\r\nHost: x\r\nX-Trickle", true, "headTimeout"},
		{"idle", "", false, ""},
		{"no TLS handshake", "CONNECT " + strings.TrimPrefix(reg.URL, "http://") + " HTTP/1.1\r\nHost: x\r\n\r\n", true, "handshakeTimeout"},
		{"answer never read", "GET " + reg.URL + "/x HTTP/1.1\r\nHost: x\r\n\r\n", false, "writeTimeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := New([]Registry{{URL: reg.URL + "/"}, {URL: "https://" + strings.TrimPrefix(reg.URL, "http://") + "/"}})
			if err != nil {
				t.Fatal(err)
			}
			e.bounds = short
			client, server := net.Pipe()
			defer client.Close()
			served := make(chan struct{})
			go func() { e.ServeConn(context.Background(), server); close(served) }()
			go io.WriteString(client, tt.send)
			if tt.read {
				go io.Copy(io.Discard, client) // the CONNECT's 200, the 408
			}
			select {
			case <-served:
			case <-time.After(5 * time.Second):
				t.Fatal("the connection outlived its bounds")
			}
			got := e.Refused()
			switch {
			case tt.bound == "" && len(got) > 0:
				t.Errorf("refused %+v", got)
			case tt.bound != "" && !refusedFor(e, tt.bound):
				t.Errorf("refusals %+v; want one naming %s", got, tt.bound)
			}
		})
	}
}

// A repeated refusal is listed once with its count, the list stops at
// maxRefusals, and a long path is clipped.
func TestRefusalsAreBounded(t *testing.T) {
	t.Parallel()
	e := testEgress(t)
	for i := 0; i < 1000; i++ {
		e.record(Refusal{Method: "POST", Host: "h", Path: "/same", Reason: "r"})
	}
	for i := 0; i < 2*maxRefusals; i++ {
		e.record(Refusal{Method: "GET", Host: "h", Path: "/" + strconv.Itoa(i) + strings.Repeat("p", 10000), Reason: "r"})
	}
	got := e.Refused()
	if len(got) != maxRefusals+1 {
		t.Fatalf("%d refusals listed, want %d and a count", len(got), maxRefusals+1)
	}
	if got[0].Count != 1000 || !strings.HasSuffix(got[0].Reason, "(1000 times)") {
		t.Errorf("first: %+v", got[0])
	}
	if last := got[len(got)-1]; last.Count != maxRefusals+1 || !strings.Contains(last.Reason, "maxRefusals") {
		t.Errorf("last: %+v", last)
	}
	if n := len(got[1].Path); n > maxRefusalField+3 {
		t.Errorf("a path of %d bytes kept", n)
	}
}
