package images

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestForPython(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(ca, []byte("-----BEGIN CERTIFICATE-----\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	host := Spec{Node: "20.20.2", NPM: "11.19.1", Suite: "bookworm", Mirror: "http://deb.debian.org/debian", CABundle: ca, Arch: "amd64"}
	for _, tc := range []struct{ python, suite string }{{"", "bookworm"}, {"3.11", "bookworm"}, {"3.13", "trixie"}, {"3.9", "bullseye"}} {
		s, err := host.ForPython(tc.python)
		if err != nil || s.Suite != tc.suite {
			t.Errorf("python %q: suite %q, %v; want %s", tc.python, s.Suite, err, tc.suite)
		}
	}
	a, _ := host.Ref()
	trixie, _ := host.ForPython("3.13")
	b, _ := trixie.Ref()
	if a == b {
		t.Error("images for two Pythons share a name")
	}
	if _, err := host.ForPython("3.12"); err == nil || !strings.Contains(err.Error(), "Python 3.12") {
		t.Errorf("3.12: %v", err)
	}
}
