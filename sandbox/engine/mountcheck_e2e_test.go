//go:build e2e

package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/images"

	"github.com/safe-install/safe-install/sandbox/engine/remotetest"
)

// localEngine connects to the tests' own rootless Podman.
func localEngine(t *testing.T) *Podman {
	t.Helper()
	if _, err := exec.LookPath("podman"); err != nil || os.Geteuid() == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("needs rootless Podman: %v", err)
		}
		t.Skip("needs rootless Podman (fails in CI)")
	}
	p, stop, err := Connect(context.Background(), Remote{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop) // first made, last run: the removals need the engine
	return p
}

// sandboxImage is a sandbox image the engine has (safe-install image
// build, or any run, made it).
func sandboxImage(t *testing.T, p *Podman) string {
	t.Helper()
	list, err := images.List(p.ctx(context.Background()), new(images.ListOptions).
		WithFilters(map[string][]string{"reference": {"localhost/safe-install-npm"}}))
	if err != nil || len(list) == 0 || len(list[0].RepoTags) == 0 {
		t.Fatalf("no sandbox image on the engine (%v): run safe-install image build, or an install, through it", err)
	}
	return list[0].RepoTags[0]
}

// runOnce creates, starts and waits for a container of spec, and returns
// its output, exit code and Wait's error; it is removed after.
func runOnce(t *testing.T, p *Podman, spec ContainerSpec) (string, int, error) {
	t.Helper()
	ctx := context.Background()
	spec.Labels = map[string]string{LabelRun: spec.Name}
	id, err := p.Create(ctx, spec)
	if err != nil {
		t.Fatalf("create %s: %v", spec.Name, err)
	}
	defer p.Remove(ctx, id)
	if err := p.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	code, werr := p.Wait(wctx, id)
	var out bytes.Buffer
	p.Logs(ctx, id, &out)
	return out.String(), code, werr
}

// Invariant 1 on an engine whose configuration safe-install cannot read: a
// remote user's containers.conf adds a host directory and a host device to
// every container, and the inspect data shows neither (Podman 4.3.1). The
// check refuses the container, naming both, before its command runs: the
// canary is not read. The positive control: the same container without the
// check reads the canary through the engine's volume.
func TestE2EMountCheckRefusesRemoteEngineAdditions(t *testing.T) {
	canary := fmt.Sprintf("mountcheck-canary-%d", time.Now().UnixNano())
	uri, identity, home := remotetest.BadService(t, canary)
	p, stop, err := Connect(context.Background(), Remote{Connection: uri, Identity: identity, Home: home}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	image := sandboxImage(t, p)
	spec := func(name string) ContainerSpec {
		return ContainerSpec{Name: name, Image: image, User: "1000:1000", Network: "none",
			Command: []string{"sh", "-c", "cat /x/secret; ls /dev; echo command-ran"}, Env: map[string]string{"PATH": "/usr/bin:/bin"},
			CapDrop: []string{"all"}, NoNewPrivileges: true, ReadOnlyRoot: true, Tmpfs: []TmpfsMount{{Dest: "/tmp", Options: "rw,size=1m"}}}
	}
	stamp := time.Now().UnixNano()
	p.noMountCheck = true
	out, code, err := runOnce(t, p, spec(fmt.Sprintf("safe-install-mountcheck-control-%d", stamp)))
	p.noMountCheck = false
	if !strings.Contains(out, canary) || err != nil || code != 0 {
		t.Fatalf("positive control: without the check the container should read the engine's volume (exit %d, %v):\n%s", code, err, out)
	}
	start := time.Now()
	out, code, err = runOnce(t, p, spec(fmt.Sprintf("safe-install-mountcheck-test-%d", stamp)))
	t.Logf("created, refused and waited for in %v: %v", time.Since(start), err)
	if !errors.Is(err, ErrEngineConfig) || !errors.Is(err, ErrUnavailable) || code != mountCheckExit {
		t.Fatalf("want the check's refusal (an ErrEngineConfig, exit %d), got exit %d, %v\n%s", mountCheckExit, code, err, out)
	}
	for _, want := range []string{"mount /x (", "/dev/fuse", "safe-install-mountcheck-test-", "containers.conf", "restart its Podman service"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal does not name %q: %v", want, err)
		}
	}
	if strings.Contains(out, canary) || strings.Contains(out, "command-ran") || strings.Contains(err.Error(), canary) {
		t.Errorf("the command ran behind the check:\n%s\n%v", out, err)
	}
}

// The check passes on a container that has only what it asked for (the
// tests' own engine): the command runs, its exit code is its own, and it
// sees neither the nonce nor the check's arguments.
func TestE2EMountCheckPassesOwnContainer(t *testing.T) {
	p := localEngine(t)
	ctx := context.Background()
	name := fmt.Sprintf("safe-install-mountcheck-own-%d", time.Now().UnixNano())
	vol := name + "-vol"
	if err := p.CreateVolume(ctx, VolumeSpec{Name: vol, Labels: map[string]string{LabelRun: name}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.RemoveVolume(context.Background(), vol) })
	out, code, err := runOnce(t, p, ContainerSpec{Name: name, Image: sandboxImage(t, p), User: "1000:1000", Network: "none",
		Command: []string{"sh", "-c", `echo "env:$` + mountCheckEnv + `:"; cat /proc/1/cmdline | tr '\0' ' '; echo; exit 7`},
		Env:     map[string]string{"PATH": "/usr/bin:/bin"},
		Volumes: []VolumeMount{{Name: vol, Dest: "/work"}, {Name: vol, Dest: "/cache", ReadOnly: true}},
		Tmpfs:   []TmpfsMount{{Dest: "/tmp", Options: "rw,size=1m"}, {Dest: "/home/sandbox", Options: "rw,size=1m"}},
		CapDrop: []string{"all"}, NoNewPrivileges: true, ReadOnlyRoot: true})
	if err != nil || code != 7 {
		t.Fatalf("want the command's own exit 7, got %d, %v\n%s", code, err, out)
	}
	if !strings.Contains(out, "env::") || strings.Contains(out, "safe-install-check") {
		t.Errorf("the command saw the check's nonce or arguments:\n%s", out)
	}
}
