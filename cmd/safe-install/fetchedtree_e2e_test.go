//go:build e2e

package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The fetched-tree cache (sandbox/fetchedtree): npm ci of inputs an
// earlier run fetched restores that fetch's tree instead of running npm;
// the scripts, the copy-back rule and the swap are as before.

// A second npm ci of the same project restores the tree and gives the host
// the same node_modules, file for file, with the dependencies' scripts run.
func TestE2ENPMCiRestoresTheFetchedTree(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	w.project("victim", "writes-own-file", "has-bin")
	// The project's own postinstall runs on the restored tree too, after
	// the check of what the dependencies' scripts left.
	w.rootScripts(map[string]string{"postinstall": "node -e \"require('fs').writeFileSync('node_modules/.project-ran', 'yes')\""})
	w.succeeds("npm", "install")
	// The first fetch of these inputs saves nothing; the second does.
	w.ciFetchedTree("first")
	fetched := w.ciFetchedTree("saved")
	want := w.snapshotOf(filepath.Join(w.proj, "node_modules"))

	r := w.ciRun()
	if got := reportField(t, r.report, "fetched_tree"); got != "restored" {
		t.Fatalf("the second npm ci: fetched_tree %q, want restored\n%s", got, r.stderr)
	}
	if !strings.Contains(r.stderr, "fetched tree restored from the cache") {
		t.Errorf("the run does not say it restored the tree:\n%s", r.stderr)
	}
	w.assertSame(want, w.snapshotOf(filepath.Join(w.proj, "node_modules")))
	if got := w.read("node_modules/writes-own-file/generated.txt"); got != "made by postinstall\n" {
		t.Errorf("writes-own-file's postinstall on the restored tree: %q", got)
	}
	if got := w.read("node_modules/.project-ran"); got != "yes" {
		t.Errorf("the project's postinstall on the restored tree: %q", got)
	}
	if fetched == "" {
		t.Fatal("no archive in the cache volume")
	}

	// A changed project is another key: fetched, not restored.
	w.addDeps("script-lib")
	w.succeeds("npm", "install")
	w.ciFetchedTree("first")
}

// The archive in the engine's cache volume is changed behind safe-install's
// back, the payload and the listing both (a tamperer with the engine's
// storage, or a fetch that broke out of npm's extraction): the next npm ci
// fetches again and the host gets npm's tree. The positive control: with
// the host's record made to agree with the changed archive, the payload
// would reach the host, so the record is what stops it.
func TestE2EAttackFetchedTreeArchiveChanged(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"FT-1", "fetched-tree cache: a changed archive in the cache volume", "host-side record of each archive's BLAKE2b sum"})
	w, archive, want := savedArchive(t, "victim", "writes-own-file")
	const payload = "require('fs').writeFileSync(require('os').homedir() + '/pwned-by-cache', 'x'); module.exports = (s) => s;\n"
	tampered := tamperArchive(t, podmanUnshareRead(t, archive), "./node_modules/victim/index.js", payload)
	podmanUnshareWrite(t, archive, tampered)

	// Control: the record agrees with the changed archive.
	record := w.fetchedTreeRecord()
	honest := readFile(t, record)
	b2 := exec.Command("b2sum")
	b2.Stdin = bytes.NewReader(tampered)
	out, err := b2.Output()
	must(t, err)
	must(t, os.WriteFile(record, []byte(strings.Fields(string(out))[0]+"\n"), 0o600))
	r := w.ciRun()
	if got := reportField(t, r.report, "fetched_tree"); got != "restored" || !strings.Contains(w.read("node_modules/victim/index.js"), "pwned-by-cache") {
		t.Fatalf("positive control: with the record agreeing, the changed archive was not delivered (fetched_tree %q): the attack is not armed\n%s", got, r.stderr)
	}

	// The attack: the archive changed, the record is the host's own.
	podmanUnshareWrite(t, archive, tampered)
	must(t, os.WriteFile(record, []byte(honest), 0o600))
	r = w.refetched(want)
	if !strings.Contains(r.stderr, "did not match safe-install's record") {
		t.Errorf("a changed archive was fetched again without a warning\n%s", r.stderr)
	}
	if data, _ := os.ReadFile(filepath.Join(w.proj, "node_modules/victim/index.js")); bytes.Contains(data, []byte("pwned")) {
		t.Fatal("the changed archive's payload reached the host")
	}
}

// savedArchive is a world whose project (these dependencies) has its
// fetched tree saved: the archive's path in the cache volume and the tree
// npm ci gave.
func savedArchive(t *testing.T, deps ...string) (*world, string, map[string]string) {
	t.Helper()
	w := newWorld(t)
	w.project(deps...)
	w.succeeds("npm", "install")
	w.ciFetchedTree("first") // a first fetch saves nothing
	archive := w.ciFetchedTree("saved")
	return w, archive, w.snapshotOf(filepath.Join(w.proj, "node_modules"))
}

