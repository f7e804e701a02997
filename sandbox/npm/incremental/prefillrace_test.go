package incremental

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// raceTree is an installed tree with many packages before z (the walk
// reads node_modules' entries, then takes them in order: the window in
// which z can change under it), and a directory outside node_modules with
// a file the walk must never reach.
func raceTree(t *testing.T) (project, secret string) {
	t.Helper()
	project = installedTree(t)
	for i := range 300 {
		write(t, filepath.Join(project, fmt.Sprintf("node_modules/p%03d/index.js", i)), "x")
	}
	write(t, filepath.Join(project, "node_modules/z/package.json"), `{"name":"z"}`)
	secret = filepath.Join(project, "home", "id_ed25519")
	write(t, secret, "PRIVATE KEY")
	return project, secret
}

// inodeOf is a file's (dev, inode).
func inodeOf(t *testing.T, p string) [2]uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	must(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	return [2]uint64{uint64(st.Dev), st.Ino}
}

// holds says whether the mirror below dir holds a name for the file ino.
func holds(t *testing.T, dir string, ino [2]uint64) string {
	t.Helper()
	found := ""
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && inodeOf(t, p) == ino {
			found = p
		}
		return nil
	})
	return found
}

// A directory of the host's node_modules replaced by a symlink while the
// prefill walks (a racing process on the host) never leads the walk out
// of node_modules: the mirror, which the new tree takes as the host's
// unchanged files, holds no name for a file outside it. The control: the
// racer did change z under walks (some failed, or mirrored z as the
// link it was when read), and the key is reachable through that link.
func TestAttackPrefillFollowsADirectorySwappedForALink(t *testing.T) {
	t.Parallel()
	project, secret := raceTree(t)
	ino := inodeOf(t, secret)
	z := filepath.Join(project, "node_modules/z")
	aside := filepath.Join(project, "z-aside")

	// Control: the key is reachable through the link the racer makes.
	if _, err := os.Stat(filepath.Join(project, "node_modules", "../home", "id_ed25519")); err != nil {
		t.Fatalf("control: %v", err)
	}

	defer swapper(z, aside, "../home")()
	tries, failed, linked := 0, 0, 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && !(tries >= 30 && failed+linked >= 5); tries++ {
		dir := t.TempDir()
		in := &Install{project: project}
		if err := in.Prefill(context.Background(), dir); err != nil {
			failed++ // a walk that fails fails the run: the project stays as it was
			continue
		}
		if p := holds(t, dir, ino); p != "" {
			rel, _ := filepath.Rel(dir, p)
			t.Fatalf("ATTACK WORKS: after %d prefills the mirror links the host's %s at %s: the new tree would hold it as an unchanged file of node_modules",
				tries+1, strings.TrimPrefix(secret, project+"/"), rel)
		}
		if fi, err := os.Lstat(filepath.Join(dir, "node_modules/z")); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			linked++
		}
	}
	t.Logf("%d prefills raced: %d failed, %d mirrored z as the link, none reached outside node_modules", tries, failed, linked)
	if tries == failed || failed == 0 && linked == 0 {
		t.Fatal("control: no prefill completed, or the racer never changed z under one: the test proves nothing")
	}
}

// swapper is a racing process on the host: the directory z, then a link
// to target (z moved aside), then z again, until the function it returns
// stops it.
func swapper(z, aside, target string) (stop func()) {
	var done atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !done.Load() {
			if os.Rename(z, aside) == nil {
				_ = os.Symlink(target, z)
				time.Sleep(50 * time.Microsecond)
				_ = os.Remove(z)
				_ = os.Rename(aside, z)
			}
			time.Sleep(50 * time.Microsecond)
		}
	})
	return func() { done.Store(true); wg.Wait() }
}

// planned is Plan of project's installed tree, trusted.
func planned(t *testing.T, project string) *Install {
	t.Helper()
	var lock layout.Lockfile
	data, err := os.ReadFile(filepath.Join(project, "package-lock.json"))
	must(t, err)
	must(t, json.Unmarshal(data, &lock))
	in, why := Plan(project, nil, false, "package-lock.json", lock, nil)
	if in == nil {
		t.Fatalf("the installed tree is not trusted: %s", why)
	}
	return in
}

