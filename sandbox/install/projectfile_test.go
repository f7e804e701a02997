package install

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A plan's reads of the project's files are held to the copy-in's rule:
// a link (to a file outside, or through a linked directory), a FIFO or a
// device is refused at once, an oversized file is a limit, an absent one
// is fs.ErrNotExist. Control: a plain read through each link reads the
// canary outside the project.
func TestAttackProjectFileReadsOutside(t *testing.T) {
	outside := t.TempDir()
	canary := filepath.Join(outside, "credentials")
	if err := os.WriteFile(canary, []byte("CANARY-aws-secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	project := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Symlink(canary, filepath.Join(project, "requirements.txt")))
	must(os.Symlink(outside, filepath.Join(project, "libs")))
	must(os.Symlink("/dev/zero", filepath.Join(project, "package.json")))
	must(unix.Mkfifo(filepath.Join(project, ".npmrc"), 0o644))
	big, err := os.Create(filepath.Join(project, "package-lock.json"))
	must(err)
	must(big.Truncate(MaxProjectFile + 1))
	must(big.Close())
	must(os.WriteFile(filepath.Join(project, "ok.txt"), []byte("fine"), 0o644))

	for _, rel := range []string{"requirements.txt", "libs/credentials"} {
		if data, err := os.ReadFile(filepath.Join(project, rel)); err != nil || string(data) != "CANARY-aws-secret" {
			t.Fatalf("control: a plain read of %s: %q, %v", rel, data, err)
		}
	}
	cases := []struct {
		rel  string
		want error
	}{
		{"requirements.txt", ErrPolicy},
		{"libs/credentials", ErrPolicy},
		{"package.json", ErrPolicy},
		{".npmrc", ErrPolicy},
		{"package-lock.json", ErrLimit},
		{"absent.txt", fs.ErrNotExist},
	}
	for _, c := range cases {
		done := make(chan struct{})
		var data []byte
		var err error
		go func() { defer close(done); data, err = ReadProjectFile(project, c.rel) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: the read still waits after 10 s", c.rel)
		}
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %q, %v; want %v", c.rel, data, err, c.want)
		}
		if len(data) > 0 {
			t.Errorf("%s: read %d bytes", c.rel, len(data))
		}
	}
	if data, err := ReadProjectFile(project, "ok.txt"); err != nil || string(data) != "fine" {
		t.Errorf("a plain file of the project: %q, %v", data, err)
	}
}
