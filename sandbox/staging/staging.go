// Package staging keeps what a run puts into the project before the swap
// recoverable when the run is killed (invariant 13, and invariant 8 across
// a SIGKILL): the staging directory names the process that owns it and,
// before the swap, what the swap exchanges, so that a later run or
// `safe-install clean` removes what a killed run left and undoes a swap it
// left half done. The project is then as it was before, or wholly new.
package staging

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/safe-install/safe-install/sandbox/internal/owner"
)

// Prefix starts the name of every staging directory in a project.
const Prefix = ".safe-install-"

const (
	ownerFile   = "owner"
	journalFile = "swap.json"
	// unowned spares a staging directory with no owner file yet (its run
	// is between creating it and claiming it) for this long.
	unowned = time.Hour
	// maxRecord bounds what Recover reads of a staging directory's
	// files: a real journal names a few entries, and the directory is in
	// the user's checkout, which may be someone else's repository.
	maxRecord = 64 << 10
)

// Claim records in dir, a staging directory just made, that this process
// owns it.
func Claim(dir string) error {
	return writeAtomic(filepath.Join(dir, ownerFile), []byte(owner.This().String()))
}

// entry is one name of a swap: where its replacement is staged, and that
// replacement's inode, which is in the project once it is swapped in.
type entry struct {
	Name   string `json:"name"`
	Staged string `json:"staged"`
	Dev    uint64 `json:"dev"`
	Ino    uint64 `json:"ino"`
}

// journal is what swap.json holds: the entries, and the staging
// directory's own stamp. The directory sits in the user's checkout, which
// may be someone else's repository with a planted staging directory and
// journal; the stamp (the directory's inode and birth time, to the
// nanosecond) is what no checkout can know before it is made, so a journal
// whose stamp is not its directory's was not written for it by a run.
type journal struct {
	Dir     stamp   `json:"dir"`
	Entries []entry `json:"entries"`
}

type stamp struct {
	Dev   uint64 `json:"dev"`
	Ino   uint64 `json:"ino"`
	Birth int64  `json:"birth"` // ns since the epoch; 0 where the filesystem keeps none
}

func stampOf(dir string) (stamp, error) {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, dir, unix.AT_SYMLINK_NOFOLLOW, unix.STATX_INO|unix.STATX_BTIME, &stx); err != nil {
		return stamp{}, err
	}
	s := stamp{Dev: unix.Mkdev(stx.Dev_major, stx.Dev_minor), Ino: stx.Ino}
	if stx.Mask&unix.STATX_BTIME != 0 {
		s.Birth = stx.Btime.Sec*1e9 + int64(stx.Btime.Nsec)
	}
	return s, nil
}

// Journal records in dir, before Swap, what it is about to exchange.
func Journal(dir string, names []string, staged map[string]string) error {
	st, err := stampOf(dir)
	if err != nil {
		return fmt.Errorf("recording the swap: %w", err)
	}
	var entries []entry
	for _, n := range names {
		dev, ino, err := inode(staged[n])
		if err != nil {
			return fmt.Errorf("recording the swap: %w", err)
		}
		entries = append(entries, entry{Name: n, Staged: staged[n], Dev: dev, Ino: ino})
	}
	data, err := json.Marshal(journal{Dir: st, Entries: entries})
	if err != nil {
		return err
	}
	return writeAtomic(filepath.Join(dir, journalFile), data)
}

// Recover removes the staging directories in project whose run is gone,
// first undoing a swap one left half done; with dryRun it only says what
// it would do. It returns one line per directory.
func Recover(project string, dryRun bool) ([]string, error) {
	dirs, err := filepath.Glob(filepath.Join(project, Prefix+"*"))
	if err != nil {
		return nil, err
	}
	me := owner.This()
	var said []string
	var errs []error
	for _, dir := range dirs {
		fi, err := os.Lstat(dir)
		if err != nil || !fi.IsDir() {
			continue
		}
		why := gone(dir, fi, me)
		if why == "" {
			continue
		}
		what := "removing"
		if dryRun {
			what = "would remove"
		}
		undo, err := halfSwapped(project, dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		line := fmt.Sprintf("%s the staging directory %s that a run left (%s)", what, dir, why)
		if len(undo) > 0 {
			line += fmt.Sprintf(", undoing its half-done swap of %s", strings.Join(names(undo), ", "))
		}
		said = append(said, line)
		if dryRun {
			continue
		}
		if err := undoSwap(project, undo); err != nil {
			errs = append(errs, fmt.Errorf("undoing the half-done swap of %s: %w; the old files are in %s", project, err, dir))
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, err)
		}
	}
	return said, errors.Join(errs...)
}

