package install

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// An installed tree comes in as it is: files by their path on the host,
// links as links (never followed), hidden entries too; a FIFO is refused.
func TestTreeInputs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for name, body := range map[string]string{"node_modules/a/index.js": "x", "node_modules/.package-lock.json": "{}", "secret": "s"} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "node_modules/.bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../secret", filepath.Join(dir, "node_modules/.bin/a")); err != nil {
		t.Fatal(err)
	}
	got, err := TreeInputs(dir, "node_modules")
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Input{}
	for _, in := range got {
		byName[in.Name] = in
	}
	if len(got) != 3 || byName["node_modules/a/index.js"].Source == "" || byName["node_modules/.package-lock.json"].Source == "" {
		t.Errorf("inputs %+v", got)
	}
	if in := byName["node_modules/.bin/a"]; in.Link != "../../secret" || in.Source != "" || in.Data != nil {
		t.Errorf("the link came in as %+v, want a link", in)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "node_modules/a/fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := TreeInputs(dir, "node_modules"); !errors.Is(err, ErrPolicy) {
		t.Errorf("a FIFO in the tree: %v, want a refusal", err)
	}
}
