//go:build e2e

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/engine"
)

// newHTTPSPipWorld is a pipWorld whose index is served over TLS, as PyPI
// is: pip keeps HTTP responses in its cache only from secure origins, so
// only then is its HTTP cache in play. safe-install's egress proxy trusts
// the index's certificate through SSL_CERT_FILE, as Go's TLS reads it.
func newHTTPSPipWorld(t *testing.T) *pipWorld {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	must(t, err)
	caFile := filepath.Join(t.TempDir(), "index-ca.pem")
	must(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644))
	conf := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	w := newPipWorldOn(t, conf)
	w.env = append(w.env, "SSL_CERT_FILE="+caFile)
	return w
}

// A metadata hook runs in the pip fetch, which mounts pip's cache: one
// project's sdist must not decide what another project's later install
// gets. cache-poison writes into pip's HTTP cache a year-fresh response
// for every file of wheel-victim on the index: a copy of wheel-victim's
// sdist with its module marked;
// another project, in another directory, then installs wheel-victim from
// the same index (both use PyPI, say) and must get the index's bytes: the
// index sees the download, and the module on the host is the real one.
func TestE2EPipMetadataHookCannotPoisonOtherProjects(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"pip cache poisoning", "pip: metadata hook writes another package's files into pip's HTTP cache", "a fetch that may run a hook gets a cache of the run's own"})
	w := newHTTPSPipWorld(t)
	w.requirements("cache-poison==1.0")
	w.succeeds("pip", "install", "-r", "requirements.txt")
	seen, _ := w.index.requests()
	if !slices.Contains(seen, "GET /simple/wheel-victim/?cache-poison=written") {
		t.Fatalf("cache-poison's hook did not report its write to pip's cache (is the case armed?); the index saw %v", seen)
	}

	w.proj = filepath.Join(w.home, "other-project")
	must(t, os.MkdirAll(w.proj, 0o755))
	w.requirements("wheel-victim==1.0")
	w.succeeds("pip", "install", "-r", "requirements.txt")
	if got := w.pythonOnHost("import wheel_victim; print(wheel_victim.NAME)"); got != "wheel-victim" {
		t.Errorf("the other project's wheel_victim says %q: what the hook wrote into the cache was installed on the host", got)
	}
	after, _ := w.index.requests()
	if !slices.ContainsFunc(after[len(seen):], func(s string) bool { return strings.HasPrefix(s, "GET /files/wheel-victim-1.0.tar.gz") }) {
		t.Errorf("the other project's fetch never downloaded wheel-victim from the index: %v", after[len(seen):])
	}
}

// pip reads every option of a requirements-file line: "--pre --no-binary
// :all:" lets sdists back in behind a command line's --only-binary=:all:,
// and the fetch that then runs cache-poison's metadata hook must not get
// the lasting cache. Positive control: the host's own pip, given the same
// command, downloads the sdist and runs its setup.py (and refuses it
// without the hidden option); main's plan (bae6e3f) read only the line's
// first option and mounted the lasting cache in that fetch.
func TestE2EPipHiddenFormatOptionGetsPrivateCache(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"pip cache poisoning (hidden format option)", "pip: a format option behind another on a requirements line lets an sdist into a wheels-only fetch", "every option of a line counts"})
	w := newPipWorld(t)
	plainDownload := func() error {
		cmd := exec.Command(w.python, "-m", "pip", "download", "--no-cache-dir", "--disable-pip-version-check",
			"--only-binary=:all:", "-r", "requirements.txt", "-d", t.TempDir())
		cmd.Dir, cmd.Env = w.proj, append(slices.Clone(w.env), "PIP_CONFIG_FILE="+os.DevNull)
		out, err := cmd.CombinedOutput()
		t.Logf("plain pip download: %v\n%s", err, lastLinesOf(string(out), 8))
		return err
	}
	w.requirements("cache-poison==1.0")
	if plainDownload() == nil {
		t.Fatal("plain pip took cache-poison with --only-binary=:all: and no hidden option: the control does not tell")
	}
	w.requirements("--pre --no-binary :all:", "cache-poison==1.0")
	if err := plainDownload(); err != nil {
		t.Fatalf("plain pip refused the sdist behind --pre --no-binary :all: (is the case armed?): %v", err)
	}
	if seen, _ := w.index.requests(); !slices.ContainsFunc(seen, func(s string) bool { return strings.HasPrefix(s, "GET /files/cache-poison-1.0.tar.gz") }) {
		t.Fatalf("plain pip never downloaded cache-poison's sdist: %v", seen)
	}

	args := []string{"pip", "install", "--only-binary=:all:", "-r", "requirements.txt"}
	dry := w.succeeds(append([]string{"--dry-run", "--json"}, args...)...)
	var out struct{ Containers []engine.ContainerSpec }
	must(t, json.Unmarshal([]byte(dry.stdout), &out))
	for _, c := range out.Containers {
		for _, v := range c.Volumes {
			if strings.HasPrefix(v.Name, "safe-install-cache-pip") {
				t.Errorf("%s mounts the lasting pip cache %s although its fetch may run an sdist's hooks", c.Name, v.Name)
			}
		}
	}
	before, _ := w.index.requests()
	w.succeeds(args...)
	after, _ := w.index.requests()
	if !slices.Contains(after[len(before):], "GET /simple/wheel-victim/?cache-poison=written") {
		t.Errorf("cache-poison's hook did not run in the sandbox's fetch (is the case armed?); the index saw %v", after[len(before):])
	}
}
