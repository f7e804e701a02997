package fetchedtree

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/install"
)

// fakeNPM stands for the package manager in the script tests: it writes a
// small tree and counts its runs.
const fakeNPM = `#!/bin/sh
echo run >> "$COUNT"
mkdir -p node_modules/a/.bin node_modules/.bin || exit 1
printf 'module.exports = 1\n' > node_modules/a/index.js
chmod 0755 node_modules/a/index.js
ln -sf ../a/index.js node_modules/.bin/a
printf 'npm warn deprecated x@1: a message from the registry\nsafe-install-tree %032d: saved %0128d\n' 0 0
`

type scriptWorld struct {
	t                *testing.T
	cache, work, bin string
	count, script    string
	key              string
	lastOut, lastSum string
	// prefix runs the script under another command (unshare: a pid
	// namespace of its own, as a fetch container's).
	prefix []string
}

func newScriptWorld(t *testing.T) *scriptWorld {
	for _, tool := range []string{"sh", "tar", "b2sum", "stat"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the script needs %s: %v", tool, err)
		}
	}
	d := t.TempDir()
	w := &scriptWorld{t: t, cache: filepath.Join(d, "cache"), work: filepath.Join(d, "work"), bin: filepath.Join(d, "bin"),
		count: filepath.Join(d, "count"), key: strings.Repeat("ab", 32)}
	for _, dir := range []string{w.work, w.bin} {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(w.bin, "npm"), []byte(fakeNPM), 0o755); err != nil {
		t.Fatal(err)
	}
	inner := `npm "$@" || exit $?
find . -name 'listing.*' -prune -o -print | LC_ALL=C sort > listing.list
echo sums > listing.sums`
	w.script = strings.ReplaceAll(Wrap(inner, "node_modules", "listing.list", "listing.sums"), Dir, w.cache)
	return w
}

// run runs the wrapped script in a fresh work directory holding only the
// inputs, as a fetch container's is.
func (w *scriptWorld) run(sum string) Outcome {
	w.t.Helper()
	if err := os.RemoveAll(w.work); err != nil {
		w.t.Fatal(err)
	}
	if err := os.MkdirAll(w.work, 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(w.work, "package.json"), []byte("{}\n"), 0o644); err != nil {
		w.t.Fatal(err)
	}
	argv := append(append([]string{}, w.prefix...), "sh", "-c", w.script, "sh", "ci", "--ignore-scripts")
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = w.work
	cmd.Env = []string{"PATH=" + w.bin + ":/usr/bin:/bin", "COUNT=" + w.count, EnvKey + "=" + w.key, EnvSum + "=" + sum, EnvNonce + "=" + testNonce}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		w.t.Fatalf("the wrapped fetch failed: %v\n%s", err, out.String())
	}
	w.lastOut = out.String()
	return Parse(w.lastOut, testNonce)
}

func (w *scriptWorld) npmRuns() int {
	data, _ := os.ReadFile(w.count)
	return strings.Count(string(data), "run")
}

