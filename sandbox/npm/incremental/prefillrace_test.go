package incremental

import (
	"context"
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

	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		// The racer: z is a directory, then a link to home, then back.
		for !stop.Load() {
			if os.Rename(z, aside) == nil {
				_ = os.Symlink("../home", z)
				time.Sleep(50 * time.Microsecond)
				_ = os.Remove(z)
				_ = os.Rename(aside, z)
			}
			time.Sleep(50 * time.Microsecond)
		}
	})
	defer func() { stop.Store(true); wg.Wait() }()
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
