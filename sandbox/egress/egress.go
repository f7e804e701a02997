package egress

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
)

// Registry is one registry the fetch phase may reach, with the credential
// the proxy adds to its requests. The credential never enters a container.
type Registry struct {
	URL  string `json:"url"`
	Auth string `json:"-"` // Authorization header value, or ""
}

// Refusal is a request the egress proxy did not forward, or a connection
// the relay or the proxy ended at one of their bounds (Method "-"; Host
// "relay" when no request named one).
type Refusal struct {
	Method string `json:"method"`
	Host   string `json:"host"`
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
	// Count is how many times the same refusal happened, when more than once.
	Count int `json:"count,omitempty"`
}

// The bounds on what the proxy remembers of refusals: the report and the
// terminal stay short however often a package tries.
const (
	// maxRefusals is how many different refusals are listed; the rest
	// are only counted. Each repeat of a listed one adds to its Count.
	maxRefusals = 100
	// maxRefusalField is how much of a refused request's host or path is
	// kept (a path may be as long as maxRequestHead).
	maxRefusalField = 256
)

// Egress is the fetch phase's only way out: an HTTP proxy on the host that
// forwards GET and HEAD to the allow-listed registries and refuses all else
// (invariants 3 and 4). HTTPS is terminated with a per-run CA that
// only the fetch container trusts, so methods can be checked and
// credentials added here; the upstream connection uses the host's own TLS
// trust. The container itself has no network: it reaches the proxy through
// a relay over the engine's API.
type Egress struct {
	registries []Registry
	ca         *runCA
	client     *http.Client
	bounds     connBounds

	mu        sync.Mutex
	contacted map[string]bool
	failed    int // requests whose answer was no success (see Failed)
	refused   []Refusal
	seen      map[Refusal]int // index in refused, by the refusal without Count
	unlisted  int             // refusals past maxRefusals
}

// New makes a proxy for these registries.
func New(registries []Registry) (*Egress, error) {
	ca, err := newRunCA()
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.Proxy = http.ProxyFromEnvironment // the host's own proxy, if it needs one
	tr.MaxResponseHeaderBytes = maxUpstreamHead
	return &Egress{
		registries: registries,
		ca:         ca,
		bounds:     defaultConnBounds,
		client: &http.Client{
			Transport: tr,
			Timeout:   upstreamTimeout,
			// A redirect is the client's to follow, through the proxy
			// again, so its target is checked too.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		contacted: map[string]bool{},
		seen:      map[Refusal]int{},
	}, nil
}

// CACert is the PEM certificate the fetch container must trust.
func (e *Egress) CACert() []byte { return e.ca.certPEM }

// Failed counts the forwarded requests that got no answer or an error
// status (400 and up): a fetch that met one may have made a tree without
// what it could not get (npm skips an optional dependency it cannot
// fetch), so nothing is kept of it (package fetchedtree).
func (e *Egress) Failed() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.failed
}

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

// Refused lists the requests that were not forwarded and the connections
// ended at a bound, each once; a repeated one says how often.
func (e *Egress) Refused() []Refusal {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := append([]Refusal(nil), e.refused...)
	for i := range out {
		if out[i].Count > 1 {
			out[i].Reason += fmt.Sprintf(" (%d times)", out[i].Count)
		}
	}
	if e.unlisted > 0 {
		out = append(out, Refusal{Method: "-", Host: "relay",
			Reason: fmt.Sprintf("%d more refusals, not listed (bound maxRefusals)", e.unlisted), Count: e.unlisted})
	}
	return out
}

// record remembers a refusal, within maxRefusals and maxRefusalField.
func (e *Egress) record(r Refusal) {
	r.Host, r.Path, r.Count = clip(r.Host), clip(r.Path), 0
	e.mu.Lock()
	defer e.mu.Unlock()
	if i, ok := e.seen[r]; ok {
		e.refused[i].Count++
		return
	}
	if len(e.refused) >= maxRefusals {
		e.unlisted++
		return
	}
	e.seen[r] = len(e.refused)
	r.Count = 1
	e.refused = append(e.refused, r)
}

