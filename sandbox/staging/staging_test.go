package staging

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/internal/owner"
)

// stage makes a staging directory in proj as a run does, claimed by c,
// with a new package.json and node_modules, journalled for the swap.
func stage(t *testing.T, proj string, c owner.Client) (string, []string, map[string]string) {
	t.Helper()
	dir := filepath.Join(proj, Prefix+"x")
	inner := filepath.Join(dir, "run")
	write(t, filepath.Join(inner, "package.json"), "new manifest")
	write(t, filepath.Join(inner, "node_modules/a/index.js"), "new")
	if err := writeAtomic(filepath.Join(dir, ownerFile), []byte(c.String())); err != nil {
		t.Fatal(err)
	}
	names := []string{"package.json", "node_modules"}
	staged := map[string]string{"package.json": filepath.Join(inner, "package.json"), "node_modules": filepath.Join(inner, "node_modules")}
	if err := Journal(dir, names, staged); err != nil {
		t.Fatal(err)
	}
	return dir, names, staged
}

func deadClient() owner.Client {
	c := owner.This()
	c.PID = 1 << 22 // beyond pid_max's default: no such process
	return c
}

// A run killed half way through its swap: Recover swaps the done part
// back and removes the staging directory; the project is the old one.
func TestRecoverUndoesAHalfSwap(t *testing.T) {
	t.Parallel()
	proj := t.TempDir()
	write(t, filepath.Join(proj, "package.json"), "old manifest")
	dir, _, staged := stage(t, proj, deadClient())
	if err := exchangeOrMove(filepath.Join(proj, "package.json"), staged["package.json"]); err != nil {
		t.Fatal(err)
	}
	if said, err := Recover(proj, true); err != nil || len(said) != 1 || !strings.Contains(said[0], "would remove") {
		t.Fatalf("dry run: %q, %v", said, err)
	}
	if got := readFile(t, filepath.Join(proj, "package.json")); got != "new manifest" {
		t.Fatalf("the dry run changed the project: %q", got)
	}
	said, err := Recover(proj, false)
	if err != nil || len(said) != 1 || !strings.Contains(said[0], "undoing its half-done swap of package.json") || !strings.Contains(said[0], "is gone") {
		t.Fatalf("Recover: %q, %v", said, err)
	}
	if got := readFile(t, filepath.Join(proj, "package.json")); got != "old manifest" {
		t.Errorf("package.json after recovery = %q", got)
	}
	for _, p := range []string{dir, filepath.Join(proj, "node_modules")} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is there after recovery: %v", p, err)
		}
	}
}

// A swap that finished before the kill stays: the project is the new one.
func TestRecoverKeepsAFinishedSwap(t *testing.T) {
	t.Parallel()
	proj := t.TempDir()
	write(t, filepath.Join(proj, "package.json"), "old manifest")
	dir, names, staged := stage(t, proj, deadClient())
	if err := Swap(proj, names, staged); err != nil {
		t.Fatal(err)
	}
	if said, err := Recover(proj, false); err != nil || len(said) != 1 || strings.Contains(said[0], "undoing") {
		t.Fatalf("Recover: %q, %v", said, err)
	}
	if got := readFile(t, filepath.Join(proj, "node_modules/a/index.js")); got != "new" {
		t.Errorf("node_modules after recovery has %q", got)
	}
	if _, err := os.Lstat(dir); !os.IsNotExist(err) {
		t.Errorf("the staging directory is there: %v", err)
	}
}

// A live run's staging directory, and a young one with no owner yet, stay.
func TestRecoverLeavesLiveRuns(t *testing.T) {
	t.Parallel()
	proj := t.TempDir()
	dir, _, _ := stage(t, proj, owner.This())
	if err := os.Mkdir(filepath.Join(proj, Prefix+"unclaimed"), 0o700); err != nil {
		t.Fatal(err)
	}
	if said, err := Recover(proj, false); err != nil || len(said) != 0 {
		t.Fatalf("Recover: %q, %v", said, err)
	}
	if _, err := os.Lstat(dir); err != nil {
		t.Error(err)
	}
}

