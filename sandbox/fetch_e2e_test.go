//go:build e2e

package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
)

// probeJS runs in the fetch container, under the relay, and reports what it
// could reach. It sends packets only to loopback; the metadata address is
// probed with a UDP connect(), which sends nothing.
const probeJS = `
const net = require('net'), dgram = require('dgram'), http = require('http'), fs = require('fs');
const cfg = JSON.parse(fs.readFileSync('/work/cfg.json', 'utf8'));
const out = { env: process.env, files: {} };
function tcp(host, port) {
  return new Promise((res) => {
    const s = net.connect({ host, port, timeout: 3000 });
    s.on('connect', () => { s.destroy(); res('connected'); });
    s.on('error', (e) => res(e.code));
    s.on('timeout', () => { s.destroy(); res('timeout'); });
  });
}
// connect(2) on a UDP socket only looks up a route and sends nothing.
function udp(host, port) {
  const py = 'import socket,sys\nfam=socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET\n' +
    's=socket.socket(fam,socket.SOCK_DGRAM)\ntry:\n s.connect((sys.argv[1],int(sys.argv[2])));print("routed")\n' +
    'except OSError as e:\n import errno;print(errno.errorcode[e.errno])';
  return Promise.resolve(require('child_process').execFileSync('python3', ['-c', py, host, String(port)]).toString().trim());
}
function viaProxy(method, url) {
  return new Promise((res) => {
    const u = new URL(url);
    const req = http.request({ host: '127.0.0.1', port: 3128, method, path: url, headers: { Host: u.host } }, (r) => {
      let body = ''; r.on('data', (d) => body += d); r.on('end', () => res(r.statusCode + ' ' + body.trim()));
    });
    req.on('error', (e) => res(e.code));
    req.end(method === 'PUT' ? '{}' : undefined);
  });
}
(async () => {
  out.listener = await tcp('127.0.0.1', cfg.listenerPort);
  out.imds = await udp('169.254.169.254', 80);
  out.imds6 = await udp('fd00:ec2::254', 80);
  out.proxyToListener = await viaProxy('GET', 'http://127.0.0.1:' + cfg.listenerPort + '/steal');
  out.put = await viaProxy('PUT', cfg.registry + 'pkg');
  out.get = await viaProxy('GET', cfg.registry + 'pkg');
  out.interfaces = Object.keys(require('os').networkInterfaces());
  for (const dir of ['/run/safe-install', '/work']) {
    for (const f of fs.readdirSync(dir)) {
      try { out.files[dir + '/' + f] = fs.readFileSync(dir + '/' + f, 'utf8'); } catch (e) {}
    }
  }
  fs.mkdirSync('/work/out', { recursive: true });
  fs.writeFileSync('/work/out/result.json', JSON.stringify(out));
})();
`

// Invariants 3 and 4 from inside a real fetch container: the registry is
// reachable through the proxy with the credential the proxy adds; the
// container never holds it; a PUT, another loopback service and the
// metadata address are all out of reach.
func TestE2EFetchEgress(t *testing.T) {
	ctx := context.Background()
	eng, stop, err := engine.Connect(ctx, engine.Remote{}, nil)
	if err != nil {
		t.Fatalf("connecting to Podman (CI must have it): %v", err)
	}
	defer stop()
	image, err := EnsureImage(ctx, eng, "", "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}

	b := make([]byte, 8)
	rand.Read(b)
	token := "SICANARYTOKEN" + hex.EncodeToString(b)
	var mu sync.Mutex
	var seen []string
	reg := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+token {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		io.WriteString(w, "registry data")
	}))
	defer reg.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns int
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns++
			mu.Unlock()
			c.Close()
		}
	}()

	cfg, _ := json.Marshal(map[string]any{"listenerPort": ln.Addr().(*net.TCPAddr).Port, "registry": reg.URL + "/"})
	project := t.TempDir()
	env := map[string]string{"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/home/sandbox", "NODE_EXTRA_CA_CERTS": install.FetchConfigDir + "/ca.pem"}
	plan := &install.Plan{
		Manager: "probe", Project: project, Artifacts: []string{"out"},
		Inputs:     []install.Input{{Name: "probe.js", Data: []byte(probeJS), Mode: 0o644}, {Name: "cfg.json", Data: cfg, Mode: 0o644}},
		Fetch:      install.Phase{Command: egress.RelayCommand("node", "/work/probe.js"), Env: env},
		Registries: []egress.Registry{{URL: reg.URL + "/", Auth: "Bearer " + token}},
	}
	lim := DefaultLimits()
	lim.Timeout = 2 * time.Minute
	res, err := Run(ctx, eng, plan, Options{Image: image, Limits: lim})
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	data, err := os.ReadFile(filepath.Join(project, "out", "result.json"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), token) {
		t.Error("the token was visible inside the fetch container (env or files)")
	}
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatal(err)
	}
	t.Logf("probe: listener=%v imds=%v imds6=%v proxyToListener=%v put=%v get=%v interfaces=%v",
		out["listener"], out["imds"], out["imds6"], out["proxyToListener"], out["put"], out["get"], out["interfaces"])
	for k, want := range map[string]string{"listener": "ECONNREFUSED", "imds": "ENETUNREACH", "imds6": "ENETUNREACH", "get": "200 registry data"} {
		if out[k] != want {
			t.Errorf("%s: %v, want %s", k, out[k], want)
		}
	}
	for _, k := range []string{"proxyToListener", "put"} {
		if s, _ := out[k].(string); !strings.HasPrefix(s, "403") && !strings.HasPrefix(s, "405") {
			t.Errorf("%s: %v, want a refusal", k, out[k])
		}
	}
	if ifs := fmt.Sprint(out["interfaces"]); ifs != "[lo]" {
		t.Errorf("the fetch container has interfaces %s, want only lo", ifs)
	}
	mu.Lock()
	defer mu.Unlock()
	if conns != 0 {
		t.Errorf("the other loopback listener got %d connections", conns)
	}
	if len(seen) != 1 || seen[0] != "GET /pkg Bearer "+token {
		t.Errorf("the registry saw %q; want one GET carrying the injected token", seen)
	}
	if len(res.Refused) != 2 {
		t.Errorf("refusals %+v, want the PUT and the other listener", res.Refused)
	}
}
