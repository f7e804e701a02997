package sandbox

import (
	"archive/zip"
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Hostile input for the egress proxy and the relay mux (DESIGN invariant
// 12), with the memory it costs measured: each flood runs in a test
// process of its own (TestBoundsScenario), which reports its peak RSS
// (VmHWM) and the bytes it allocated.

// scenarioEnv names the scenario a subprocess runs.
const scenarioEnv = "SAFE_INSTALL_BOUNDS_SCENARIO"

// footprint is what one scenario cost its process.
type footprint struct {
	peakKiB    int64 // VmHWM
	allocBytes int64 // runtime TotalAlloc
}

// measure runs scenario name in a fresh test process.
func measure(t *testing.T, name string) footprint {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestBoundsScenario$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), scenarioEnv+"="+name)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("scenario %s: %v\n%s", name, err, out)
	}
	m := regexp.MustCompile(`footprint: peak (\d+) KiB, allocated (\d+) bytes`).FindSubmatch(out)
	if m == nil {
		t.Fatalf("scenario %s reported no footprint:\n%s", name, out)
	}
	peak, _ := strconv.ParseInt(string(m[1]), 10, 64)
	alloc, _ := strconv.ParseInt(string(m[2]), 10, 64)
	return footprint{peak, alloc}
}

// TestBoundsScenario is the subprocess of measure.
func TestBoundsScenario(t *testing.T) {
	name := os.Getenv(scenarioEnv)
	if name == "" {
		t.Skip("runs as a subprocess of the bounds tests")
	}
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	boundsScenario(name)(t)
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	status, _ := os.ReadFile("/proc/self/status")
	m := regexp.MustCompile(`VmHWM:\s+(\d+) kB`).FindSubmatch(status)
	if m == nil {
		t.Fatalf("no VmHWM in /proc/self/status")
	}
	fmt.Printf("footprint: peak %s KiB, allocated %d bytes\n", m[1], after.TotalAlloc-before.TotalAlloc)
}