func (w *scriptWorld) archives() []string {
	entries, _ := os.ReadDir(w.cache)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func (w *scriptWorld) b2sum(name string) string {
	out, err := exec.Command("b2sum", filepath.Join(w.cache, name)).Output()
	if err != nil {
		w.t.Fatal(err)
	}
	return strings.Fields(string(out))[0]
}

func TestWrapSavesRestoresAndRefusesAChangedArchive(t *testing.T) {
	w := newScriptWorld(t)
	first := w.run("")
	if first.Saved == "" || first.Restored || w.npmRuns() != 1 {
		t.Fatalf("first fetch: %+v, npm ran %d times, want one run and a save\n%s", first, w.npmRuns(), w.lastOut)
	}
	arch := w.archives()
	if len(arch) != 1 || !strings.HasPrefix(arch[0], w.key+"-") || !strings.HasSuffix(arch[0], ".tar") {
		t.Fatalf("cache holds %v, want one archive named by the key", arch)
	}
	if got := w.b2sum(arch[0]); got != first.Saved {
		t.Fatalf("the printed sum %s is not the archive's %s: the forged one in npm's output won", first.Saved, got)
	}
	wantList, _ := os.ReadFile(filepath.Join(w.work, "listing.list"))

	// No recorded sum: no restore, whatever the cache holds.
	if o := w.run(""); o.Restored || w.npmRuns() != 2 {
		t.Fatalf("a fetch without a recorded sum restored: %+v", o)
	}
	second := w.b2sum(w.archives()[0])

	restored := w.run(second)
	if !restored.Restored || restored.Saved != "" || w.npmRuns() != 2 {
		t.Fatalf("with the recorded sum: %+v, npm ran %d times, want a restore and no run\n%s", restored, w.npmRuns(), w.lastOut)
	}
	gotList, _ := os.ReadFile(filepath.Join(w.work, "listing.list"))
	if !bytes.Equal(gotList, wantList) {
		t.Errorf("the restored work directory's listing\n%s\nis not the fetched one\n%s", gotList, wantList)
	}
	if fi, err := os.Stat(filepath.Join(w.work, "node_modules/a/index.js")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("restored index.js: %v %v, want mode 0755", fi, err)
	}
	if target, err := os.Readlink(filepath.Join(w.work, "node_modules/.bin/a")); err != nil || target != "../a/index.js" {
		t.Errorf("restored .bin link: %q %v", target, err)
	}
	if _, err := os.Stat(filepath.Join(w.work, ".safe-install-restore")); err == nil {
		t.Errorf("the restore directory was left behind")
	}

	// The archive changed after the record: fetched again, not restored.
	a := filepath.Join(w.cache, w.archives()[0])
	f, err := os.OpenFile(a, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = f.Write(make([]byte, 512))
	f.Close()
	o := w.run(second)
	if o.Restored || !o.Mismatch || o.Saved == "" || w.npmRuns() != 3 {
		t.Fatalf("a changed archive: %+v, npm ran %d times, want a mismatch, a run and a new save\n%s", o, w.npmRuns(), w.lastOut)
	}
}

// In a fetch container the shell's pid is always the same (13, measured),
// so a temporary name made of $$ is one file for two runs that save one
// key at once: each would write into, and sum, the other's archive. The
// stand-in for the other run is what is at that name when the save starts
// (a link to a file outside the cache, so that a write through it shows);
// the script runs as pid 1 of a pid namespace of its own.
func TestWrapSavesUnderANameOfItsOwn(t *testing.T) {
	w := newScriptWorld(t)
	w.prefix = []string{"unshare", "-rpf"}
	first := w.run("")
	arch := w.archives()
	if first.Saved == "" || len(arch) != 1 {
		t.Fatalf("first fetch: %+v, cache %v\n%s", first, arch, w.lastOut)
	}
	k := strings.TrimSuffix(arch[0], ".tar")
	outside := filepath.Join(t.TempDir(), "outside")
	if err := os.WriteFile(outside, []byte("another run's\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for pid := 1; pid <= 64; pid++ {
		if err := os.Symlink(outside, filepath.Join(w.cache, fmt.Sprintf(".%s.%d.tmp", k, pid))); err != nil {
			t.Fatal(err)
		}
	}
	second := w.run("")
	if data, _ := os.ReadFile(outside); string(data) != "another run's\n" {
		t.Errorf("the save wrote through what was at its temporary name (%d bytes there now)", len(data))
	}
	if fi, err := os.Lstat(filepath.Join(w.cache, arch[0])); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("the archive is not a file of its own: %v %v", fi, err)
	} else if got := w.b2sum(arch[0]); got != second.Saved {
		t.Errorf("the printed sum %s is not the archive's %s", second.Saved, got)
	}
}

func TestWrapKeepsTheNewestArchives(t *testing.T) {
	w := newScriptWorld(t)
	for i := 0; i < kept+2; i++ {
		w.key = strings.Repeat(string("0123456789"[i]), 64)
		if o := w.run(""); o.Saved == "" {
			t.Fatalf("save %d: %+v\n%s", i, o, w.lastOut)
		}
	}
	arch := w.archives()
	if len(arch) != kept {
		t.Fatalf("cache holds %v, want the %d newest", arch, kept)
	}
	for _, a := range arch {
		if a[0] == '0' || a[0] == '1' {
			t.Errorf("an old archive survived: %s", a)
		}
	}
}

const testNonce = "0123456789abcdef0123456789abcdef"

func TestParseTakesOnlyTheRunsOwnLines(t *testing.T) {
	real := strings.Repeat("c", 128)
	forged := "safe-install-tree " + strings.Repeat("9", 32) + ": "
	out := "npm warn deprecated\n" + forged + "saved " + strings.Repeat("f", 128) + "\n" + forged + "restored\n" + forged + "mismatch\n" +
		"added 3 packages\nsafe-install-tree " + testNonce + ": saved " + real + "\nrelay: the host closed the stream\n"
	if o := Parse(out, testNonce); o != (Outcome{Saved: real}) {
		t.Errorf("Parse = %+v, want only the run's save %s", o, real)
	}
	if o := Parse("safe-install-tree "+testNonce+": saved 1234\nsafe-install-tree "+testNonce+": restoredx\n", testNonce); o != (Outcome{}) {
		t.Errorf("malformed markers were taken: %+v", o)
	}
	if o := Parse("safe-install-tree "+testNonce+": restored\n", testNonce); o != (Outcome{Restored: true}) {
		t.Errorf("Parse of a restore = %+v", o)
	}
}

func TestKeyCoversEveryInput(t *testing.T) {
	dir := t.TempDir()
	lock := filepath.Join(dir, "package-lock.json")
	if err := os.WriteFile(lock, []byte(`{"lockfileVersion":3}`), 0o644); err != nil {
		t.Fatal(err)
	}
	base := func() *install.Plan {
		return &install.Plan{Manager: "npm", FetchedTree: true, Project: dir,
			Fetch:     install.Phase{Command: []string{"npm", "ci"}, Env: map[string]string{"A": "1"}},
			Inputs:    []install.Input{{Name: "package.json", Data: []byte("{}"), Mode: 0o644}, {Name: "package-lock.json", Source: lock, Mode: 0o644}},
			FetchOnly: []install.Input{{Name: "npmrc", Data: []byte("registry=x\n"), Mode: 0o644}}}
	}
	k0, err := Key(base(), "img:1")
	if err != nil {
		t.Fatal(err)
	}
	if k1, _ := Key(base(), "img:1"); k1 != k0 {
		t.Fatalf("the key is not stable: %s, %s", k0, k1)
	}
	changes := map[string]func(p *install.Plan) string{
		"image":        func(p *install.Plan) string { return "img:2" },
		"command":      func(p *install.Plan) string { p.Fetch.Command[1] = "install"; return "img:1" },
		"env":          func(p *install.Plan) string { p.Fetch.Env["A"] = "2"; return "img:1" },
		"input data":   func(p *install.Plan) string { p.Inputs[0].Data = []byte("{ }"); return "img:1" },
		"input mode":   func(p *install.Plan) string { p.Inputs[0].Mode = 0o755; return "img:1" },
		"input name":   func(p *install.Plan) string { p.Inputs[0].Name = "a/package.json"; return "img:1" },
		"fetch config": func(p *install.Plan) string { p.FetchOnly[0].Data = []byte("registry=y\n"); return "img:1" },
		"added input": func(p *install.Plan) string {
			p.Inputs = append(p.Inputs, install.Input{Name: ".npmrc", Mode: 0o644})
			return "img:1"
		},
		"manager": func(p *install.Plan) string { p.Manager = "pnpm"; return "img:1" },
	}
	// Name and link are each length-prefixed: spaces do not shift one
	// into the other.
	a, b := base(), base()
	a.Inputs[0].Name, a.Inputs[0].Link = "A", "x 644 y"
	b.Inputs[0].Name, b.Inputs[0].Link = "A 644 x", "y"
	if ka, _ := Key(a, "img:1"); ka == func() string { k, _ := Key(b, "img:1"); return k }() {
		t.Errorf("two inputs whose name and link differ only in where a space falls share a key")
	}
	for name, change := range changes {
		p := base()
		img := change(p)
		if k, _ := Key(p, img); k == k0 {
			t.Errorf("changing the %s kept the key", name)
		}
	}
	if err := os.WriteFile(lock, []byte(`{"lockfileVersion":2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if k, _ := Key(base(), "img:1"); k == k0 {
		t.Errorf("a changed lockfile on disk kept the key")
	}
}

// The key reads each input as the copy-in does. A lockfile that is a FIFO
// (a cloned repository's) held a plain open for good (control: it still
// waits, until a writer comes); one reached through a directory swapped
// for a symlink (node_modules/x -> ~/.ssh), or a symlink itself, was read
// outside the project (control: a plain open reads the canary). Now each
// is an error, at once.
func TestAttackKeyReadsOutsideOrWaits(t *testing.T) {
	t.Parallel()
	base := t.TempDir()
	proj, home := filepath.Join(base, "proj"), filepath.Join(base, "home")
	for _, d := range []string{proj, filepath.Join(home, ".ssh")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(home, ".ssh/id_rsa"), []byte("CANARY"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(proj, "package-lock.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(home, ".ssh"), filepath.Join(proj, "libs")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(home, ".ssh/id_rsa"), filepath.Join(proj, "key.tgz")); err != nil {
		t.Fatal(err)
	}
	opened := make(chan error, 1)
	go func() {
		f, err := os.Open(fifo)
		if err == nil {
			f.Close()
		}
		opened <- err
	}()
	select {
	case <-opened:
		t.Fatal("control: a plain open of the FIFO did not wait")
	case <-time.After(200 * time.Millisecond):
	}
	if w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
		<-opened
		w.Close()
	}
	if data, err := os.ReadFile(filepath.Join(proj, "libs/id_rsa")); err != nil || string(data) != "CANARY" {
		t.Fatalf("control: a plain open through the link: %q, %v", data, err)
	}
	for _, name := range []string{"libs/id_rsa", "key.tgz", "package-lock.json"} {
		p := &install.Plan{Manager: "npm", Project: proj, Fetch: install.Phase{Command: []string{"npm", "ci"}},
			Inputs: []install.Input{{Name: name, Source: filepath.Join(proj, name), Mode: 0o644}}}
		done := make(chan error, 1)
		go func() { _, err := Key(p, "img:1"); done <- err }()
		select {
		case err := <-done:
			if err == nil {
				t.Errorf("ATTACK WORKS: %s was read for the key", name)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("ATTACK WORKS: the key waits on %s", name)
		}
	}
	p := &install.Plan{Manager: "npm", Project: proj, Inputs: []install.Input{{Name: "x", Source: filepath.Join(home, ".ssh/id_rsa")}}}
	if _, err := Key(p, "img:1"); err == nil {
		t.Error("ATTACK WORKS: an input from outside the project was read for the key")
	}
}

func TestRecords(t *testing.T) {
	base := t.TempDir()
	if _, err := Open(base, "../x"); err == nil {
		t.Errorf("a volume name with a slash was taken")
	}
	r, err := Open(base, "safe-install-cache-npm-1234")
	if err != nil {
		t.Fatal(err)
	}
	key, sum := strings.Repeat("a", 64), strings.Repeat("b", 128)
	if r.Sum(key) != "" {
		t.Errorf("a record out of nothing")
	}
	if err := r.Put(key, sum); err != nil {
		t.Fatal(err)
	}
	if got := r.Sum(key); got != sum {
		t.Errorf("Sum = %q, want %q", got, sum)
	}
	if err := r.Put("../../etc", sum); err == nil {
		t.Errorf("a malformed key was recorded")
	}
	if err := os.WriteFile(filepath.Join(r.dir, key), []byte("not a sum\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r.Sum(key) != "" {
		t.Errorf("a malformed record was taken")
	}
	for i := 0; i < maxRecords+5; i++ {
		k := strings.Repeat("0", 60) + string("0123456789abcdef"[i/16]) + string("0123456789abcdef"[i%16]) + "00"
		if err := r.Put(k, sum); err != nil {
			t.Fatal(err)
		}
	}
	entries, _ := os.ReadDir(r.dir)
	if len(entries) > maxRecords {
		t.Errorf("%d records kept, want at most %d", len(entries), maxRecords)
	}
}

// A first fetch of some inputs saves nothing and is noted; the second
// saves; the third restores.
func TestUseSavesOnTheSecondFetch(t *testing.T) {
	dir := t.TempDir()
	p := &install.Plan{Manager: "npm", FetchedTree: true, Fetch: install.Phase{Command: []string{"npm", "ci"}}}
	begin := func() *Use {
		u, err := Begin(p, "img", "safe-install-cache-npm-1", "local", dir)
		if err != nil || u == nil {
			t.Fatalf("Begin: %v %v", u, err)
		}
		return u
	}
	u := begin()
	if env := u.Env(map[string]string{"A": "1"}); env[EnvKey] != "" || env["A"] != "1" {
		t.Fatalf("a first fetch got the key: %v", env)
	}
	if entries, _ := os.ReadDir(dir); len(entries) > 0 {
		t.Fatalf("a run that has not ended wrote %v on the host", entries)
	}
	if o := u.Outcome(""); !o.First {
		t.Fatalf("the outcome of a first fetch: %+v", o)
	} else if begin().known {
		t.Fatalf("a first fetch was recorded before the run's end")
	} else if err := u.Record(o); err != nil {
		t.Fatal(err)
	}
	u = begin()
	env := u.Env(nil)
	if env[EnvKey] == "" || env[EnvSum] != "" || len(env[EnvNonce]) != 32 {
		t.Fatalf("a second fetch: %v, want the key, no sum, a nonce", env)
	}
	sum := strings.Repeat("d", 128)
	if o := u.Outcome("safe-install-tree " + env[EnvNonce] + ": saved " + sum + "\n"); o.Saved != sum {
		t.Fatalf("the outcome of a save: %+v", o)
	} else if err := u.Record(o); err != nil {
		t.Fatal(err)
	}
	if env := begin().Env(nil); env[EnvSum] != sum {
		t.Fatalf("a third fetch: %v, want the recorded sum", env)
	}
	p.PrivateCache = true
	if u, err := Begin(p, "img", "v", "local", dir); u != nil || err != nil {
		t.Errorf("a fetch with a cache of its own used the archives: %v %v", u, err)
	}
}

// Invariant 13 in the lasting volume: a save killed mid-write leaves its
// temporary archive; the next wrapped fetch, of any inputs, removes it once
// it has been untouched for ten minutes, and leaves a live one alone.
func TestWrapRemovesWhatKilledSavesLeft(t *testing.T) {
	w := newScriptWorld(t)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(w.cache, 0o755))
	dead := filepath.Join(w.cache, "."+strings.Repeat("e", 64)+".AAAAAAAA.tmp")
	live := filepath.Join(w.cache, "."+strings.Repeat("f", 64)+".BBBBBBBB.tmp")
	for _, f := range []string{dead, live} {
		must(os.WriteFile(f, []byte("half an archive"), 0o644))
	}
	old := time.Now().Add(-11 * time.Minute)
	must(os.Chtimes(dead, old, old))
	w.run("") // any wrapped fetch
	if _, err := os.Stat(dead); err == nil {
		t.Errorf("a killed save's temporary archive, untouched for 11 minutes, is still there")
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a save's temporary archive written just now was removed: %v", err)
	}
}
