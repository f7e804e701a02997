package beneath

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The attack: a directory of the project, or the file itself, is a
// symlink to what is outside it (~/.ssh), a FIFO or a socket. Every case
// is refused by both resolutions, the canary never read; the control: a
// plain file of the project, and the outside file by its own path, read.
func TestAttackOpenReachesOutside(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	home, proj := filepath.Join(base, "home"), filepath.Join(base, "proj")
	write(t, filepath.Join(home, ".ssh/id_rsa"), "CANARY")
	write(t, filepath.Join(proj, "node_modules/a/package.json"), "{}")
	must(t, os.Symlink(filepath.Join(home, ".ssh"), filepath.Join(proj, "node_modules/b")))
	must(t, os.Symlink("../..", filepath.Join(proj, "node_modules/a/up")))
	must(t, os.Symlink(filepath.Join(home, ".ssh/id_rsa"), filepath.Join(proj, "node_modules/a/key")))
	must(t, syscall.Mkfifo(filepath.Join(proj, "node_modules/a/fifo"), 0o600))
	l, err := net.Listen("unix", filepath.Join(proj, "node_modules/a/sock"))
	must(t, err)
	defer l.Close()
	r, err := OpenRoot(proj)
	must(t, err)
	defer r.Close()
	for _, resolve := range []string{"openat2", "walk"} {
		open := func(rel string) ([]byte, error) {
			if resolve == "openat2" {
				return r.ReadFile(rel, 1<<10)
			}
			fd, err := r.walk(rel, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC)
			if err != nil {
				return nil, err
			}
			f := os.NewFile(uintptr(fd), rel)
			defer f.Close()
			if fi, _ := f.Stat(); !fi.Mode().IsRegular() {
				return nil, errors.New("not regular")
			}
			buf := make([]byte, 64)
			n, err := f.Read(buf)
			return buf[:n], err
		}
		if data, err := open("node_modules/a/package.json"); err != nil || string(data) != "{}" {
			t.Fatalf("%s: control: the project's own file: %q, %v", resolve, data, err)
		}
		for _, rel := range []string{"node_modules/b/id_rsa", "node_modules/a/up/home/.ssh/id_rsa", "node_modules/a/key", "node_modules/a/fifo", "node_modules/a/sock", "../home/.ssh/id_rsa", "node_modules/a/../../../home/.ssh/id_rsa"} {
			start := time.Now()
			data, err := open(rel)
			if strings.Contains(string(data), "CANARY") {
				t.Errorf("ATTACK WORKS (%s): %s read the file outside the project", resolve, rel)
			}
			if err == nil {
				t.Errorf("%s: %s was opened", resolve, rel)
			}
			if time.Since(start) > time.Second {
				t.Errorf("%s: %s waited", resolve, rel)
			}
		}
	}
	if data, err := os.ReadFile(filepath.Join(proj, "node_modules/b/id_rsa")); err != nil || string(data) != "CANARY" {
		t.Fatalf("control: the path read through the link: %q, %v", data, err)
	}
	for _, rel := range []string{"node_modules/b/id_rsa", "node_modules/a/fifo"} {
		if _, _, err := r.Open(rel); !errors.Is(err, ErrRefused) {
			t.Errorf("%s: %v, want ErrRefused", rel, err)
		}
	}
	if _, err := r.Rel(filepath.Join(home, ".ssh/id_rsa")); !errors.Is(err, ErrRefused) {
		t.Errorf("Rel of a path outside: %v", err)
	}
	if rel, err := r.Rel(filepath.Join(proj, "node_modules/a/package.json")); err != nil || rel != "node_modules/a/package.json" {
		t.Errorf("Rel: %q, %v", rel, err)
	}
}

func TestReadFileBound(t *testing.T) {
	t.Parallel()
	proj := t.TempDir()
	write(t, filepath.Join(proj, "f"), "12345")
	r, err := OpenRoot(proj)
	must(t, err)
	defer r.Close()
	if _, err := r.ReadFile("f", 4); err == nil {
		t.Error("a file over the bound was read")
	}
	if data, err := r.ReadFile("f", 5); err != nil || string(data) != "12345" {
		t.Errorf("%q, %v", data, err)
	}
}

func write(t *testing.T, p, body string) {
	t.Helper()
	must(t, os.MkdirAll(filepath.Dir(p), 0o755))
	must(t, os.WriteFile(p, []byte(body), 0o644))
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
