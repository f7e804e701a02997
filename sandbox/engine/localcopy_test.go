package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/safe-install/safe-install/sandbox/archive"
	"github.com/safe-install/safe-install/sandbox/internal/testproject"
)

// tarOf writes files (as testproject.Write) and returns WriteTar's stream of
// their node_modules.
func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteTar(context.Background(), &buf, testproject.Write(t, files), "node_modules"); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestWriteTarRoundTrip(t *testing.T) {
	t.Parallel()
	stream := tarOf(t, map[string]string{
		"node_modules/a/package.json": `{"name":"a"}`,
		"node_modules/a/index.js":     "module.exports = 1",
		"node_modules/.bin/a":         "->../a/index.js",
	})
	dest := t.TempDir()
	stats, err := archive.Extract(bytes.NewReader(stream), dest, "node_modules", archive.DefaultLimits())
	if err != nil || stats.Files != 2 || stats.Symlinks != 1 {
		t.Fatalf("Extract = %+v, %v", stats, err)
	}
	if got, _ := os.ReadFile(filepath.Join(dest, "node_modules/.bin/a")); string(got) != "module.exports = 1" {
		t.Errorf("through the link: %q", got)
	}
}

// A nested tree (a pnpm workspace package's node_modules) is named from its
// last element, as Podman's archive endpoint names it, and lands where it
// was once extracted.
func TestWriteTarNamesANestedTreeAsTheEngine(t *testing.T) {
	t.Parallel()
	dir := testproject.Write(t, map[string]string{"packages/b/node_modules/x/index.js": "1"})
	var buf bytes.Buffer
	if err := WriteTar(context.Background(), &buf, dir, "packages/b/node_modules"); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	if _, err := archive.Extract(bytes.NewReader(buf.Bytes()), dest, "packages/b/node_modules", archive.DefaultLimits()); err != nil {
		t.Fatalf("Extract = %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dest, "packages/b/node_modules/x/index.js")); string(got) != "1" {
		t.Errorf("extracted %q", got)
	}
}

// The walk never follows a symlink, so a tree that links out of itself
// shows the links, which the extractor refuses, and never what they point
// at.
func TestWriteTarDoesNotFollowLinks(t *testing.T) {
	t.Parallel()
	secret := t.TempDir()
	if err := os.WriteFile(filepath.Join(secret, "id_rsa"), []byte("SICANARY-KEY"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, files := range map[string]map[string]string{
		"the root":      {"node_modules": "->" + secret},
		"a directory":   {"node_modules/a/package.json": "{}", "node_modules/evil": "->" + secret},
		"a file by ..":  {"node_modules/a/package.json": "{}", "node_modules/a/key": "->../../../" + filepath.Base(secret) + "/id_rsa"},
		"a relative up": {"node_modules/up": "->.."},
	} {
		stream := tarOf(t, files)
		if bytes.Contains(stream, []byte("SICANARY")) {
			t.Errorf("%s: the stream holds the linked file's content", name)
		}
		if _, err := archive.Extract(bytes.NewReader(stream), t.TempDir(), "node_modules", archive.DefaultLimits()); err == nil {
			t.Errorf("%s: the extractor accepted a link out of the tree", name)
		}
	}
}

func TestWriteTarPassesSpecialFilesToTheExtractor(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "node_modules/a"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "node_modules/a/pipe"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := WriteTar(context.Background(), &buf, dir, "node_modules"); err != nil {
		t.Fatal(err)
	}
	if _, err := archive.Extract(&buf, t.TempDir(), "node_modules", archive.DefaultLimits()); err == nil {
		t.Error("a fifo passed")
	}
}

func TestReadableTree(t *testing.T) {
	t.Parallel()
	// The check reads permission bits for others, so it holds whoever
	// runs it (root included).
	dir := t.TempDir()
	p := filepath.Join(dir, "node_modules/a/secret")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if !ReadableTree(dir, "node_modules") {
		t.Error("a 0644 tree is not readable")
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if ReadableTree(dir, "node_modules") {
		t.Error("a file without read access for others passed")
	}
}
