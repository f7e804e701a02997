package incremental

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/safe-install/safe-install/sandbox/install"
)

// The rest of the staged node_modules, every entry outside the roots that
// came back and the removed locations, is the host's: new directories,
// new symlinks, hard links to the host's files (this machine's ext4 has
// no reflinks; a copy where no link can be made). Nothing is ever written
// through a link: the staged tree's only writes were the extraction's,
// into files of its own; the swap renames; a failure removes the staging
// directory, which unlinks.
//
// It is built in two steps so that the slow one runs while the fetch does:
// Prefill mirrors the host's node_modules below dir (dir/node_modules).
// It walks by directory descriptors, each opened with O_NOFOLLOW from its
// parent's: a directory that a racing process replaces by a symlink while
// the walk is on its way fails the walk (the run: the project stays as it
// was) instead of leading it out of node_modules, where a path walk would
// link whatever the symlink names (~/.ssh's keys, measured: three
// prefills raced) into the new tree as the host's unchanged files.
func (in *Install) Prefill(ctx context.Context, dir string) error {
	files := 0
	defer func() { in.mirrored = files }()
	err := func() error {
		src, err := openDir(unix.AT_FDCWD, filepath.Join(in.project, "node_modules"))
		if err != nil {
			return err
		}
		defer src.Close()
		if err := os.Mkdir(filepath.Join(dir, "node_modules"), 0o755); err != nil {
			return err
		}
		dst, err := openDir(unix.AT_FDCWD, filepath.Join(dir, "node_modules"))
		if err != nil {
			return err
		}
		defer dst.Close()
		return mirrorDir(ctx, src, dst, "node_modules", &files)
	}()
	if err != nil {
		return fmt.Errorf("building the new node_modules from the installed one: %w", err)
	}
	return nil
}

// openDir opens the directory name below the directory fd (or AT_FDCWD),
// never through a symlink.
func openDir(fd int, name string) (*os.File, error) {
	d, err := unix.Openat(fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(d), name), nil
}

// mirrorDir mirrors the entries of the host's directory src (rel below
// the project) into dst: directories made anew, symlinks copied, files
// hard-linked (copied where no link can be made).
func mirrorDir(ctx context.Context, src, dst *os.File, rel string, files *int) error {
	ents, err := src.ReadDir(-1)
	if err != nil {
		return err
	}
	sfd, dfd := int(src.Fd()), int(dst.Fd())
	for _, e := range ents {
		if err := ctx.Err(); err != nil {
			return err
		}
		name, erel := e.Name(), path.Join(rel, e.Name())
		switch t := e.Type(); {
		case t.IsDir():
			if err := unix.Mkdirat(dfd, name, 0o755); err != nil {
				return &fs.PathError{Op: "mkdir", Path: erel, Err: err}
			}
			err := func() error {
				s, err := openDir(sfd, name) // ELOOP, ENOTDIR: no longer the directory it was
				if err != nil {
					return fmt.Errorf("%s changed while it was read: %w", erel, err)
				}
				defer s.Close()
				d, err := openDir(dfd, name)
				if err != nil {
					return err
				}
				defer d.Close()
				return mirrorDir(ctx, s, d, erel, files)
			}()
			if err != nil {
				return err
			}
		case t&fs.ModeSymlink != 0:
			target, err := readlinkAt(sfd, name)
			if err != nil {
				return &fs.PathError{Op: "readlink", Path: erel, Err: err}
			}
			if err := unix.Symlinkat(target, dfd, name); err != nil {
				return &fs.PathError{Op: "symlink", Path: erel, Err: err}
			}
		case t.IsRegular():
			// No AT_SYMLINK_FOLLOW: a file replaced by a symlink since
			// the directory was read is mirrored as that symlink.
			err := unix.Linkat(sfd, name, dfd, name, 0)
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EMLINK) {
				// Another user's file (fs.protected_hardlinks), or no
				// link to be had: a copy, a new file of the staging's.
				err = copyAt(sfd, name, dfd, name)
			}
			if err != nil {
				return &fs.PathError{Op: "link", Path: erel, Err: err}
			}
			*files++
		default:
			return fmt.Errorf("%w: %s is not a file, directory or symlink", install.ErrPolicy, erel)
		}
	}
	return nil
}