// A journal that names a path outside its staging directory is refused.
func TestRecoverRefusesAForeignJournal(t *testing.T) {
	t.Parallel()
	proj := t.TempDir()
	dir, _, _ := stage(t, proj, deadClient())
	plantJournal(t, dir, `[{"name":"package.json","staged":"/etc/passwd"},{"name":"x","staged":"/etc/x"}]`)
	if _, err := Recover(proj, false); err == nil || !strings.Contains(err.Error(), "not a swap of this project") {
		t.Fatalf("Recover: %v", err)
	}
}

// A staging directory planted in a checkout (a cloned repository's
// .safe-install-x, its owner a dead process) whose journal names, inside
// the directory by prefix, a path that leaves it: by "..", or through a
// symlink the directory holds. The inode it records is the project's
// package.json (an attacker guesses it: a journal may hold many guesses).
// The "undo" would exchange the project's package.json with the file
// outside; Recover must refuse it and touch neither.
func TestRecoverRefusesAJournalLeavingItsDirectory(t *testing.T) {
	t.Parallel()
	for _, via := range []string{"dotdot", "symlink"} {
		t.Run(via, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			outside := filepath.Join(home, ".bashrc")
			write(t, outside, "the user's own")
			proj := filepath.Join(home, "checkout")
			write(t, filepath.Join(proj, "package.json"), "planted: echo pwned")
			dir := filepath.Join(proj, Prefix+"planted")
			write(t, filepath.Join(dir, ownerFile), deadClient().String())
			staged := dir + "/run/../../../.bashrc" // not cleaned: it has the prefix
			if via == "dotdot" {
				if err := os.Mkdir(filepath.Join(dir, "run"), 0o700); err != nil {
					t.Fatal(err)
				}
			}
			if via == "symlink" {
				if err := os.Symlink(home, filepath.Join(dir, "run")); err != nil {
					t.Fatal(err)
				}
				staged = filepath.Join(dir, "run", ".bashrc")
			}
			dev, ino, err := inode(filepath.Join(proj, "package.json"))
			if err != nil {
				t.Fatal(err)
			}
			j := fmt.Sprintf(`[{"name":"package.json","staged":%q,"dev":%d,"ino":%d},{"name":"node_modules","staged":%q}]`,
				staged, dev, ino, filepath.Join(dir, "run", "node_modules"))
			plantJournal(t, dir, j)
			_, err = Recover(proj, false)
			if got := readFile(t, outside); got != "the user's own" {
				t.Fatalf("the file outside the project now holds %q (Recover: %v)", got, err)
			}
			if got := readFile(t, filepath.Join(proj, "package.json")); got != "planted: echo pwned" {
				t.Errorf("the project's package.json is now %q", got)
			}
			if err == nil || !strings.Contains(err.Error(), "not a swap of this project") {
				t.Errorf("Recover: %v, want the journal refused", err)
			}
		})
	}
}

// A journal larger than any swap's is not read whole (it is in the
// user's checkout, which may be someone else's repository).
func TestRecoverRefusesAHugeJournal(t *testing.T) {
	t.Parallel()
	proj := t.TempDir()
	dir, _, _ := stage(t, proj, deadClient())
	write(t, filepath.Join(dir, journalFile), "["+strings.Repeat(`{"name":"x","staged":"y"},`, 1<<16)+"{}]")
	if _, err := Recover(proj, false); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("Recover: %v", err)
	}
}

