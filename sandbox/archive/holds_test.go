package archive

import (
	"archive/tar"
	"bytes"
	"strings"
	"testing"
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
			got, err := Holds(bytes.NewReader(tarOf(t, c.files)), want, c.max)
			if err != nil || got != c.holds {
				t.Errorf("Holds = %v, %v; want %v", got, err, c.holds)
			}
		})
	}
	if _, err := Holds(strings.NewReader("not a tar stream at all, but long enough to be read as a header block..."), want, 1<<20); err == nil {
		t.Error("a stream that is no tar: no error")
	}
}
