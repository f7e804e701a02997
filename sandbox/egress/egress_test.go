package egress

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// upstream is a registry stand-in that records what reaches it.
type upstream struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // "METHOD path auth"
}

func newUpstream(t *testing.T) *upstream {
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		u.mu.Unlock()
		io.WriteString(w, "package data for "+r.URL.Path)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) requests() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]string(nil), u.seen...)
}

// roundTrip sends one raw request through the proxy and returns the status
// code and body.
func roundTrip(t *testing.T, e *Egress, raw string) (int, string) {
	t.Helper()
	client, server := net.Pipe()
	go e.ServeConn(context.Background(), server)
	defer client.Close()
	go io.WriteString(client, raw)
	req := &http.Request{Method: strings.Fields(raw)[0]} // a HEAD answer has no body
	resp, err := http.ReadResponse(bufio.NewReader(client), req)
	if err != nil {
		t.Fatalf("reading the proxy's answer: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func TestEgressFiltersHostsAndMethods(t *testing.T) {
	t.Parallel()
	reg, other := newUpstream(t), newUpstream(t)
	e, err := New([]Registry{{URL: reg.URL + "/npm/", Auth: "Bearer SECRET-TOKEN"}})
	if err != nil {
		t.Fatal(err)
	}
	host := strings.TrimPrefix(reg.URL, "http://")
	otherHost := strings.TrimPrefix(other.URL, "http://")
	tests := []struct {
		name, raw string
		code      int
	}{
		{"get", "GET " + reg.URL + "/npm/left-pad HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 200},
		{"head", "HEAD " + reg.URL + "/npm/left-pad HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 200},
		{"put", "PUT " + reg.URL + "/npm/left-pad HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 2\r\n\r\n{}", 405},
		{"post", "POST " + reg.URL + "/npm/-/v1/login HTTP/1.1\r\nHost: " + host + "\r\nContent-Length: 0\r\n\r\n", 405},
		{"other host", "GET " + other.URL + "/x HTTP/1.1\r\nHost: " + otherHost + "\r\n\r\n", 403},
		{"outside the registry path", "GET " + reg.URL + "/admin HTTP/1.1\r\nHost: " + host + "\r\n\r\n", 403},
		{"connect elsewhere", "CONNECT " + otherHost + " HTTP/1.1\r\nHost: " + otherHost + "\r\n\r\n", 403},
	}
	for _, tt := range tests {
		code, body := roundTrip(t, e, tt.raw)
		if code != tt.code {
			t.Errorf("%s: status %d (%s), want %d", tt.name, code, body, tt.code)
		}
		if strings.Contains(body, "SECRET-TOKEN") {
			t.Errorf("%s: the answer carries the credential", tt.name)
		}
	}
	for _, r := range reg.requests() {
		if !strings.HasPrefix(r, "GET ") && !strings.HasPrefix(r, "HEAD ") {
			t.Errorf("the registry saw %q", r)
		}
		if !strings.HasSuffix(r, "Bearer SECRET-TOKEN") {
			t.Errorf("the registry saw %q without the injected credential", r)
		}
	}
	if n := len(other.requests()); n != 0 {
		t.Errorf("the other host got %d requests", n)
	}
	if got := len(e.Refused()); got != 5 {
		t.Errorf("%d refusals recorded, want 5: %+v", got, e.Refused())
	}
	if c := e.Contacted(); len(c) != 1 || !strings.HasPrefix(c[0], "127.0.0.1:") {
		t.Errorf("contacted %v", c)
	}
}

// A credential goes only to the registry it belongs to, and a client's own
// Authorization header never passes.
func TestEgressCredentialOnlyForItsRegistry(t *testing.T) {
	t.Parallel()
	a, b := newUpstream(t), newUpstream(t)
	e, err := New([]Registry{{URL: a.URL + "/", Auth: "Bearer TOKEN-A"}, {URL: b.URL + "/"}})
	if err != nil {
		t.Fatal(err)
	}
	roundTrip(t, e, "GET "+b.URL+"/pkg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer FROM-CLIENT\r\n\r\n")
	if got := b.requests(); len(got) != 1 || got[0] != "GET /pkg " {
		t.Errorf("registry b saw %q; want no Authorization at all", got)
	}
}

// HTTPS through CONNECT: the proxy presents a certificate from the run's CA
// and forwards the request inside the tunnel.
func TestEgressConnectTerminatesTLS(t *testing.T) {
	t.Parallel()
	reg := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Method+" "+r.Header.Get("Authorization"))
	}))
	// The registry speaks HTTP/2, as registry.npmjs.org does.
	reg.EnableHTTP2 = true
	reg.StartTLS()
	defer reg.Close()
	e, err := New([]Registry{{URL: reg.URL + "/", Auth: "Bearer T"}})
	if err != nil {
		t.Fatal(err)
	}
	// Upstream trust: the test server's own certificate.
	e.client.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: poolOf(reg.Certificate()), NextProtos: []string{"h2", "http/1.1"}}
	host := strings.TrimPrefix(reg.URL, "https://")
	client, server := net.Pipe()
	go e.ServeConn(context.Background(), server)
	defer client.Close()
	go io.WriteString(client, "CONNECT "+host+" HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
	br := bufio.NewReader(client)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("CONNECT: %v %v", resp, err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(e.CACert())
	tc := tls.Client(bufferedConn{Conn: client, r: br}, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"})
	go io.WriteString(tc, "GET /pkg HTTP/1.1\r\nHost: "+host+"\r\n\r\n")
	resp, err = http.ReadResponse(bufio.NewReader(tc), nil)
	if err != nil {
		t.Fatalf("request in the tunnel: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if string(body) != "GET Bearer T" {
		t.Errorf("upstream answered %q", body)
	}
	if resp.Proto != "HTTP/1.1" {
		// pnpm 12's client refuses an "HTTP/2.0" status line.
		t.Errorf("the sandbox got a %s status line, want HTTP/1.1", resp.Proto)
	}
}

func poolOf(c *x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

func TestRelayEscapesDetachKeys(t *testing.T) {
	t.Parallel()
	var buf strings.Builder
	w := escapeWriter{&buf}
	w.Write([]byte{0x10, 0x11, 'a', 0x10})
	if got := []byte(buf.String()); string(got) != string([]byte{0x10, 0, 0x11, 'a', 0x10, 0}) {
		t.Errorf("escaped % x", got)
	}
}
