//go:build e2e

package main

import (
	"archive/tar"
	"bytes"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A changed archive that the fetch cannot remove once it has extracted it
// (a read-only directory with a file in it: tar sets the directory's mode
// last, and rm -rf cannot empty it). The cache's promise is that a changed
// archive is fetched again and overwritten; a fetch that gives up instead
// would fail every later npm ci of these inputs, for good, since the
// archive stays. Positive control: the same archive, extracted with the
// same GNU tar and removed with rm -rf on the host, resists removal.
func TestE2EAttackFetchedTreeArchiveResistsRemoval(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"FT-2", "fetched-tree cache: a changed archive the fetch cannot remove after extracting it", "the mismatch path makes what it extracted writable before removing it"})
	w, archive, want := savedArchive(t, "victim")
	locked := appendLockedDir(t, podmanUnshareRead(t, archive))

	// Control: the archive is armed.
	dir := t.TempDir()
	x := exec.Command("tar", "-xpf", "-", "-C", dir)
	x.Stdin = bytes.NewReader(locked)
	if out, err := x.CombinedOutput(); err != nil {
		t.Fatalf("extracting the changed archive: %v\n%s", err, out)
	}
	armed := exec.Command("rm", "-rf", "--", filepath.Join(dir, "node_modules")).Run() != nil
	must(t, exec.Command("chmod", "-R", "u+rwX", dir).Run())
	if !armed {
		t.Fatal("positive control: rm -rf removed the extracted archive: the attack is not armed")
	}

	podmanUnshareWrite(t, archive, locked)
	w.refetched(want)
}

// A changed archive the fetch cannot open (mode 000: the fetch runs as an
// unprivileged user with no capability): the restore must take it as
// changed and fetch again. Before, the open failed in the pipeline's tee,
// which then never opened the FIFO that b2sum waits on, and the fetch
// hung until --timeout, in every later npm ci of these inputs.
func TestE2EAttackFetchedTreeArchiveUnreadable(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"FT-3", "fetched-tree cache: a changed archive the fetch cannot open", "the restore reads the archive from a redirection of its own; an archive it cannot open is a mismatch"})
	w, archive, want := savedArchive(t, "victim")
	out, err := exec.Command("podman", "unshare", "sh", "-c", `chmod 000 "$1" && stat -c %a "$1"`, "sh", archive).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "0" {
		t.Fatalf("positive control: the archive is not unreadable (%v): %s", err, out)
	}
	w.refetched(want, "--timeout", "45s")
}

// appendLockedDir adds node_modules/zz-locked (mode 0555) with a file in
// it to archive.
func appendLockedDir(t *testing.T, archive []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(archive))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		must(t, tw.WriteHeader(hdr))
		_, err = io.Copy(tw, tr)
		must(t, err)
	}
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "node_modules/zz-locked/", Mode: 0o555}))
	must(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "node_modules/zz-locked/f", Mode: 0o444, Size: 1}))
	_, err := tw.Write([]byte("x"))
	must(t, err)
	must(t, tw.Close())
	return out.Bytes()
}