// A planted staging directory whose journal is in the form a run writes
// (staged at DIR/RUN/NAME) and names the project's .git with its inode
// (guessed: a journal may list many): the undo would swap the planted
// directory's .git, hooks and all, for the user's. A journal is only ever
// one this tool wrote for this very staging directory, which records what
// no checkout can know in advance (the directory's own birth).
func TestRecoverRefusesAPlantedJournalOfTheRightForm(t *testing.T) {
	t.Parallel()
	proj := t.TempDir()
	write(t, filepath.Join(proj, ".git/config"), "the user's")
	dir := filepath.Join(proj, Prefix+"planted")
	write(t, filepath.Join(dir, ownerFile), deadClient().String())
	write(t, filepath.Join(dir, "run/.git/config"), "[core]\n\tfsmonitor = pwn\n")
	dev, ino, err := inode(filepath.Join(proj, ".git"))
	if err != nil {
		t.Fatal(err)
	}
	entries := []entry{{Name: ".git", Staged: filepath.Join(dir, "run/.git"), Dev: dev, Ino: ino}, {Name: "node_modules", Staged: filepath.Join(dir, "run/node_modules")}}
	// The directory's inode guessed as well, its birth not to the ns.
	guess, err := stampOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	guess.Birth++
	for _, j := range []any{entries, map[string]any{"entries": entries}, journal{Dir: guess, Entries: entries}} {
		data, err := json.Marshal(j)
		if err != nil {
			t.Fatal(err)
		}
		write(t, filepath.Join(dir, journalFile), string(data))
		_, err = Recover(proj, false)
		if got := readFile(t, filepath.Join(proj, ".git/config")); got != "the user's" {
			t.Fatalf("the project's .git/config is now %q (Recover: %v)", got, err)
		}
		if err == nil {
			t.Errorf("Recover took the planted journal %s", data)
		}
	}
}

// plantJournal writes entries (JSON) as dir's journal with dir's true
// stamp, as if an attacker could know it: the tests of the rule for the
// entries then test that rule alone.
func plantJournal(t *testing.T, dir, entries string) {
	t.Helper()
	st, err := stampOf(dir)
	if err != nil {
		t.Fatal(err)
	}
	stamp, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(dir, journalFile), `{"dir":`+string(stamp)+`,"entries":`+entries+`}`)
}

// A pnpm workspace swaps nested names (packages/a/node_modules) with the
// root's: a run killed between them is undone for all, and a nested name
// whose project directory is a link (to outside the checkout) is not a
// swap of this project.
func TestRecoverUndoesAHalfSwapOfNestedNames(t *testing.T) {
	t.Parallel()
	for _, linked := range []bool{false, true} {
		t.Run(fmt.Sprintf("linked=%v", linked), func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			proj := filepath.Join(home, "proj")
			write(t, filepath.Join(proj, "node_modules/a/index.js"), "old root")
			ws := filepath.Join(proj, "packages", "a")
			if linked {
				write(t, filepath.Join(home, "elsewhere/node_modules/x"), "old elsewhere")
				if err := os.MkdirAll(filepath.Join(proj, "packages"), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(filepath.Join(home, "elsewhere"), ws); err != nil {
					t.Fatal(err)
				}
			} else {
				write(t, filepath.Join(ws, "node_modules/x"), "old ws")
			}
			dir := filepath.Join(proj, Prefix+"x")
			inner := filepath.Join(dir, "run")
			write(t, filepath.Join(inner, "node_modules/a/index.js"), "new root")
			write(t, filepath.Join(inner, "packages/a/node_modules/x"), "new ws")
			if err := writeAtomic(filepath.Join(dir, ownerFile), []byte(deadClient().String())); err != nil {
				t.Fatal(err)
			}
			nested := filepath.Join("packages", "a", "node_modules")
			names := []string{"node_modules", nested}
			staged := map[string]string{"node_modules": filepath.Join(inner, "node_modules"), nested: filepath.Join(inner, nested)}
			if err := Journal(dir, names, staged); err != nil {
				t.Fatal(err)
			}
			if err := exchangeOrMove(filepath.Join(proj, nested), staged[nested]); err != nil {
				t.Fatal(err)
			}
			_, err := Recover(proj, false)
			if linked {
				if err == nil || !strings.Contains(err.Error(), "not a swap of this project") {
					t.Errorf("Recover: %v, want the journal refused", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, filepath.Join(ws, "node_modules/x")); got != "old ws" {
				t.Errorf("the workspace package's node_modules after recovery holds %q", got)
			}
			if got := readFile(t, filepath.Join(proj, "node_modules/a/index.js")); got != "old root" {
				t.Errorf("the root's node_modules after recovery holds %q", got)
			}
		})
	}
}
