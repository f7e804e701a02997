package incremental

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/beneath"
	"github.com/safe-install/safe-install/sandbox/npm/layout"
)

// The trust check of an incremental install: whether the host's
// node_modules is what npm's record of it says.

// maxManifest bounds an installed package.json read by the trust check.
const maxManifest = 1 << 20

// trustTree checks that the host's node_modules is what npm's record of
// it, node_modules/.package-lock.json, says, and that the record agrees
// with the project's lockfile; "" trusts it, anything else names where it
// does not hold. The record must be the newest entry of the tree (npm
// writes it last, and safe-install dates it after the tree it staged), so
// a file edited by hand afterwards, or a package copied in, shows; every
// location's package.json names the recorded package; where the lockfile
// has the location too, version, resolved and integrity are the same
// (locations only one of them has are npm's to reconcile: a --no-save
// package, an optional one not installed here). Linked packages
// (workspaces, file: directories) are the project's own files and take
// the full path. A trusted tree comes with its record's bytes and the
// tree as inputs (install.TreeInputs'), listed by the same walk.
func trustTree(project, lock string, lockfile layout.Lockfile) (hidden layout.Lockfile, record []byte, tree []install.Input, why string) {
	if lock == "" {
		return hidden, nil, nil, "package-lock.json (there is none)"
	}
	file := filepath.Join(project, "node_modules", ".package-lock.json")
	fi, err := os.Lstat(file)
	if err != nil || !fi.Mode().IsRegular() {
		return hidden, nil, nil, "node_modules/.package-lock.json (npm's record of the tree is missing)"
	}
	// The record goes into the sandbox as the bytes read here (Dated),
	// and every read of the check is below the project, through its
	// directories alone: node_modules swapped for a symlink to a
	// directory outside after the Lstats would otherwise have its files
	// read, and that record copied in.
	root, err := beneath.OpenRoot(project)
	if err != nil {
		return hidden, nil, nil, fmt.Sprintf("node_modules (%v)", err)
	}
	defer root.Close()
	data, err := readBounded(root, "node_modules/.package-lock.json", layout.MaxLockfile)
	if err != nil || json.Unmarshal(data, &hidden) != nil || hidden.Version < 2 {
		return hidden, nil, nil, "node_modules/.package-lock.json (npm's record of the tree does not parse)"
	}
	// The two checks read different files and take about as long each
	// (485 packages: 90 ms together on this 2-core machine, on the way to
	// the fetch): at once.
	recordWhy := make(chan string, 1)
	go func() { recordWhy <- checkRecorded(root, project, lock, lockfile, hidden) }()
	tree, walkWhy := checkWalk(project, hidden, fi.ModTime())
	if why := <-recordWhy; why != "" {
		return hidden, nil, nil, why
	}
	if walkWhy != "" {
		return hidden, nil, nil, walkWhy
	}
	return hidden, data, tree, ""
}

// checkRecorded holds every location of npm's record to the lockfile and
// to the package.json installed there.
func checkRecorded(root *beneath.Root, project, lock string, lockfile layout.Lockfile, hidden layout.Lockfile) string {
	for _, loc := range slices.Sorted(maps.Keys(lockfile.Packages)) {
		if lockfile.Packages[loc].Link {
			return loc + " (a linked package)"
		}
	}
	for _, loc := range slices.Sorted(maps.Keys(hidden.Packages)) {
		p := hidden.Packages[loc]
		if loc == "" {
			continue
		}
		if pos, _ := layout.Locate(loc); pos != layout.PosPackage || p.Link {
			return loc + " (not a package directory of node_modules)"
		}
		// npm's record may leave resolved (or integrity) out where the
		// lockfile has it (a --no-save install rewrites the record so).
		if lp, ok := lockfile.Packages[loc]; ok && (lp.Version != p.Version || differs(lp.Resolved, p.Resolved) || differs(lp.Integrity, p.Integrity)) {
			return fmt.Sprintf("%s (%s in %s, %s installed)", loc, lp.Version, lock, p.Version)
		}
		if !realDir(project, loc) {
			return loc + " (a link or no directory where npm's record has a package)"
		}
		var m struct{ Name, Version string }
		data, err := readBounded(root, filepath.Join(filepath.FromSlash(loc), "package.json"), maxManifest)
		if err != nil || json.Unmarshal(data, &m) != nil {
			return loc + " (its package.json is missing or does not parse)"
		}
		name := p.Name
		if name == "" {
			name = layout.PackageOf(loc + "/x")
		}
		if m.Name != name || m.Version != p.Version {
			return fmt.Sprintf("%s (%s@%s installed, %s@%s recorded)", loc, m.Name, m.Version, name, p.Version)
		}
	}
	return ""
}

