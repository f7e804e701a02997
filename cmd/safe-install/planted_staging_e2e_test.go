//go:build e2e

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// A cloned checkout may hold a planted .safe-install-* directory: an owner
// record naming a dead process and a swap journal. `safe-install clean`
// (and every run, before it plans) repairs a half-done swap from such a
// journal. The attack: the journal names the project's package.json, by
// its inode (a journal may hold many guesses; here the right one), staged
// through a link the directory holds to the user's home, or, in the form
// a run writes, the project's .git staged as the planted directory's own.
// The undo would put the checkout's package.json at ~/.bashrc, or the
// planted .git (core.fsmonitor runs a program on every git status) in
// place of the user's. Neither may happen; the refusal names the
// directory.
func TestE2EPlantedStagingDirectoryIsNotUndone(t *testing.T) {
	w := newWorld(t)
	w.project()
	must(t, os.MkdirAll(filepath.Join(w.proj, ".git"), 0o755))
	must(t, os.WriteFile(filepath.Join(w.proj, ".git/config"), []byte("the user's\n"), 0o644))
	host, _ := os.Hostname()
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	must(t, err)
	dead := host + "/" + strings.TrimSpace(string(boot)) + "/" + strconv.Itoa(1<<22) + "/1"
	inode := func(p string) (uint64, uint64) {
		fi, err := os.Lstat(p)
		must(t, err)
		st := fi.Sys().(*syscall.Stat_t)
		return uint64(st.Dev), st.Ino
	}
	// The journal as this build writes it (with the directory's stamp,
	// guessed but for its birth) and as the first builds did (a bare list:
	// what the positive control, that build, reads).
	for _, c := range []struct{ via, form string }{{"link", "stamped"}, {"git", "stamped"}, {"link", "list"}, {"git", "list"}} {
		via := c.via
		dir := filepath.Join(w.proj, ".safe-install-planted-"+via+"-"+c.form)
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, "owner"), []byte(dead), 0o644))
		name, staged := "package.json", filepath.Join(dir, "run", ".bashrc")
		if via == "link" {
			must(t, os.Symlink(w.home, filepath.Join(dir, "run")))
		} else {
			name, staged = ".git", filepath.Join(dir, "run", ".git")
			must(t, os.MkdirAll(staged, 0o755))
			must(t, os.WriteFile(filepath.Join(staged, "config"), []byte("[core]\n\tfsmonitor = touch pwned\n"), 0o644))
		}
		pdev, pino := inode(filepath.Join(w.proj, name))
		ddev, dino := inode(dir)
		entries := []map[string]any{
			{"name": name, "staged": staged, "dev": pdev, "ino": pino},
			{"name": "node_modules", "staged": filepath.Join(dir, "run", "node_modules")},
		}
		var journal any = entries
		if c.form == "stamped" {
			journal = map[string]any{"dir": map[string]any{"dev": ddev, "ino": dino, "birth": 0}, "entries": entries}
		}
		j, err := json.Marshal(journal)
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, "swap.json"), j, 0o644))
	}
	before := w.snapshot()
	r := w.run("clean")
	if got := w.read("../.bashrc"); got != "# the user's shell setup\n" {
		t.Fatalf("~/.bashrc is now %q", got)
	}
	if got := w.read(".git/config"); got != "the user's\n" {
		t.Fatalf(".git/config is now %q", got)
	}
	w.assertSame(before, w.snapshot())
	if r.code == 0 || !strings.Contains(r.stderr, "not a swap of this project") || !strings.Contains(r.stderr, ".safe-install-planted-") {
		t.Errorf("clean: exit %d, want the planted journals refused, naming their directories", r.code)
	}
}
