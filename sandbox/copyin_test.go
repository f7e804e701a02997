package sandbox

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/install"
)

// A link input is written as a link, owned by the sandbox user, with no
// content: nothing on the host is read through it.
func TestWriteInputsLink(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := writeInputs(&buf, "", []install.Input{{Name: "node_modules/.bin/a", Link: "../a/cli.js", Source: "/etc/shadow"}}); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(&buf)
	var got []*tar.Header
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		got = append(got, h)
	}
	if len(got) != 3 {
		t.Fatalf("%d entries, want two directories and the link", len(got))
	}
	if h := got[2]; h.Typeflag != tar.TypeSymlink || h.Linkname != "../a/cli.js" || h.Size != 0 || h.Uid != sandboxUID {
		t.Errorf("link written as %+v", h)
	}
}

// The installed tree is listed by the plan, and copied in well after: a
// host process swaps a directory of it for a symlink to ~/.ssh, whose
// file has a listed name, meanwhile. The copy-in refuses it and reads
// nothing outside the project; so for a FIFO listed as a file, at once.
// The control: the listed path, opened as the copy-in opened it before
// (O_NOFOLLOW, the last component alone), reads the canary.
func TestAttackCopyInThroughSwappedDirectory(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	proj, home := filepath.Join(base, "proj"), filepath.Join(base, "home")
	for name, body := range map[string]string{
		"home/.ssh/id_rsa":                     "SICANARY-SSH",
		"proj/package.json":                    "{}",
		"proj/node_modules/a/package.json":     `{"name":"a"}`,
		"proj/node_modules/a/keys/id_rsa":      "the package's own file",
		"proj/node_modules/b/lib/package.json": "{}",
	} {
		p := filepath.Join(base, name)
		must(t, os.MkdirAll(filepath.Dir(p), 0o755))
		must(t, os.WriteFile(p, []byte(body), 0o644))
	}
	inputs, err := install.TreeInputs(proj, "node_modules")
	must(t, err)
	inputs = append(inputs, install.Input{Name: "package.json", Source: filepath.Join(proj, "package.json"), Mode: 0o644})
	// The swap, after the listing.
	keys := filepath.Join(proj, "node_modules/a/keys")
	must(t, os.RemoveAll(keys))
	must(t, os.Symlink(filepath.Join(home, ".ssh"), keys))
	must(t, syscall.Mkfifo(filepath.Join(proj, "node_modules/b/fifo"), 0o600))

	f, err := os.OpenFile(filepath.Join(keys, "id_rsa"), os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	must(t, err)
	data, _ := io.ReadAll(f)
	f.Close()
	if string(data) != "SICANARY-SSH" {
		t.Fatalf("control: the listed path read %q", data)
	}
	var buf bytes.Buffer
	err = writeInputs(&buf, proj, inputs)
	if bytes.Contains(buf.Bytes(), []byte("SICANARY")) {
		t.Errorf("ATTACK WORKS: the copy-in read a file outside the project")
	}
	if !errors.Is(err, install.ErrPolicy) || !strings.Contains(err.Error(), "node_modules/a/keys/id_rsa") {
		t.Errorf("the copy-in through the swapped directory: %v, want a refusal naming it", err)
	}
	fifo := []install.Input{{Name: "node_modules/b/fifo", Source: filepath.Join(proj, "node_modules/b/fifo"), Mode: 0o644}}
	done := make(chan error, 1)
	go func() { done <- writeInputs(io.Discard, proj, fifo) }()
	select {
	case err := <-done:
		if !errors.Is(err, install.ErrPolicy) {
			t.Errorf("a FIFO copied in: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the copy-in waits on a FIFO")
	}
	// The project's own files still go in.
	buf.Reset()
	must(t, writeInputs(&buf, proj, inputs[len(inputs)-1:]))
	if !bytes.Contains(buf.Bytes(), []byte("{}")) {
		t.Error("control: package.json did not go in")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