// readlinkAt is the target of the symlink name below the directory fd.
func readlinkAt(fd int, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(fd, name, buf)
		if err != nil {
			return "", err
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

// Adopt moves into staging what of the mirror Prefill made in dir the
// staged tree takes from the host: every entry outside the roots that came
// back and the removed locations (the unchanged packages nested in a
// changed one are in none), where the extraction put nothing. It returns
// how many of the host's files the staged tree holds; what it leaves in
// dir goes with the staging directory.
func (in *Install) Adopt(dir, staging string) (int, error) {
	skip := append(in.Roots(), in.Removed...)
	left := 0 // files of the mirror not taken
	leave := func(p string, d fs.DirEntry) error {
		if !d.IsDir() {
			if d.Type().IsRegular() {
				left++
			}
			return nil
		}
		n, err := countFiles(p)
		left += n
		if err != nil {
			return err
		}
		return filepath.SkipDir
	}
	root := filepath.Join(dir, "node_modules")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if under(skip, rel) && !under(in.Nested, rel) && !(d.IsDir() && leadsTo(in.Nested, rel)) {
			return leave(p, d) // came back from the sandbox, or removed
		}
		dst := filepath.Join(staging, filepath.FromSlash(rel))
		fi, err := os.Lstat(dst)
		switch {
		case err == nil && fi.IsDir() && d.IsDir():
			return nil // the extraction's, on the way to more of the host's
		case err == nil:
			return leave(p, d) // staged as something else: the sandbox's
		case !errors.Is(err, fs.ErrNotExist):
			return err
		case d.IsDir() && (leadsToSkipped(skip, in.Nested, rel) || under(skip, rel) && !under(in.Nested, rel)):
			// Not whole: something in it is not the host's (a changed
			// package on the way to an unchanged one nested in it).
			return os.Mkdir(dst, 0o755)
		}
		if err := os.Rename(p, dst); err != nil {
			return err
		}
		if d.IsDir() {
			return filepath.SkipDir
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("building the new node_modules from the installed one: %w", err)
	}
	return in.mirrored - left, nil
}

// leadsToSkipped says whether below the directory rel is a location that
// is not the host's: one of skip that no unchanged nested location holds.
func leadsToSkipped(skip, nested []string, rel string) bool {
	for _, s := range skip {
		if strings.HasPrefix(s, rel+"/") && !under(nested, s) {
			return true
		}
	}
	return false
}

// countFiles counts the regular files below dir.
func countFiles(dir string) (int, error) {
	n := 0
	err := filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return err
	})
	return n, err
}

// copyFile writes a new file at dst with src's content and executable
// bit, never through a link.
func copyFile(src, dst string) error {
	return copyAt(unix.AT_FDCWD, src, unix.AT_FDCWD, dst)
}

// copyAt is copyFile of src below the directory sfd to dst below dfd
// (AT_FDCWD: the names are paths).
func copyAt(sfd int, src string, dfd int, dst string) error {
	ifd, err := unix.Openat(sfd, src, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "open", Path: src, Err: err}
	}
	in := os.NewFile(uintptr(ifd), src)
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is no longer a regular file", src)
	}
	mode := uint32(0o644)
	if fi.Mode()&0o111 != 0 {
		mode = 0o755
	}
	ofd, err := unix.Openat(dfd, dst, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, mode)
	if err != nil {
		return &fs.PathError{Op: "create", Path: dst, Err: err}
	}
	out := os.NewFile(uintptr(ofd), dst)
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// stamp tells the host's tree the trust check vouched for from one put
// in its place or changed since: node_modules' inode and modification
// time (an entry added or removed at its top: a package), and npm's
// record's inode, size and modification time (npm writes its record with
// any change it makes). Not the record's ctime: Prefill's link to it
// changes that.
type stamp struct {
	dir, record [2]uint64
	size        int64
	dirMtime    unix.Timespec
	mtime       unix.Timespec
}

func stampOf(project string) (stamp, error) {
	var dir, rec unix.Stat_t
	if err := unix.Lstat(filepath.Join(project, "node_modules"), &dir); err != nil {
		return stamp{}, err
	}
	if err := unix.Lstat(filepath.Join(project, "node_modules", ".package-lock.json"), &rec); err != nil {
		return stamp{}, err
	}
	return stamp{dir: [2]uint64{dir.Dev, dir.Ino}, record: [2]uint64{rec.Dev, rec.Ino}, size: rec.Size, dirMtime: dir.Mtim, mtime: rec.Mtim}, nil
}

// Unchanged says whether the host's node_modules is still the tree the
// trust check vouched for, after the mirror of it is made: another
// safe-install's swap in the project (then its clean-up of the old tree,
// which a walk of it meets half removed), or npm on the host, while this
// run went on, leaves a mirror that is not that tree, and the new tree
// would be built from it (measured: 4 of 10 trees swapped in under a
// prefill were mirrored whole and taken, unchecked by this run).
func (in *Install) Unchanged() error {
	now, err := stampOf(in.project)
	if err != nil || now != in.seen {
		return fmt.Errorf("%w: node_modules changed on the host while safe-install ran (another install into this project?); nothing was changed: run again", install.ErrPolicy)
	}
	return nil
}