// checkWalk holds every entry of node_modules to the record's time and
// list, and lists the tree as inputs on the way. Every entry's time is
// a stat (10k of them for the bench tree: two thirds of the plan, which
// is the critical path of a one-package install's start), so the
// entries of node_modules are walked a few at a time; what it finds is
// what one walk in order finds: the inputs in the walk's order, the
// first entry that fails in it. The walk goes by directory descriptors,
// each opened O_NOFOLLOW from its parent's, as Prefill's: a directory a
// racing host process swaps for a symlink mid-walk fails the walk (the
// tree is rebuilt whole) or is listed as the link it became, where a path
// walk went on into what the link names and listed its files and its
// links' targets (measured: a link's in ~/.ssh after two raced walks).
func checkWalk(project string, hidden layout.Lockfile, recordTime time.Time) (tree []install.Input, why string) {
	root, err := openDir(unix.AT_FDCWD, filepath.Join(project, "node_modules"))
	if err != nil {
		return nil, fmt.Sprintf("node_modules (%v)", err)
	}
	defer root.Close()
	ents, err := sortedEntries(root)
	if err != nil {
		return nil, fmt.Sprintf("node_modules (%v)", err)
	}
	type part struct {
		tree []install.Input
		why  string
		err  error
	}
	parts := make([]part, len(ents))
	var next atomic.Int64
	var wg sync.WaitGroup
	w := walker{project: project, hidden: hidden, newest: recordTime.Add(10 * time.Millisecond)}
	for range min(4, len(ents)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(ents); i = int(next.Add(1) - 1) {
				pt := &parts[i]
				pt.why, pt.err = w.entry(int(root.Fd()), ents[i], "node_modules/"+ents[i], &pt.tree)
			}
		})
	}
	wg.Wait()
	for _, pt := range parts {
		if pt.err != nil {
			return nil, fmt.Sprintf("node_modules (%v)", pt.err)
		}
		if tree = append(tree, pt.tree...); pt.why != "" {
			return tree, pt.why
		}
	}
	return tree, ""
}

// walker is checkWalk's walk of the entries below one of node_modules.
type walker struct {
	project string
	hidden  layout.Lockfile
	newest  time.Time // npm's own check allows its record 10 ms of slack over the tree
}

// entry checks the entry name of the directory fd, rel below the project,
// and what is below it, in order, adding the inputs to tree; the first
// entry that fails is why.
func (w walker) entry(fd int, name, rel string, tree *[]install.Input) (string, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return "", &fs.PathError{Op: "lstat", Path: rel, Err: err}
	}
	mode := st.Mode & unix.S_IFMT
	switch {
	case mode != unix.S_IFDIR && mode != unix.S_IFREG && mode != unix.S_IFLNK:
		return rel + " (not a file, directory or symlink)", nil
	case time.Unix(st.Mtim.Unix()).After(w.newest):
		return rel + " (changed after npm recorded the tree)", nil
	case mode == unix.S_IFDIR && layout.PositionOf(rel) == layout.PosPackage && !recorded(w.hidden, rel) && ownedByRecorded(w.hidden, rel):
		return rel + " (a package npm's record does not list)", nil
	}
	switch mode {
	case unix.S_IFLNK:
		target, err := readlinkAt(fd, name)
		if err != nil {
			return "", &fs.PathError{Op: "readlink", Path: rel, Err: err}
		}
		*tree = append(*tree, install.Input{Name: rel, Link: target})
	case unix.S_IFREG:
		*tree = append(*tree, install.FileInput(rel, filepath.Join(w.project, filepath.FromSlash(rel)), fs.FileMode(st.Mode&0o777)))
	case unix.S_IFDIR:
		d, err := openDir(fd, name) // ELOOP, ENOTDIR: no longer the directory it was
		if err != nil {
			return "", fmt.Errorf("%s changed while it was read: %w", rel, err)
		}
		defer d.Close()
		names, err := sortedEntries(d)
		if err != nil {
			return "", err
		}
		for _, n := range names {
			if why, err := w.entry(int(d.Fd()), n, rel+"/"+n, tree); why != "" || err != nil {
				return why, err
			}
		}
	}
	return "", nil
}

// sortedEntries are the names in the directory d, in order (a path walk's).
func sortedEntries(d *os.File) ([]string, error) {
	names, err := d.Readdirnames(-1)
	slices.Sort(names)
	return names, err
}

// differs says two recorded values disagree; one left out agrees.
func differs(a, b string) bool { return a != "" && b != "" && a != b }

// ownedByRecorded says the node_modules a package directory sits in is the
// top one or a recorded package's: not a package's own test fixture
// (resolve ships test/.../node_modules), which npm does not record.
func ownedByRecorded(l layout.Lockfile, loc string) bool {
	i := strings.LastIndex(loc, "/node_modules/")
	return i < 0 || recorded(l, loc[:i])
}

func recorded(l layout.Lockfile, loc string) bool {
	_, ok := l.Packages[loc]
	return ok
}

// linkCount is how many names a file has (1 when the platform cannot say).
func linkCount(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Nlink)
	}
	return 1
}

// realDir says whether loc and every directory on the way to it from
// project that exist are directories, not links (one missing is the
// package.json's read to report): the tree may be a cloned repository's,
// and the trust check reads nothing through a link.
func realDir(project, loc string) bool {
	p := project
	for _, c := range strings.Split(loc, "/") {
		p = filepath.Join(p, c)
		fi, err := os.Lstat(p)
		if err != nil {
			return true
		}
		if !fi.IsDir() {
			return false
		}
	}
	return true
}

// readBounded reads a host regular file of at most max bytes, rel below
// the project, never through a link, and never waiting on a FIFO (the
// tree may be a cloned repository's: a link to /dev/stdin would wait for
// the terminal).
func readBounded(root *beneath.Root, rel string, max int64) ([]byte, error) {
	data, err := root.ReadFile(rel, max)
	if errors.Is(err, beneath.ErrTooLarge) {
		err = fmt.Errorf("%w: %w", install.ErrLimit, err)
	}
	return data, err
}
