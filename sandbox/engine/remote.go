package engine

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// Remote names the engine to use: a URL (ssh://user@host[:port]/path/to/
// podman.sock, unix://, tcp://) or the name of a connection in Podman's own
// configuration (`podman system connection add`), and the ssh key for it.
// Empty means the local rootless engine.
type Remote struct {
	Connection string
	Identity   string // private key file; "" uses the connection's, then the ssh agent
	Home       string // for ~/.ssh/known_hosts and Podman's configuration
	Env        map[string]string
}

// resolve turns a connection name into its URL and identity.
func (r Remote) resolve() (uri, identity string, err error) {
	if strings.Contains(r.Connection, "://") {
		return r.Connection, r.Identity, nil
	}
	uri, identity, ok := r.lookupConnection(r.Connection)
	if !ok {
		return "", "", fmt.Errorf("%w: no Podman connection named %q (see `podman system connection list`), and it is not a URL like ssh://user@host/run/user/1000/podman/podman.sock", ErrUnavailable, r.Connection)
	}
	if r.Identity != "" {
		identity = r.Identity
	}
	return uri, identity, nil
}

func (r Remote) configDir() string {
	if d := r.Env["XDG_CONFIG_HOME"]; d != "" {
		return filepath.Join(d, "containers")
	}
	return filepath.Join(r.Home, ".config", "containers")
}

// lookupConnection reads Podman 5's podman-connections.json, then Podman 4's
// [engine.service_destinations.NAME] tables in containers.conf.
func (r Remote) lookupConnection(name string) (uri, identity string, ok bool) {
	if data, err := os.ReadFile(filepath.Join(r.configDir(), "podman-connections.json")); err == nil {
		var cfg struct {
			Connection struct {
				Connections map[string]struct{ URI, Identity string }
			}
		}
		if json.Unmarshal(data, &cfg) == nil {
			if c, found := cfg.Connection.Connections[name]; found {
				return c.URI, c.Identity, true
			}
		}
	}
	f, err := os.Open(filepath.Join(r.configDir(), "containers.conf"))
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(l, "[") {
			t := strings.Trim(l, "[] ")
			in = t == "engine.service_destinations."+name || t == `engine.service_destinations."`+name+`"`
			continue
		}
		if !in {
			continue
		}
		k, v, found := strings.Cut(l, "=")
		if !found {
			continue
		}
		v = strings.Trim(strings.TrimSpace(v), `"'`)
		switch strings.TrimSpace(k) {
		case "uri":
			uri, ok = v, true
		case "identity":
			identity = v
		}
	}
	return uri, identity, ok
}

// errHostKeyChecked ends the handshake once the host key is judged: the
// check needs no login.
var errHostKeyChecked = errors.New("host key checked")

// verifyHostKey connects to an ssh:// engine's host and checks its key
// against ~/.ssh/known_hosts before Podman's client connects. Podman's own
// client adds an unknown host to known_hosts and goes on; safe-install
// refuses it and shows the fingerprint, so the user decides.
func (r Remote) verifyHostKey(uri string) error {
	u, err := url.Parse(uri)
	if err != nil {
		return fmt.Errorf("%w: %q is not a URL: %w", ErrUnavailable, uri, err)
	}
	if u.Scheme != "ssh" {
		return nil
	}
	port := u.Port()
	if port == "" {
		port = "22"
	}
	addr := net.JoinHostPort(u.Hostname(), port)
	file := filepath.Join(r.Home, ".ssh", "known_hosts")
	check, err := knownhosts.New(file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: reading %s: %w", ErrUnavailable, file, err)
	}
	var verdict error
	var fingerprint string
	cfg := &ssh.ClientConfig{
		User:    u.User.Username(),
		Timeout: 15 * time.Second,
		HostKeyCallback: func(host string, remote net.Addr, key ssh.PublicKey) error {
			fingerprint = ssh.FingerprintSHA256(key)
			if check == nil {
				verdict = &knownhosts.KeyError{}
			} else {
				verdict = check(host, remote, key)
			}
			return errHostKeyChecked
		},
	}
	conn, err := net.DialTimeout("tcp", addr, cfg.Timeout)
	if err != nil {
		return fmt.Errorf("%w: connecting to %s: %w", ErrUnavailable, addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	if _, _, _, err := ssh.NewClientConn(conn, addr, cfg); !errors.Is(err, errHostKeyChecked) {
		return fmt.Errorf("%w: ssh handshake with %s: %w", ErrUnavailable, addr, err)
	}
	hostArg := u.Hostname()
	if port != "22" {
		hostArg = "-p " + port + " " + hostArg
	}
	var ke *knownhosts.KeyError
	switch {
	case verdict == nil:
		return nil
	case errors.As(verdict, &ke) && len(ke.Want) == 0:
		return fmt.Errorf("%w: the ssh host %s is not in %s; its key's fingerprint is %s. "+
			"If that is the host's key (check it on the host: ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), add it with: "+
			"ssh-keyscan %s >> %s", ErrUnavailable, addr, file, fingerprint, hostArg, file)
	case errors.As(verdict, &ke):
		return fmt.Errorf("%w: the ssh host %s presented the key %s, which does NOT match the one in %s:%d; "+
			"someone may be intercepting the connection. Refusing to connect", ErrUnavailable, addr, fingerprint, ke.Want[0].Filename, ke.Want[0].Line)
	}
	return fmt.Errorf("%w: checking the host key of %s: %w", ErrUnavailable, addr, verdict)
}