// refetched runs npm ci (flags before "ci") over a changed archive and
// wants it fetched again: exit 0, fetched_tree "mismatch", npm's own tree
// want; the next npm ci restores that tree. It returns the first run.
func (w *world) refetched(want map[string]string, flags ...string) result {
	w.t.Helper()
	must(w.t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	r := w.run(append(append([]string{"npm"}, flags...), "ci")...)
	if r.code != 0 {
		w.t.Fatalf("npm ci over a changed archive: exit %d, want 0 (fetched again)\n%s", r.code, r.stderr)
	}
	if got := reportField(w.t, r.report, "fetched_tree"); got != "mismatch" {
		w.t.Errorf("npm ci over a changed archive: fetched_tree %q, want mismatch", got)
	}
	w.assertSame(want, w.snapshotOf(filepath.Join(w.proj, "node_modules")))
	// npm's tree replaced the changed archive.
	w.ciFetchedTree("restored")
	w.assertSame(want, w.snapshotOf(filepath.Join(w.proj, "node_modules")))
	return r
}

// ciRun removes node_modules (as npm ci does) and runs safe-install npm ci.
func (w *world) ciRun() result {
	w.t.Helper()
	must(w.t, os.RemoveAll(filepath.Join(w.proj, "node_modules")))
	return w.succeeds("npm", "ci")
}

// ciFetchedTree runs npm ci, wants the report to say outcome, and returns
// the path of this project's newest archive in the cache volume.
func (w *world) ciFetchedTree(outcome string) string {
	w.t.Helper()
	r := w.ciRun()
	if got := reportField(w.t, r.report, "fetched_tree"); got != outcome {
		w.t.Fatalf("npm ci: fetched_tree %q, want %q\n%s", got, outcome, r.stderr)
	}
	id, err := os.ReadFile(filepath.Join(w.home, ".cache/safe-install/fetched-trees/client"))
	must(w.t, err)
	client := strings.TrimSpace(string(id))
	out, err := exec.Command("podman", "volume", "ls", "--filter", "label=io.safe-install.cache=npm", "--format", "{{.Mountpoint}}").Output()
	must(w.t, err)
	var newest string
	for _, mp := range strings.Fields(string(out)) {
		list, err := exec.Command("podman", "unshare", "sh", "-c", `ls -t "$1"/safe-install-trees/*-"$2"-*.tar 2>/dev/null | head -1`, "sh", mp, client).Output()
		must(w.t, err)
		if s := strings.TrimSpace(string(list)); s != "" {
			newest = s
		}
	}
	return newest
}

// fetchedTreeRecord is the host's one record of this world's archive.
func (w *world) fetchedTreeRecord() string {
	w.t.Helper()
	recs, _ := filepath.Glob(filepath.Join(w.home, ".cache/safe-install/fetched-trees/safe-install-cache-npm-*/*"))
	if len(recs) != 1 {
		w.t.Fatalf("want one fetched-tree record, have %v", recs)
	}
	return recs[0]
}

func reportField(t testing.TB, report, field string) string {
	t.Helper()
	data, err := os.ReadFile(report)
	must(t, err)
	var m map[string]any
	must(t, json.Unmarshal(data, &m))
	s, _ := m[field].(string)
	return s
}

func podmanUnshareRead(t *testing.T, file string) []byte {
	t.Helper()
	out, err := exec.Command("podman", "unshare", "cat", file).Output()
	must(t, err)
	return out
}

func podmanUnshareWrite(t *testing.T, file string, data []byte) {
	t.Helper()
	cmd := exec.Command("podman", "unshare", "sh", "-c", `cat > "$1"`, "sh", file)
	cmd.Stdin = bytes.NewReader(data)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("writing the archive: %v\n%s", err, out)
	}
}

// tamperArchive rewrites the archive with name's content replaced, and the
// listing's sum of it with it, so that the restored tree agrees with its
// own baseline.
func tamperArchive(t *testing.T, archive []byte, name, content string) []byte {
	t.Helper()
	sum := sha256.Sum256([]byte(content))
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(archive))
	replaced := 0
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		must(t, err)
		body, err := io.ReadAll(tr)
		must(t, err)
		switch {
		case hdr.Name == strings.TrimPrefix(name, "./"):
			body = []byte(content)
			replaced++
		case strings.HasSuffix(hdr.Name, ".safe-install-fetched.sums"):
			var lines [][]byte
			for _, l := range bytes.Split(body, []byte{0}) {
				if bytes.HasSuffix(l, []byte("  "+name)) {
					l = []byte(hex.EncodeToString(sum[:]) + "  " + name)
					replaced++
				}
				lines = append(lines, l)
			}
			body = bytes.Join(lines, []byte{0})
		}
		hdr.Size = int64(len(body))
		must(t, tw.WriteHeader(hdr))
		_, err = tw.Write(body)
		must(t, err)
	}
	must(t, tw.Close())
	if replaced != 2 {
		t.Fatalf("the archive has %d of %s and its sum, want both", replaced, name)
	}
	return out.Bytes()
}
