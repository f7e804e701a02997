package sandbox

import (
	"archive/tar"
	"bytes"
	"testing"

	"github.com/safe-install/safe-install/sandbox/install"
)

// A link input is written as a link, owned by the sandbox user, with no
// content: nothing on the host is read through it.
func TestWriteInputsLink(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := writeInputs(&buf, []install.Input{{Name: "node_modules/.bin/a", Link: "../a/cli.js", Source: "/etc/shadow"}}); err != nil {
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
