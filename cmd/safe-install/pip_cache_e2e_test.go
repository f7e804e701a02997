//go:build e2e

package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
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
