package engine

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestRemoteResolvesPodmanConnections(t *testing.T) {
	home := t.TempDir()
	dir := filepath.Join(home, ".config", "containers")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(dir, 0o755))
	// As Podman 5.4.2 wrote it (`podman system connection add`), names and
	// values changed.
	must(os.WriteFile(filepath.Join(dir, "podman-connections.json"), []byte(
		`{"Connection":{"Default":"fiveunix","Connections":{"five":{"URI":"ssh://u@h5:2222/run/p.sock","Identity":"/k5"},"fiveunix":{"URI":"unix:///sock/podman.sock"}}},"Farm":{}}`), 0o644))
	must(os.WriteFile(filepath.Join(dir, "containers.conf"), []byte(
		"[engine]\nruntime = \"runc\"\n\n[engine.service_destinations.four]\nuri = \"ssh://u@h4/run/p.sock\"\nidentity = \"/k4\"\n\n[engine.service_destinations.other]\nuri = \"ssh://x@y/z\"\n"), 0o644))
	for _, tc := range []struct{ conn, identity, wantURI, wantID string }{
		{"five", "", "ssh://u@h5:2222/run/p.sock", "/k5"},
		{"fiveunix", "", "unix:///sock/podman.sock", ""},
		{"four", "", "ssh://u@h4/run/p.sock", "/k4"},
		{"four", "/mine", "ssh://u@h4/run/p.sock", "/mine"},
		{"ssh://a@b/c.sock", "/k", "ssh://a@b/c.sock", "/k"},
	} {
		uri, id, err := Remote{Connection: tc.conn, Identity: tc.identity, Home: home}.resolve()
		if err != nil || uri != tc.wantURI || id != tc.wantID {
			t.Errorf("%s: got %q %q %v", tc.conn, uri, id, err)
		}
	}
	if _, _, err := (Remote{Connection: "nope", Home: home}).resolve(); !errors.Is(err, ErrUnavailable) {
		t.Errorf("unknown name: %v", err)
	}
}

// sshServer answers ssh handshakes on loopback with a fresh host key.
func sshServer(t *testing.T) (addr string, key ssh.PublicKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{NoClientAuth: true}
	cfg.AddHostKey(signer)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { _, _, _, _ = ssh.NewServerConn(c, cfg); c.Close() }()
		}
	}()
	return ln.Addr().String(), signer.PublicKey()
}

func TestVerifyHostKey(t *testing.T) {
	addr, key := sshServer(t)
	host, port, _ := net.SplitHostPort(addr)
	uri := fmt.Sprintf("ssh://u@%s/run/podman.sock", addr)
	home := t.TempDir()
	r := Remote{Home: home}
	known := filepath.Join(home, ".ssh", "known_hosts")

	err := r.verifyHostKey(uri)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), ssh.FingerprintSHA256(key)) ||
		!strings.Contains(err.Error(), "ssh-keyscan -p "+port+" "+host) {
		t.Errorf("unknown host: %v", err)
	}
	if _, err := os.Stat(known); err == nil {
		t.Error("the check wrote known_hosts")
	}

	_, other, _ := ed25519.GenerateKey(rand.Reader)
	otherSigner, _ := ssh.NewSignerFromKey(other)
	if err := os.MkdirAll(filepath.Dir(known), 0o700); err != nil {
		t.Fatal(err)
	}
	line := func(k ssh.PublicKey) []byte {
		return []byte(fmt.Sprintf("[%s]:%s %s", host, port, ssh.MarshalAuthorizedKey(k)))
	}
	if err := os.WriteFile(known, line(otherSigner.PublicKey()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.verifyHostKey(uri); err == nil || !strings.Contains(err.Error(), "does NOT match") {
		t.Errorf("changed key: %v", err)
	}
	if err := os.WriteFile(known, line(key), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.verifyHostKey(uri); err != nil {
		t.Errorf("known key: %v", err)
	}
	if err := r.verifyHostKey("unix:///run/podman.sock"); err != nil {
		t.Errorf("a unix socket needs no host key: %v", err)
	}
}