// bigTree is an installed tree whose walk takes a while: many files in a
// recorded package.
func bigTree(t *testing.T) string {
	t.Helper()
	project := installedTree(t)
	for i := range 1000 {
		write(t, filepath.Join(project, fmt.Sprintf("node_modules/a/lib/f%04d.js", i)), "x")
	}
	return project
}

// trustAgain dates npm's record after the tree (a copied tree's files are
// all new), as npm leaves it.
func trustAgain(t *testing.T, project string) {
	t.Helper()
	later := time.Now().Add(time.Hour)
	must(t, os.Chtimes(filepath.Join(project, "node_modules/.package-lock.json"), later, later))
}

// countTree counts the regular files below dir.
func countTree(t *testing.T, dir string) int {
	t.Helper()
	n, err := countFiles(dir)
	must(t, err)
	return n
}

// The host's node_modules replaced while the run goes on (another
// safe-install's swap in the same project, then its clean-up of the old
// tree; or npm run on the host) is not taken for the tree the trust check
// vouched for: the mirror of it is refused before anything of it is
// staged. Without that, the run swapped in the old tree minus what the
// other run's clean-up had removed before the walk read it (half a tree),
// or the other run's tree, which no check of this run saw. Controls: an
// untouched tree is accepted, and the racer did change the tree under
// the walks.
func TestAttackHostTreeReplacedDuringTheRun(t *testing.T) {
	t.Parallel()
	project := bigTree(t)
	trustAgain(t, project)
	untouched := planned(t, project)
	must(t, untouched.Prefill(context.Background(), t.TempDir()))
	if err := untouched.Unchanged(); err != nil {
		t.Fatalf("control: the untouched tree, mirrored, is refused: %v", err)
	}
	whole := countTree(t, filepath.Join(project, "node_modules"))
	raced, accepted, half, fewest := 0, 0, 0, whole
	for try := range 10 {
		trustAgain(t, project)
		in := planned(t, project)
		// The other run: its tree staged beside, swapped in, the old one
		// removed, while this run mirrors.
		other := filepath.Join(project, fmt.Sprintf(".safe-install-other%d", try))
		must(t, os.CopyFS(other, os.DirFS(filepath.Join(project, "node_modules"))))
		done := make(chan struct{})
		go func() {
			defer close(done)
			time.Sleep(time.Duration(try%5) * time.Millisecond)
			old := other + "-old"
			_ = os.Rename(filepath.Join(project, "node_modules"), old)
			_ = os.Rename(other, filepath.Join(project, "node_modules"))
			_ = os.RemoveAll(old)
		}()
		dir := t.TempDir()
		err := in.Prefill(context.Background(), dir)
		<-done
		if err != nil {
			raced++ // the walk failed: the run fails, the project as it was
			continue
		}
		got := countTree(t, filepath.Join(dir, "node_modules"))
		if got != whole {
			raced++
		}
		if uerr := in.Unchanged(); uerr == nil {
			accepted++
			if got != whole {
				half, fewest = half+1, min(fewest, got)
			}
		} else if !strings.Contains(uerr.Error(), "node_modules") {
			t.Errorf("the refusal does not name node_modules: %v", uerr)
		}
	}
	t.Logf("10 runs raced, %d walks failed or mirrored part of the tree", raced)
	if accepted > 0 {
		t.Errorf("ATTACK WORKS: %d of 10 trees replaced during the run were taken for the one the trust check saw, %d of them half (as few as %d of %d files)", accepted, half, fewest, whole)
	}
	if raced == 0 {
		t.Fatal("control: the replacement never happened under a walk: the test proves nothing")
	}
	// A package planted at the top of node_modules.
	trustAgain(t, project)
	in := planned(t, project)
	write(t, filepath.Join(project, "node_modules/planted/index.js"), "x")
	if err := in.Unchanged(); err == nil {
		t.Error("ATTACK WORKS: a package planted in node_modules during the run, the tree is taken as trusted")
	}
	must(t, os.RemoveAll(filepath.Join(project, "node_modules/planted")))
	// npm on the host rewrites its record in place.
	trustAgain(t, project)
	in = planned(t, project)
	rec := filepath.Join(project, "node_modules/.package-lock.json")
	data, err := os.ReadFile(rec)
	must(t, err)
	must(t, os.WriteFile(rec, append(data, ' '), 0o644))
	if err := in.Unchanged(); err == nil {
		t.Fatal("ATTACK WORKS: npm's record rewritten on the host during the run, the tree is taken as trusted")
	}
}