func boundsScenario(name string) func(testing.TB) {
	switch name {
	case "baseline":
		return func(testing.TB) {}
	case "naive-line":
		return naiveRequestLine
	case "proxy-line":
		return func(t testing.TB) {
			floodProxy(t, "GET http://127.0.0.1:1/", 'a', http.StatusRequestHeaderFieldsTooLarge)
		}
	case "proxy-headers":
		return func(t testing.TB) {
			floodProxy(t, "GET http://127.0.0.1:1/ HTTP/1.1\r\n", 'h', http.StatusRequestHeaderFieldsTooLarge)
		}
	case "proxy-body":
		return func(t testing.TB) {
			floodProxy(t, "POST http://127.0.0.1:1/ HTTP/1.1\r\nHost: x\r\nContent-Length: 4294967296\r\n\r\n", 'b', http.StatusMethodNotAllowed)
		}
	case "mux-tiny-frames":
		return muxTinyFrames
	case "mux-huge-frame":
		return muxHugeFrame
	case "mux-open-flood":
		return muxOpenFlood
	case "mux-worst-case":
		return muxWorstCase
	case "decoys-big-file":
		return decoysInABigFile
	}
	panic("no scenario " + name)
}

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
	e, err := NewEgress([]Registry{{URL: "http://127.0.0.1:1/"}})
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
// raceFactor times as much.
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
			base.peakKiB, naive.peakKiB, naive.allocBytes>>20)
		if naive.peakKiB-base.peakKiB < floodSize>>10 {
			t.Errorf("the positive control grew by only %d KiB: is the flood armed?", naive.peakKiB-base.peakKiB)
		}
	}
	for _, name := range []string{"proxy-line", "proxy-headers", "proxy-body"} {
		f := measure(t, name)
		t.Logf("%s: peak %d KiB (+%d), allocated %d KiB", name, f.peakKiB, f.peakKiB-base.peakKiB, f.allocBytes>>10)
		if f.peakKiB-base.peakKiB > slack*raceFactor || f.allocBytes > 16<<20 {
			t.Errorf("%s: peak %d KiB over the baseline's %d, allocated %d bytes", name, f.peakKiB, base.peakKiB, f.allocBytes)
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
			e, err := NewEgress([]Registry{{URL: reg.URL + "/"}, {URL: "https://" + strings.TrimPrefix(reg.URL, "http://") + "/"}})
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

// The output capture keeps the last max bytes in at most 2*max, whatever
// the writes: many tiny ones, one huge one.
func TestTailBufferIsBounded(t *testing.T) {
	t.Parallel()
	tb := newTailBuffer(1000)
	var all []byte
	for i := 0; i < 100_000; i++ {
		b := byte('a' + i%26)
		tb.Write([]byte{b})
		all = append(all, b)
	}
	if got := tb.String(); got != string(all[len(all)-1000:]) || cap(tb.buf) > 2000 {
		t.Errorf("after tiny writes: %d bytes kept in %d", len(got), cap(tb.buf))
	}
	huge := bytes.Repeat([]byte("0123456789"), 1<<20)
	tb.Write(huge)
	tb.Write([]byte("end"))
	if got := tb.String(); got != string(append(huge[len(huge)-997:], "end"...)) || cap(tb.buf) > 2000 {
		t.Errorf("after a huge write: %d bytes kept in %d", len(got), cap(tb.buf))
	}
}

// A staged file as large as a script cares to make it, full of base64 runs
// (the decoy scan decodes those), with a decoy stashed at its very end,
// base64-encoded: the scan finds it without holding the file.
func decoysInABigFile(t testing.TB) {
	d := newDecoys()
	dir := t.(*testing.T).TempDir()
	f, err := os.Create(dir + "/big.txt")
	if err != nil {
		t.Fatal(err)
	}
	line := bytes.Repeat([]byte("QUJD"), 16)
	block := bytes.Repeat(append(line, '\n'), (1<<20)/(len(line)+1))
	for i := 0; i < 256; i++ {
		f.Write(block)
	}
	f.WriteString(base64.StdEncoding.EncodeToString([]byte(d.env["GITHUB_TOKEN"])))
	f.Close()
	hits, err := d.scanTree(dir)
	if err != nil || len(hits["big.txt"]) != 1 {
		t.Errorf("hits %v, %v", hits, err)
	}
}

// The decoy scan of a 256 MiB staged file holds a window of it, not all.
func TestDecoyScanIsBounded(t *testing.T) {
	t.Parallel()
	base := measure(t, "baseline")
	f := measure(t, "decoys-big-file")
	t.Logf("decoys-big-file: peak %d KiB (+%d), allocated %d MiB", f.peakKiB, f.peakKiB-base.peakKiB, f.allocBytes>>20)
	if f.peakKiB-base.peakKiB > slack*raceFactor {
		t.Errorf("peak %d KiB over the baseline's %d", f.peakKiB, base.peakKiB)
	}
}

// What a window's end cuts is found: a raw value across the first, and a
// double base64 stash across the second, inside a base64 run that began
// further back than scanCarry (it is carried from a 4-aligned offset, so
// it decodes the same).
func TestDecoyScanAcrossWindows(t *testing.T) {
	t.Parallel()
	d := newDecoys()
	b64 := base64.StdEncoding
	window := scanWindow + scanCarry // the first read fills the buffer
	first, second := window, 2*window-(d.newScan().longest-1)
	data := bytes.Repeat([]byte{'.'}, second+window)
	copy(data[first-10:], d.env["GITHUB_TOKEN"])
	pad := bytes.Repeat([]byte{'p'}, 3*(scanCarry+12345)/4)
	inner := append(append(append([]byte{}, pad...), b64.EncodeToString([]byte(d.env["NPM_TOKEN"]))...), pad...)
	run := b64.EncodeToString(inner)
	at := second - 4*len(pad)/3 - 30 // the stash's encoding starts 30 bytes before the window's end
	if (second-at-scanCarry)%4 == 0 {
		at-- // so that carrying unaligned would decode garbage
	}
	copy(data[at:], run)
	got, err := d.findIn(bytes.NewReader(data), 100) // larger than it says
	if err != nil || !slices.Equal(got, []string{"GITHUB_TOKEN", "NPM_TOKEN"}) {
		t.Errorf("found %v, %v", got, err)
	}
	got, err = d.findIn(bytes.NewReader(data), uint64(len(data)))
	if err != nil || !slices.Equal(got, []string{"GITHUB_TOKEN", "NPM_TOKEN"}) {
		t.Errorf("found %v, %v", got, err)
	}
}

// zipEntries reads the member count from the end of the archive, zip64's
// included, and finds none in what is no zip.
func TestZipEntries(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 3, 70_000} {
		var buf bytes.Buffer
		w := zip.NewWriter(&buf)
		for i := 0; i < n; i++ {
			w.CreateHeader(&zip.FileHeader{Name: strconv.Itoa(i), Method: zip.Store})
		}
		w.Close()
		got, err := zipEntries(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
		if err != nil || got != uint64(n) {
			t.Errorf("%d members: read %d, %v", n, got, err)
		}
	}
	if got, err := zipEntries(strings.NewReader("no zip at all"), 13); err != nil || got != 0 {
		t.Errorf("no zip: %d, %v", got, err)
	}
}

// A decoy copied into a thousand files is listed in maxStashes of them and
// counted in the rest: the report stays short.
func TestStashesAreBounded(t *testing.T) {
	t.Parallel()
	d := newDecoys()
	files := map[string]string{}
	for i := 0; i < 1000; i++ {
		files[fmt.Sprintf("node_modules/evil/loot-%04d.txt", i)] = d.env["GITHUB_TOKEN"]
	}
	r := &runner{decoys: d, staging: writeProject(t, files), plan: &Plan{Artifacts: []string{"node_modules"}}, res: &Result{}}
	if err := r.decoysInArtifacts(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.res.Theft); n != maxStashes+1 || !strings.Contains(r.res.Theft[n-1].How, "980 more files") {
		t.Errorf("%d theft attempts, the last %+v", n, r.res.Theft[len(r.res.Theft)-1])
	}
}
