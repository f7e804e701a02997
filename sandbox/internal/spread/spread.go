// Package spread places a new tree's inodes away from those a tree just
// deleted freed (ext4's allocator; see below), and removes a tree in
// parallel.
package spread

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/sys/unix"
)

// Where the new tree's inodes go matters more than how it is written.
//
// On ext4 without a journal (these machines' root filesystem), the inode
// allocator skips every recently freed inode, scanning from
// the start of the parent directory's block group, for every new file
// (perf: recently_deleted, find_inode_bit, 60-70% of the time). npm ci
// deletes node_modules before writing the new one, so a tree written
// beside it lands among the inodes the old one just freed: tar of the
// 8.8k-file bench tree took 0.7 s the first time and 6-12 s in later
// rounds of extract-then-delete in the same directory.
//
// A directory flagged FS_TOPDIR_FL has its subdirectories placed the way
// top-level ones are (Orlov): in a group with few directories, searched
// from a start that hashes the subdirectory's name. So the staging
// directory gets the flag and the tree is written below a subdirectory
// with a random name: each run starts the search somewhere else. Five
// rounds of tar-then-delete: 0.45-0.78 s (one 4.5 s); flagging
// node_modules itself (always the same name, so the same groups): 0.9-3.1
// s. In the bench's loop (each run's tree deleted just before the next
// run), safe-install's copy-back took 1.1-10.5 s, median 1.4 s, in 8 runs
// with the flag, and 6.2-10.7 s, median 9.8 s, in 8 without.
//
// Windows there are longer than 30 s: the kernel counts an inode freed
// within 60 s as recent, within 360 s while its inode table block is
// dirty (RECENTCY_MIN, RECENTCY_DIRTY), so a bench or a busy machine
// keeps many groups "recent", and no placement avoids them all.

// fsTopdirFlag is FS_TOPDIR_FL (linux/fs.h; not in x/sys/unix).
const fsTopdirFlag = 0x00020000

// MakeDir creates a private directory in parent and, inside it, one
// with a random name whose inodes land away from recently deleted ones
// where the filesystem supports the hint (elsewhere it is just a
// directory). It returns both: remove outer when done.
func MakeDir(parent, pattern string) (outer, inner string, err error) {
	outer, err = os.MkdirTemp(parent, pattern)
	if err != nil {
		return "", "", err
	}
	setTopdir(outer)
	if inner, err = MakeInner(outer); err != nil {
		_ = os.RemoveAll(outer)
		return "", "", err
	}
	return outer, inner, nil
}

// MakeInner makes another directory with a random name in an outer one
// MakeDir made, placed the same way.
func MakeInner(outer string) (string, error) {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	inner := filepath.Join(outer, hex.EncodeToString(b)) // random: see above
	if err := os.Mkdir(inner, 0o700); err != nil {
		return "", fmt.Errorf("creating %s: %w", inner, err)
	}
	return inner, nil
}

// setTopdir flags dir FS_TOPDIR_FL where the filesystem has the flag
// (ext2/3/4; its owner may set it); elsewhere it does nothing.
func setTopdir(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	flags, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil || flags&fsTopdirFlag != 0 {
		return
	}
	_ = unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(flags|fsTopdirFlag))
}

// Remove removes a tree like os.RemoveAll, several subtrees at a
// time: after a swap the staging directory holds the old node_modules,
// and deleting its 8.8k bench files took 2.4-2.6 s from one goroutine
// and 1.5-2.2 s from four working on its packages (measured here).
// Removing an entry never follows a symlink (os.RemoveAll does not).
func Remove(dir string) error {
	var subtrees []string
	var collect func(d string, depth int)
	collect = func(d string, depth int) {
		ents, err := os.ReadDir(d)
		if err != nil {
			return
		}
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			if depth < 2 && e.IsDir() {
				collect(p, depth+1) // down to staging/<inner>/<artifact>/
			} else {
				subtrees = append(subtrees, p)
			}
		}
	}
	collect(dir, 0)
	work := make(chan string)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for p := range work {
				_ = os.RemoveAll(p) // the final RemoveAll reports what is left
			}
		})
	}
	for _, p := range subtrees {
		work <- p
	}
	close(work)
	wg.Wait()
	return os.RemoveAll(dir)
}