func clip(s string) string {
	if len(s) <= maxRefusalField {
		return s
	}
	return strings.ToValidUTF8(s[:maxRefusalField], "") + "..."
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
	return Match(e.registries, u)
}

// Match finds the registry among registries that a URL belongs to, as
// the proxy does (see registryFor).
func Match(registries []Registry, u *url.URL) (Registry, bool) {
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

// refuse records r and answers it with code; the connection then closes.
func (e *Egress) refuse(w io.Writer, code int, r Refusal) {
	e.record(r)
	_ = plainResponse(code, fmt.Sprintf("safe-install refused %s %s%s: %s\n", r.Method, clip(r.Host), clip(r.Path), r.Reason)).Write(w)
}

// plainResponse is an answer of the proxy's own, after which it closes.
func plainResponse(code int, body string) *http.Response {
	return &http.Response{StatusCode: code, ProtoMajor: 1, ProtoMinor: 1, Close: true,
		Header: http.Header{"Content-Type": {"text/plain"}}, ContentLength: int64(len(body)), Body: io.NopCloser(strings.NewReader(body))}
}

// forwardedHeaders are the request headers a registry needs; everything
// else (cookies, the client's own Authorization) stays behind.
var forwardedHeaders = []string{"Accept", "Accept-Encoding", "User-Agent", "If-None-Match", "If-Modified-Since",
	"Range", "Npm-Command", "Npm-Scope", "Npm-Session", "Npm-Auth-Type", "Pacote-Version", "Pacote-Req-Type",
	"Pacote-Pkg-Id", "Pacote-Integrity"}

// forward sends one request upstream and writes the response back. It
// returns false when the connection should close. A request body is never
// read: GET and HEAD have none, and any other request closes the
// connection unread (closing a body would read it to its end, however long).
func (e *Egress) forward(ctx context.Context, w io.Writer, req *http.Request, u *url.URL) bool {
	ref := Refusal{Method: req.Method, Host: u.Host, Path: u.Path}
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		ref.Reason = "only GET and HEAD reach a registry from the sandbox"
		e.refuse(w, http.StatusMethodNotAllowed, ref)
		return false
	}
	if req.Body != http.NoBody {
		ref.Reason = "a GET or HEAD with a body"
		e.refuse(w, http.StatusBadRequest, ref)
		return false
	}
	reg, ok := e.registryFor(u)
	if !ok {
		ref.Reason = "not an allow-listed registry"
		e.refuse(w, http.StatusForbidden, ref)
		return false
	}
	out, err := http.NewRequestWithContext(ctx, req.Method, u.String(), nil)
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
	if err != nil || resp.StatusCode >= 400 {
		e.mu.Lock()
		e.failed++
		e.mu.Unlock()
	}
	if err != nil {
		// The error names the URL, which carries no credential.
		_ = plainResponse(http.StatusBadGateway, "safe-install: upstream: "+err.Error()+"\n").Write(w)
		return false
	}
	defer resp.Body.Close()
	resp.Close = req.Close
	// The sandbox's side is HTTP/1.1 whatever the registry spoke: an
	// HTTP/2 upstream's response would be written "HTTP/2.0 200 OK", which
	// node reads but pnpm 12's client (hyper) refuses.
	resp.Proto, resp.ProtoMajor, resp.ProtoMinor = "HTTP/1.1", 1, 1
	if resp.ContentLength < 0 && len(resp.TransferEncoding) == 0 && req.Method != http.MethodHead {
		// Length unknown (the transport decompressed it): chunk it, so the
		// connection can carry the next request.
		resp.TransferEncoding = []string{"chunked"}
	}
	// Response.Write streams the body: nothing of it is held here.
	if err := resp.Write(w); err != nil {
		// Cut mid-body (upstream reset, the sandbox's side gone): the
		// answer did not get through either.
		e.mu.Lock()
		e.failed++
		e.mu.Unlock()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			ref.Reason = fmt.Sprintf("an answer the sandbox did not take for %s (bound writeTimeout)", e.bounds.write)
			e.record(ref)
		}
		return false
	}
	return !req.Close
}
