//go:build e2e

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// smallFS is a small file system (a 48 MiB tmpfs) the user owns, which
// `make test-e2e` mounts as root before it switches to the user: tests
// run unprivileged and cannot mount.
var smallFS = os.Getenv("SAFE_INSTALL_TEST_SMALLFS")

// Issue 17: the host's disk fills up while the artifacts are copied back
// (the project on a small file system, filled but for 2 MiB, and a
// package of 4 MiB): the run fails, the project is as it was, nothing is
// left, and the exit code and message name the disk, not the package.
func TestE2EHostDiskFullDuringCopyBack(t *testing.T) {
	start := time.Now()
	if smallFS == "" {
		skipOrFail(t, "SAFE_INSTALL_TEST_SMALLFS is not set: `make test-e2e` as root mounts a small tmpfs for this test")
	}
	w := newWorld(t)
	proj, err := os.MkdirTemp(smallFS, "proj-")
	must(t, err)
	t.Cleanup(func() { os.RemoveAll(proj) })
	w.proj = proj
	must(t, os.MkdirAll(filepath.Join(proj, "vendor"), 0o755))
	// A benign package with a 4 MiB file, packed here.
	src := filepath.Join(t.TempDir(), "big-payload")
	must(t, os.MkdirAll(src, 0o755))
	must(t, os.WriteFile(filepath.Join(src, "package.json"), []byte(`{"name":"big-payload","version":"1.0.0"}`), 0o644))
	payload := make([]byte, 4<<20)
	for i := range payload {
		payload[i] = byte(i * 7)
	}
	must(t, os.WriteFile(filepath.Join(src, "payload.bin"), payload, 0o644))
	writeTarGz(t, filepath.Join(proj, "vendor", "big-payload-1.0.0.tgz"), "package", src, nil)
	manifest, _ := json.Marshal(map[string]any{"name": "proj", "version": "1.0.0", "private": true,
		"dependencies": map[string]string{"big-payload": "file:vendor/big-payload-1.0.0.tgz"}})
	must(t, os.WriteFile(filepath.Join(proj, "package.json"), manifest, 0o644))
	fillBut(t, smallFS, 2<<20)
	before := w.snapshotOf(proj)
	r := w.run("npm", "install")
	w.assertSame(before, w.snapshotOf(proj))
	if r.code == 0 {
		t.Fatal("the run succeeded on a full disk")
	}
	if r.code != exitFailure {
		t.Errorf("exit %d, want %d (a full host disk is neither the package's fault nor the engine's)", r.code, exitFailure)
	}
	for _, want := range []string{"no space left", proj} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("the message does not name the disk: no %q", want)
		}
	}
	if left := leftovers(); left != "" {
		t.Errorf("left behind: %s", left)
	}
	t.Logf("took %s", time.Since(start).Round(100*time.Millisecond))
}

// fillBut fills dir's file system with a file, removed at the test's end,
// until only free bytes are left.
func fillBut(t *testing.T, dir string, free int64) {
	t.Helper()
	var st syscall.Statfs_t
	must(t, syscall.Statfs(dir, &st))
	avail := int64(st.Bavail) * st.Bsize
	if avail <= free {
		t.Fatalf("%s has only %d bytes free", dir, avail)
	}
	f, err := os.CreateTemp(dir, "filler-")
	must(t, err)
	t.Cleanup(func() { os.Remove(f.Name()) })
	chunk := make([]byte, 1<<20)
	for left := avail - free; left > 0; left -= int64(len(chunk)) {
		_, err := f.Write(chunk[:min(int64(len(chunk)), left)])
		must(t, err)
	}
	must(t, f.Close())
}