// gone says why dir's owner is gone, or "" while it may still run.
func gone(dir string, fi os.FileInfo, me owner.Client) string {
	data, err := readRecord(filepath.Join(dir, ownerFile))
	if err != nil {
		if time.Since(fi.ModTime()) > unowned {
			return fmt.Sprintf("no owner recorded, older than %s", unowned)
		}
		return ""
	}
	c, ok := owner.Parse(strings.TrimSpace(string(data)))
	if !ok {
		return "no owner recorded"
	}
	return c.Gone(me)
}

// halfSwapped reads dir's journal and returns the entries that are in the
// project when not all are: a swap the run began and did not finish. A
// finished swap, or none, needs no undoing.
func halfSwapped(project, dir string) ([]entry, error) {
	data, err := readRecord(filepath.Join(dir, journalFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var j journal
	if err := json.Unmarshal(data, &j); err != nil {
		// An older build's journal (a bare list) reads as one planted.
		return nil, fmt.Errorf("the swap journal in %s is not one this safe-install writes (%v): not a swap of this project; nothing in it was undone", dir, err)
	}
	if st, err := stampOf(dir); err != nil || st != j.Dir {
		return nil, fmt.Errorf("the swap journal in %s was not written for that directory by a run of safe-install (a planted one?): not a swap of this project; nothing in it was undone", dir)
	}
	entries := j.Entries
	var in []entry
	for _, e := range entries {
		if !ours(project, dir, e) {
			return nil, fmt.Errorf("the swap journal in %s names %q, %q: not a swap of this project", dir, e.Name, e.Staged)
		}
		if dev, ino, err := inode(filepath.Join(project, e.Name)); err == nil && dev == e.Dev && ino == e.Ino {
			in = append(in, e)
		}
	}
	if len(in) == len(entries) {
		return nil, nil
	}
	return in, nil
}

// ours says whether e is an entry of a swap this tool journals: a name of
// the project (a top-level one, or a nested one such as a pnpm workspace
// package's packages/a/node_modules, plain components only), staged at
// dir/RUN/name, RUN one plain component, every directory on the way in the
// staging directory and in the project a directory, not a link. The
// journal sits in the user's checkout, which may hold a planted staging
// directory: a path that is in dir by its prefix but climbs out of it
// ("..") or leads through a link would have the undo exchange a project
// entry with a file anywhere.
func ours(project, dir string, e entry) bool {
	if !relName(e.Name) || filepath.Clean(e.Staged) != e.Staged {
		return false
	}
	run, name, ok := strings.Cut(strings.TrimPrefix(e.Staged, dir+string(filepath.Separator)), string(filepath.Separator))
	if !ok || name != e.Name || !plain(run) || filepath.Join(dir, run, name) != e.Staged {
		return false
	}
	return realDirs(dir, filepath.Join(run, name)) && realDirs(project, name)
}

// relName is a relative name of plain components.
func relName(s string) bool {
	for _, c := range strings.Split(s, string(filepath.Separator)) {
		if !plain(c) {
			return false
		}
	}
	return true
}

// realDirs says whether every directory from base down to name's parent
// is a directory, not a link.
func realDirs(base, name string) bool {
	p := base
	for _, c := range strings.Split(filepath.Dir(name), string(filepath.Separator)) {
		if c == "." {
			break
		}
		p = filepath.Join(p, c)
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

// plain is one path component that names an entry: not "", ".", "..".
func plain(s string) bool {
	return s != "" && s != "." && s != ".." && !strings.ContainsRune(s, filepath.Separator)
}

// readRecord reads one of a staging directory's files, up to maxRecord,
// never through a link.
func readRecord(p string) ([]byte, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	if err == nil && len(data) > maxRecord {
		err = fmt.Errorf("%s is larger than %d bytes, which no run writes", p, maxRecord)
	}
	return data, err
}

// undoSwap swaps the entries back, the last first, as Swap's own undo.
func undoSwap(project string, in []entry) error {
	for _, e := range slices.Backward(in) {
		if err := exchangeOrMove(e.Staged, filepath.Join(project, e.Name)); err != nil {
			return err
		}
	}
	return nil
}

func names(es []entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Name)
	}
	return out
}

func inode(p string) (dev, ino uint64, err error) {
	fi, err := os.Lstat(p)
	if err != nil {
		return 0, 0, err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, 0, fmt.Errorf("no inode for %s", p)
	}
	return uint64(st.Dev), st.Ino, nil
}

// writeAtomic writes a whole file or none: a kill leaves no half of it.
func writeAtomic(p string, data []byte) error {
	tmp := p + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, p)
}
