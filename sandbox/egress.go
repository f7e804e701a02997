package sandbox

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// Registry is one registry the fetch phase may reach, with the credential
// the proxy adds to its requests. The credential never enters a container.
type Registry struct {
	URL  string `json:"url"`
	Auth string `json:"-"` // Authorization header value, or ""
}

// Refusal is a request the egress proxy did not forward.
type Refusal struct {
	Method string `json:"method"`
	Host   string `json:"host"`
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
}

// Egress is the fetch phase's only way out: an HTTP proxy on the host that
// forwards GET and HEAD to the allow-listed registries and refuses all else
// (DESIGN invariants 3 and 4). HTTPS is terminated with a per-run CA that
// only the fetch container trusts, so methods can be checked and
// credentials added here; the upstream connection uses the host's own TLS
// trust. The container itself has no network: it reaches the proxy through
// a relay over the engine's API.
type Egress struct {
	registries []Registry
	ca         *runCA
	client     *http.Client

	mu        sync.Mutex
	contacted map[string]bool
	refused   []Refusal
}

// NewEgress makes a proxy for these registries.
func NewEgress(registries []Registry) (*Egress, error) {
	ca, err := newRunCA()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment // the host's own proxy, if it needs one
	return &Egress{
		registries: registries,
		ca:         ca,
		client: &http.Client{
			Transport: tr,
			Timeout:   10 * time.Minute,
			// A redirect is the client's to follow, through the proxy
			// again, so its target is checked too.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		contacted: map[string]bool{},
	}, nil
}

// CACert is the PEM certificate the fetch container must trust.
func (e *Egress) CACert() []byte { return e.ca.certPEM }

// Contacted lists the hosts requests were forwarded to.
func (e *Egress) Contacted() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]string, 0, len(e.contacted))
	for h := range e.contacted {
		out = append(out, h)
	}
	sort.Strings(out)
	return out
}

// Refused lists the requests that were not forwarded.
func (e *Egress) Refused() []Refusal {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Refusal(nil), e.refused...)
}

// hostPort adds the scheme's default port.
func hostPort(scheme, host string) string {
	if _, _, err := net.SplitHostPort(host); err == nil {
		return strings.ToLower(host)
	}
	if scheme == "https" {
		return strings.ToLower(host) + ":443"
	}
	return strings.ToLower(host) + ":80"
}

// registryFor finds the allow-listed registry for a request: same scheme,
// host and port, with the path under the registry's path. The longest
// registry path wins, so a credential scoped to a path is not sent above it.
func (e *Egress) registryFor(u *url.URL) (Registry, bool) {
	return matchRegistry(e.registries, u)
}

func matchRegistry(registries []Registry, u *url.URL) (Registry, bool) {
	best, found := Registry{}, false
	for _, r := range registries {
		ru, err := url.Parse(r.URL)
		if err != nil || ru.Scheme != u.Scheme || hostPort(ru.Scheme, ru.Host) != hostPort(u.Scheme, u.Host) {
			continue
		}
		prefix := strings.TrimSuffix(ru.Path, "/") + "/"
		if !strings.HasPrefix(u.Path+"/", prefix) && u.Path != strings.TrimSuffix(prefix, "/") {
			continue
		}
		if !found || len(r.URL) > len(best.URL) {
			best, found = r, true
		}
	}
	return best, found
}

// hostAllowed says whether any registry lives at host:port (for CONNECT,
// before the path is known).
func (e *Egress) hostAllowed(scheme, host string) bool {
	for _, r := range e.registries {
		ru, err := url.Parse(r.URL)
		if err == nil && ru.Scheme == scheme && hostPort(ru.Scheme, ru.Host) == hostPort(scheme, host) {
			return true
		}
	}
	return false
}

