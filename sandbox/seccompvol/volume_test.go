package seccompvol

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
)

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Name: "seccomp/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		t.Fatal(err)
	}
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: "seccomp/" + name, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestHolds(t *testing.T) {
	want := map[string][]byte{"fetch.json": []byte(`{"a":1}`), "scripts.json": []byte(`{"b":2}`)}
	for _, c := range []struct {
		name  string
		files map[string]string
		max   int64
		holds bool
	}{
		{"whole", map[string]string{"fetch.json": `{"a":1}`, "scripts.json": `{"b":2}`}, 1 << 20, true},
		{"whole, and more", map[string]string{"fetch.json": `{"a":1}`, "scripts.json": `{"b":2}`, "other": "x"}, 1 << 20, true},
		{"one missing (killed before it)", map[string]string{"fetch.json": `{"a":1}`}, 1 << 20, false},
		{"one cut short (killed in it)", map[string]string{"fetch.json": `{"a":1}`, "scripts.json": `{"b"`}, 1 << 20, false},
		{"empty", map[string]string{}, 1 << 20, false},
		{"over the bound", map[string]string{"fetch.json": `{"a":1}`, "scripts.json": `{"b":2}`, "big": strings.Repeat("x", 8192)}, 4096, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := holds(bytes.NewReader(tarOf(t, c.files)), want, c.max)
			if err != nil || got != c.holds {
				t.Errorf("Holds = %v, %v; want %v", got, err, c.holds)
			}
		})
	}
	if _, err := holds(strings.NewReader("not a tar stream at all, but long enough to be read as a header block..."), want, 1<<20); err == nil {
		t.Error("a stream that is no tar: no error")
	}
}

// Whole reads a local engine's volume directly, and goes through the
// engine's archive when that directory is not this machine's.
func TestWhole(t *testing.T) {
	files := []install.Input{{Name: "fetch.json", Data: []byte(`{"a":1}`)}, {Name: "scripts.json", Data: []byte(`{"b":2}`)}}
	whole := map[string]string{"fetch.json": `{"a":1}`, "scripts.json": `{"b":2}`}
	cut := map[string]string{"fetch.json": ""}
	fromEngine := func(m map[string]string) func(io.Writer) error {
		return func(w io.Writer) error { _, err := w.Write(tarOf(t, m)); return err }
	}
	notCalled := func(io.Writer) error {
		t.Error("the engine was asked, though the local directory could be read")
		return nil
	}
	dir := func(m map[string]string) string {
		d := t.TempDir()
		for name, body := range m {
			if err := os.WriteFile(filepath.Join(d, name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return d
	}
	for _, c := range []struct {
		name  string
		local string
		tarOf func(io.Writer) error
		want  bool
	}{
		{"local, whole", dir(whole), notCalled, true},
		{"local, cut short", dir(cut), notCalled, false},
		{"local, a profile longer than it should be", dir(map[string]string{"fetch.json": `{"a":1}xx`, "scripts.json": `{"b":2}`}), notCalled, false},
		{"remote, whole", "", fromEngine(whole), true},
		{"remote, cut short", "", fromEngine(cut), false},
		{"local path not this machine's", filepath.Join(t.TempDir(), "elsewhere"), fromEngine(whole), true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := Whole(files, c.local, c.tarOf)
			if err != nil || got != c.want {
				t.Errorf("Whole = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}
