package staging

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/safe-install/safe-install/sandbox/install"
)

// Stamps are what a run saw, before it copied anything in, of the project
// entries its swap replaces (package.json, the lockfile, node_modules):
// each one's inode, size and modification time, or that there was none.
// The swap puts the run's own versions of them in place, made from what
// was copied in: an edit made meanwhile (the user's editor saving
// package.json, npm run on the host) would be undone with the run ending
// 0 (measured: a script added to package.json at the fetch's pause was
// gone after the swap).
type Stamps []seen

// seen is one entry as a run saw it.
type seen struct {
	name       string
	there      bool
	dev, ino   uint64
	size, time int64
}

// StampOf stamps the entries names of project.
func StampOf(project string, names []string) Stamps {
	var s Stamps
	for _, n := range names {
		s = append(s, seenAt(project, n))
	}
	return s
}

func seenAt(project, name string) seen {
	fi, err := os.Lstat(filepath.Join(project, name))
	if err != nil {
		return seen{name: name}
	}
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil {
		return seen{name: name}
	}
	return seen{name: name, there: true, dev: uint64(st.Dev), ino: st.Ino, size: fi.Size(), time: fi.ModTime().UnixNano()}
}

// Unchanged refuses, before the swap, an entry of project changed since
// s was taken: the run's version of it would undo that change.
func (s Stamps) Unchanged(project string) error {
	for _, was := range s {
		if seenAt(project, was.name) != was {
			return fmt.Errorf("%w: %s changed in %s while safe-install ran (an editor, or npm run on the host?), and the run's %s would have undone it; nothing was changed: run again",
				install.ErrPolicy, was.name, project, was.name)
		}
	}
	return nil
}
