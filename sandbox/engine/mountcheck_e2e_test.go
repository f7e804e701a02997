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

// Invariant 1 on an engine whose configuration safe-install cannot read: a
// remote user's containers.conf adds a host directory and a host device to
// every container, and the inspect data shows neither (Podman 4.3.1). The
// check refuses the container, naming both, before its command runs: the
// canary is not read. The positive control: the same container without the
// check reads the canary through the engine's volume.
func TestE2EMountCheckRefusesRemoteEngineAdditions(t *testing.T) {
	canary := fmt.Sprintf("mountcheck-canary-%d", time.Now().UnixNano())
	uri, identity, home := remotetest.BadService(t, canary)
	ctx := context.Background()
	p, stop, err := Connect(ctx, Remote{Connection: uri, Identity: identity, Home: home}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	list, err := images.List(p.ctx(ctx), new(images.ListOptions).WithFilters(map[string][]string{"reference": {"localhost/safe-install-npm"}}))
	if err != nil || len(list) == 0 || len(list[0].RepoTags) == 0 {
		t.Fatalf("no sandbox image on the remote engine (%v): run a safe-install install through it once", err)
	}
	image := list[0].RepoTags[0]
	run := func(name string, check bool) (string, int, error) {
		t.Helper()
		p.noMountCheck = !check
		defer func() { p.noMountCheck = false }()
		id, err := p.Create(ctx, ContainerSpec{Name: name, Image: image, User: "1000:1000", Network: "none",
			Command: []string{"sh", "-c", "cat /x/secret; ls /dev; echo command-ran"}, Env: map[string]string{"PATH": "/usr/bin:/bin"},
			Labels: map[string]string{LabelRun: name}, CapDrop: []string{"all"}, NoNewPrivileges: true, ReadOnlyRoot: true,
			Tmpfs: []TmpfsMount{{Dest: "/tmp", Options: "rw,size=1m"}}})
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		defer p.Remove(context.Background(), id)
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
	stamp := time.Now().UnixNano()
	out, code, err := run(fmt.Sprintf("safe-install-mountcheck-control-%d", stamp), false)
	if !strings.Contains(out, canary) || err != nil || code != 0 {
		t.Fatalf("positive control: without the check the container should read the engine's volume (exit %d, %v):\n%s", code, err, out)
	}
	start := time.Now()
	out, code, err = run(fmt.Sprintf("safe-install-mountcheck-test-%d", stamp), true)
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
	if _, err := exec.LookPath("podman"); err != nil || os.Geteuid() == 0 {
		if os.Getenv("CI") != "" {
			t.Fatalf("needs rootless Podman: %v", err)
		}
		t.Skip("needs rootless Podman (fails in CI)")
	}
	ctx := context.Background()
	p, stop, err := Connect(ctx, Remote{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	list, err := images.List(p.ctx(ctx), new(images.ListOptions).WithFilters(map[string][]string{"reference": {"localhost/safe-install-npm"}}))
	if err != nil || len(list) == 0 || len(list[0].RepoTags) == 0 {
		t.Fatalf("no sandbox image (%v): run safe-install image build", err)
	}
	name := fmt.Sprintf("safe-install-mountcheck-own-%d", time.Now().UnixNano())
	vol := name + "-vol"
	if err := p.CreateVolume(ctx, VolumeSpec{Name: vol, Labels: map[string]string{LabelRun: name}}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.RemoveVolume(context.Background(), vol) })
	id, err := p.Create(ctx, ContainerSpec{Name: name, Image: list[0].RepoTags[0], User: "1000:1000", Network: "none",
		Command: []string{"sh", "-c", `echo "env:$` + mountCheckEnv + `:"; cat /proc/1/cmdline | tr '\0' ' '; echo; exit 7`},
		Env:     map[string]string{"PATH": "/usr/bin:/bin"}, Labels: map[string]string{LabelRun: name},
		Volumes: []VolumeMount{{Name: vol, Dest: "/work"}, {Name: vol, Dest: "/cache", ReadOnly: true}},
		Tmpfs:   []TmpfsMount{{Dest: "/tmp", Options: "rw,size=1m"}, {Dest: "/home/sandbox", Options: "rw,size=1m"}},
		CapDrop: []string{"all"}, NoNewPrivileges: true, ReadOnlyRoot: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Remove(context.Background(), id) })
	if err := p.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	code, err := p.Wait(wctx, id)
	var out bytes.Buffer
	p.Logs(ctx, id, &out)
	if err != nil || code != 7 {
		t.Fatalf("want the command's own exit 7, got %d, %v\n%s", code, err, out.String())
	}
	if !strings.Contains(out.String(), "env::") || strings.Contains(out.String(), "safe-install-check") {
		t.Errorf("the command saw the check's nonce or arguments:\n%s", out.String())
	}
}