func (e *Egress) refuse(w io.Writer, code int, r Refusal) {
	e.mu.Lock()
	e.refused = append(e.refused, r)
	e.mu.Unlock()
	body := fmt.Sprintf("safe-install refused %s %s%s: %s\n", r.Method, r.Host, r.Path, r.Reason)
	resp := &http.Response{StatusCode: code, ProtoMajor: 1, ProtoMinor: 1, Close: true,
		Header: http.Header{"Content-Type": {"text/plain"}}, ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body))}
	_ = resp.Write(w)
}

// ServeConn serves one client connection: absolute-form HTTP requests, or
// CONNECT to an allow-listed host followed by HTTPS requests.
func (e *Egress) ServeConn(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.Method == http.MethodConnect {
			if !e.hostAllowed("https", req.Host) {
				e.refuse(c, http.StatusForbidden, Refusal{Method: req.Method, Host: req.Host, Reason: "not an allow-listed registry"})
				return
			}
			if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
				return
			}
			tc := tls.Server(bufferedConn{Conn: c, r: br}, e.ca.serverConfig(req.Host))
			e.serveRequests(tc, bufio.NewReader(tc), "https", req.Host)
			return
		}
		if !e.forward(c, req, req.URL) {
			return
		}
	}
}

// serveRequests serves requests inside a CONNECT tunnel.
func (e *Egress) serveRequests(c net.Conn, br *bufio.Reader, scheme, host string) {
	defer c.Close()
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		u := *req.URL
		u.Scheme, u.Host = scheme, host
		if !e.forward(c, req, &u) {
			return
		}
	}
}

// forwardedHeaders are the request headers a registry needs; everything
// else (cookies, the client's own Authorization) stays behind.
var forwardedHeaders = []string{"Accept", "Accept-Encoding", "User-Agent", "If-None-Match", "If-Modified-Since",
	"Range", "Npm-Command", "Npm-Scope", "Npm-Session", "Npm-Auth-Type", "Pacote-Version", "Pacote-Req-Type",
	"Pacote-Pkg-Id", "Pacote-Integrity"}

// forward sends one request upstream and writes the response back. It
// returns false when the connection should close.
func (e *Egress) forward(w io.Writer, req *http.Request, u *url.URL) bool {
	if req.Body != nil {
		defer req.Body.Close()
	}
	ref := Refusal{Method: req.Method, Host: u.Host, Path: u.Path}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		ref.Reason = "only GET and HEAD reach a registry from the sandbox"
		e.refuse(w, http.StatusMethodNotAllowed, ref)
		return false
	}
	reg, ok := e.registryFor(u)
	if !ok {
		ref.Reason = "not an allow-listed registry"
		e.refuse(w, http.StatusForbidden, ref)
		return false
	}
	out, err := http.NewRequestWithContext(req.Context(), req.Method, u.String(), nil)
	if err != nil {
		ref.Reason = "bad request"
		e.refuse(w, http.StatusBadRequest, ref)
		return false
	}
	for _, h := range forwardedHeaders {
		if v := req.Header.Values(h); len(v) > 0 {
			out.Header[h] = v
		}
	}
	if reg.Auth != "" {
		out.Header.Set("Authorization", reg.Auth)
	}
	e.mu.Lock()
	e.contacted[hostPort(u.Scheme, u.Host)] = true
	e.mu.Unlock()
	resp, err := e.client.Do(out)
	if err != nil {
		// The error names the URL, which carries no credential.
		body := "safe-install: upstream: " + err.Error() + "\n"
		_ = (&http.Response{StatusCode: http.StatusBadGateway, ProtoMajor: 1, ProtoMinor: 1, Close: true,
			ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body))}).Write(w)
		return false
	}
	defer resp.Body.Close()
	resp.Close = req.Close
	if resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && req.Method != http.MethodHead {
		// Length unknown (the transport decompressed it): chunk it, so the
		// connection can carry the next request.
		resp.TransferEncoding = []string{"chunked"}
	}
	if err := resp.Write(w); err != nil {
		return false
	}
	return !req.Close
}

// bufferedConn reads what the request reader already buffered first.
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (b bufferedConn) Read(p []byte) (int, error) { return b.r.Read(p) }
