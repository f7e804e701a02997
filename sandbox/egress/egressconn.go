package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"time"
)

// The bounds on one connection from the sandbox to the egress proxy
// (invariant 12). In the pip fetch, build hooks are the client, so a
// connection's bytes and its pace are the sandbox's to choose. Each bound is
// far above what npm or pip needs and far below what would hurt the host;
// exceeding one ends that connection and records a Refusal that names it.
const (
	// maxRequestHead bounds a request's line and headers together: on a
	// bufio.Reader, http.ReadRequest grows a line without end (a metadata
	// hook sent one of 256 MiB and safe-install grew to 930 MiB). npm's and
	// pip's heads are under 2 KiB, and 32 KiB is what nginx (4 buffers of
	// 8 KiB) and Cloudflare accept in front of the registries anyway.
	// ReadRequest allocates about 7 times a head it refuses (measured), so
	// the bound is also what maxRelayConns of them at once cost.
	maxRequestHead = 32 << 10
	// headTimeout is how long a request head may take once its first byte
	// came: a client writes its head at once, so only a trickle takes long.
	headTimeout = 30 * time.Second
	// idleTimeout closes a kept-alive connection that sends no next
	// request. It is no refusal: npm and pip open a new connection when
	// they find theirs closed, as with any server.
	idleTimeout = 60 * time.Second
	// handshakeTimeout bounds a CONNECT tunnel's TLS handshake: one round
	// trip and one P-256 signature.
	handshakeTimeout = 30 * time.Second
	// writeTimeout is how long one write of an answer may wait for the
	// relay to take it. An answer streams for as long as it makes
	// progress; a container that stops reading holds it no longer.
	writeTimeout = 60 * time.Second
	// upstreamTimeout bounds one upstream request, body included: a large
	// tarball over a slow link.
	upstreamTimeout = 10 * time.Minute
	// maxUpstreamHead bounds a registry's response headers (a few KiB;
	// Go's default is 10 MiB).
	maxUpstreamHead = 1 << 20
)

// connBounds are the time bounds of one connection; NewEgress sets them
// from the constants above, tests shorten them.
type connBounds struct {
	head, idle, handshake, write time.Duration
}

var defaultConnBounds = connBounds{head: headTimeout, idle: idleTimeout, handshake: handshakeTimeout, write: writeTimeout}

// ServeConn serves one client connection: absolute-form HTTP requests, or
// CONNECT to an allow-listed host followed by HTTPS requests. It returns
// when the connection ends, a bound is exceeded or ctx is done (the relay
// cancels it when the connection goes away, so an upstream request stops).
func (e *Egress) ServeConn(ctx context.Context, c net.Conn) {
	defer c.Close()
	e.serveRequests(ctx, c, "", "")
}

// serveRequests serves the requests on c, a client connection (scheme "")
// or a CONNECT tunnel to host.
func (e *Egress) serveRequests(ctx context.Context, c net.Conn, scheme, host string) {
	lim := &headLimit{r: c}
	br := bufio.NewReader(lim)
	w := deadlineWriter{c, e.bounds.write}
	for {
		req, ok := e.nextRequest(c, br, lim, w, host)
		if !ok {
			return
		}
		if req.Method == http.MethodConnect && scheme == "" {
			e.tunnel(ctx, c, br, lim, req)
			return
		}
		u := req.URL
		if scheme != "" {
			inTunnel := *req.URL
			inTunnel.Scheme, inTunnel.Host = scheme, host
			u = &inTunnel
		}
		if !e.forward(ctx, w, req, u) {
			return
		}
	}
}

// nextRequest reads the next request head within the bounds: idle until
// its first byte, then headTimeout and maxRequestHead for the whole head.
// A bound exceeded is answered, recorded, and ends the connection.
func (e *Egress) nextRequest(c net.Conn, br *bufio.Reader, lim *headLimit, w io.Writer, host string) (*http.Request, bool) {
	// What br already holds was counted against the previous request's
	// budget: a head may reach maxRequestHead plus br's 4 KiB, no more.
	lim.n = maxRequestHead
	_ = c.SetReadDeadline(time.Now().Add(e.bounds.idle))
	if _, err := br.Peek(1); err != nil {
		return nil, false
	}
	_ = c.SetReadDeadline(time.Now().Add(e.bounds.head))
	req, err := http.ReadRequest(br)
	_ = c.SetReadDeadline(time.Time{})
	if err == nil {
		return req, true
	}
	ref := Refusal{Method: "-", Host: host}
	if ref.Host == "" {
		ref.Host = "relay"
	}
	// bufio.Reader hands a line cut short by a read error over as whole
	// (the error comes with the next read), so ReadRequest may answer
	// "malformed" for what was a bound: ask the reader below.
	switch {
	case lim.n <= 0 || errors.Is(err, errHeadTooLarge):
		ref.Reason = fmt.Sprintf("a request head over %d bytes (bound maxRequestHead)", maxRequestHead)
		e.refuse(w, http.StatusRequestHeaderFieldsTooLarge, ref)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(lim.err, os.ErrDeadlineExceeded):
		ref.Reason = fmt.Sprintf("a request head not complete within %s (bound headTimeout)", e.bounds.head)
		e.refuse(w, http.StatusRequestTimeout, ref)
	default:
		// Malformed: answered, not recorded (no bound, no policy).
		_ = plainResponse(http.StatusBadRequest, "safe-install: malformed request\n").Write(w)
	}
	return nil, false
}

// tunnel answers an allow-listed CONNECT and serves the HTTPS requests in
// it, terminating TLS with the run's CA.
func (e *Egress) tunnel(ctx context.Context, c net.Conn, br *bufio.Reader, lim *headLimit, req *http.Request) {
	w := deadlineWriter{c, e.bounds.write}
	if !e.hostAllowed("https", req.Host) {
		e.refuse(w, http.StatusForbidden, Refusal{Method: req.Method, Host: req.Host, Reason: "not an allow-listed registry"})
		return
	}
	if _, err := io.WriteString(w, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	// TLS records from here on; the requests inside have their own limit.
	lim.n = math.MaxInt64
	tc := tls.Server(bufferedConn{Conn: c, r: br}, e.ca.serverConfig(req.Host))
	defer tc.Close()
	_ = c.SetDeadline(time.Now().Add(e.bounds.handshake))
	if err := tc.Handshake(); err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			e.record(Refusal{Method: req.Method, Host: req.Host,
				Reason: fmt.Sprintf("a TLS handshake not done within %s (bound handshakeTimeout)", e.bounds.handshake)})
		}
		return
	}
	_ = c.SetDeadline(time.Time{})
	e.serveRequests(ctx, tc, "https", req.Host)
}

// errHeadTooLarge ends a request head past maxRequestHead.
var errHeadTooLarge = errors.New("request head too large")

// headLimit is the reader under a connection's bufio.Reader: it passes at
// most n more bytes, then fails with errHeadTooLarge. nextRequest resets n
// before each request. err is the last error from r.
type headLimit struct {
	r   io.Reader
	n   int64
	err error
}

func (l *headLimit) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errHeadTooLarge
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil {
		l.err = err
	}
	return n, err
}

// deadlineWriter gives each write to the client d to be taken (writeTimeout).
type deadlineWriter struct {
	c net.Conn
	d time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	_ = w.c.SetWriteDeadline(time.Now().Add(w.d))
	return w.c.Write(p)
}

// bufferedConn reads what the request reader already buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
