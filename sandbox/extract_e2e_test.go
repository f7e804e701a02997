//go:build e2e

package sandbox

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
)

// A local engine's fetch inputs go in through the running holder
// (engine.ExtractInto): the fetch must find them as the archive endpoint
// leaves them. The same inputs go in both ways, side by side in one tmpfs
// volume, and every entry's owner, mode, time, size and content must
// match; the archive endpoint's copy is the control. A container that does
// not run is refused.
func TestE2EExtractIntoMatchesArchiveCopy(t *testing.T) {
	ctx := context.Background()
	eng, image, name := engineForTest(t, "extract")
	labels := map[string]string{labelRun: name}
	if err := eng.CreateVolume(ctx, engine.VolumeSpec{Name: name, Memory: true, Labels: labels}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.RemoveVolume(context.Background(), name) })
	spec := engine.ContainerSpec{Name: name, Image: image, Command: []string{"sleep", "120"}, User: "1000:1000",
		Network: "none", Labels: labels, Volumes: []engine.VolumeMount{{Name: name, Dest: install.WorkDir}}}
	id, err := eng.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { eng.Remove(context.Background(), id) })

	old := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC)
	inputs := []install.Input{
		{Name: "package.json", Data: []byte(`{"name":"p"}`), Mode: 0o644},
		{Name: "node_modules/.package-lock.json", Data: []byte(`{}`), Mode: 0o600, ModTime: old},
		{Name: "node_modules/a/b/bin.sh", Data: []byte("#!/bin/sh\n"), Mode: 0o755, ModTime: old},
		{Name: "node_modules/.bin/b", Link: "../a/b/bin.sh", Mode: 0o777},
	}
	tarOf := func(under string) io.Reader {
		var in []install.Input
		for _, i := range inputs {
			i.Name = under + "/" + i.Name
			in = append(in, i)
		}
		var buf bytes.Buffer
		if err := writeInputs(&buf, "", in); err != nil {
			t.Fatal(err)
		}
		return &buf
	}
	if err := eng.ExtractInto(ctx, id, install.WorkDir, tarOf("local")); err == nil {
		t.Fatalf("ExtractInto a container that does not run: no error")
	}
	if err := eng.Start(ctx, id); err != nil {
		t.Fatal(err)
	}
	dir, done, err := eng.ContainerDir(ctx, id, install.WorkDir)
	if err != nil {
		t.Fatalf("a local engine's container directory: %v", err)
	}
	defer done()
	if err := eng.ExtractInto(ctx, id, install.WorkDir, tarOf("local")); err != nil {
		t.Fatalf("ExtractInto the running container: %v", err)
	}
	if err := eng.CopyIn(ctx, id, install.WorkDir, tarOf("archive")); err != nil {
		t.Fatal(err)
	}
	compared := 0
	err = filepath.Walk(filepath.Join(dir, "archive"), func(p string, want os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(filepath.Join(dir, "archive"), p)
		got, err := os.Lstat(filepath.Join(dir, "local", rel))
		if err != nil {
			t.Errorf("%s: copied by the archive endpoint, not by ExtractInto: %v", rel, err)
			return nil
		}
		ws, gs := want.Sys().(*syscall.Stat_t), got.Sys().(*syscall.Stat_t)
		if got.Mode() != want.Mode() || ws.Uid != gs.Uid || ws.Gid != gs.Gid || got.Size() != want.Size() ||
			(!want.IsDir() && !got.ModTime().Equal(want.ModTime())) {
			t.Errorf("%s: ExtractInto gave %v uid %d gid %d size %d %s; the archive endpoint %v uid %d gid %d size %d %s",
				rel, got.Mode(), gs.Uid, gs.Gid, got.Size(), got.ModTime(), want.Mode(), ws.Uid, ws.Gid, want.Size(), want.ModTime())
		}
		if want.Mode().IsRegular() {
			a, _ := os.ReadFile(p)
			l, _ := os.ReadFile(filepath.Join(dir, "local", rel))
			if !bytes.Equal(a, l) {
				t.Errorf("%s: content %q, the archive endpoint's %q", rel, l, a)
			}
		}
		if want.Mode()&os.ModeSymlink != 0 {
			a, _ := os.Readlink(p)
			l, _ := os.Readlink(filepath.Join(dir, "local", rel))
			if a != l {
				t.Errorf("%s: a link to %q, the archive endpoint's to %q", rel, l, a)
			}
		}
		compared++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if compared < 8 {
		t.Fatalf("compared %d entries; the inputs make at least 8", compared)
	}
	if fi, err := os.Stat(filepath.Join(dir, "local/node_modules/a/b/bin.sh")); err != nil || !fi.ModTime().Equal(old) {
		t.Errorf("bin.sh: %v %v, want the input's time %s", fi, err, old)
	}
}

// engineForTest connects to the local engine until the test's end (after
// its removals), and gives the sandbox image and a fresh name for what the
// test makes.
func engineForTest(t *testing.T, what string) (*engine.Podman, string, string) {
	t.Helper()
	ctx := context.Background()
	eng, stop, err := engine.Connect(ctx, engine.Remote{}, nil)
	if err != nil {
		t.Fatalf("connecting to Podman (CI must have it): %v", err)
	}
	t.Cleanup(stop) // first made, last run: the removals need the engine
	image, err := EnsureImage(ctx, eng, "", "", io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	return eng, image, "safe-install-" + what + "-test-" + hex.EncodeToString(b)
}
