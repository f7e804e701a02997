// Package wheeltest writes wheels for tests, with a RECORD that lists their
// members as a build backend would, or as a test tells it to lie.
package wheeltest

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Member is one file of a test wheel; Mode 0 means a plain 0644 file.
type Member struct {
	Name, Body string
	Mode       fs.FileMode
	Unlisted   bool   // left out of RECORD
	Record     string // RECORD row to write instead of the right one
}

// Digest is RECORD's form of body's sha256.
func Digest(body string) string {
	sum := sha256.Sum256([]byte(body))
	return "sha256=" + base64.RawURLEncoding.EncodeToString(sum[:])
}

// Write writes the wheel file (name-version-...whl) into dir with the given
// members and a RECORD in its .dist-info directory, and returns its path.
func Write(t testing.TB, dir, file string, members ...Member) string {
	t.Helper()
	p := filepath.Join(dir, file)
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	var record strings.Builder
	for _, m := range members {
		h := &zip.FileHeader{Name: m.Name, Method: zip.Deflate}
		mode := m.Mode
		if mode == 0 {
			mode = 0o644
		}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		// A name ending in "/" is a directory entry, which holds no
		// bytes (the zip writer refuses them): the fuzzer makes such names.
		if !strings.HasSuffix(m.Name, "/") {
			if _, err := w.Write([]byte(m.Body)); err != nil {
				t.Fatal(err)
			}
		}
		switch {
		case m.Record != "":
			record.WriteString(m.Record + "\n")
		case !m.Unlisted && !strings.HasSuffix(m.Name, "/"):
			fmt.Fprintf(&record, "%s,%s,%d\n", m.Name, Digest(m.Body), len(m.Body))
		}
	}
	nv := strings.SplitN(file, "-", 3)
	rec := nv[0] + "-" + nv[1] + ".dist-info/RECORD"
	record.WriteString(rec + ",,\n")
	w, err := zw.Create(rec)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write([]byte(record.String())); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return p
}

// Basic are the members every test wheel of name-version needs.
func Basic(name, version string, extra ...Member) []Member {
	di := name + "-" + version + ".dist-info/"
	return append([]Member{
		{Name: name + "/__init__.py", Body: "x = 1\n"},
		{Name: di + "METADATA", Body: "Name: " + name + "\nVersion: " + version + "\n"},
		{Name: di + "WHEEL", Body: "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"},
	}, extra...)
}

// Install puts a distribution into the site-packages directory site as pip
// does: its files below site ("../../../bin/x" for a script) and a RECORD
// in its .dist-info directory listing them.
func Install(t testing.TB, site, name, version string, files map[string]string) {
	t.Helper()
	di := name + "-" + version + ".dist-info"
	var record strings.Builder
	for rel, body := range files {
		p := filepath.Join(site, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&record, "%s,%s,%d\n", rel, Digest(body), len(body))
	}
	fmt.Fprintf(&record, "%s/RECORD,,\n", di)
	if err := os.MkdirAll(filepath.Join(site, di), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(site, di, "RECORD"), []byte(record.String()), 0o644); err != nil {
		t.Fatal(err)
	}
}
