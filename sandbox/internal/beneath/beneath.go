package beneath

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// ErrRefused: the name leads through a symlink or out of the directory,
// or names what is not a regular file. A host process that swaps a
// directory of the project for a symlink between a walk that listed a
// file and the read of it (to ~/.ssh, say) meets this, instead of having
// the file it names read.
var ErrRefused = errors.New("not a regular file of the project reached through directories alone")

// ErrTooLarge: a file is larger than its reader's bound.
var ErrTooLarge = errors.New("larger than its bound")

// Root is a directory opened once, the project's: what is opened below
// it is held to it. The directory's own path may lead through links (the
// user named it); nothing below it may.
type Root struct {
	dir *os.File
}

// OpenRoot opens the directory dir.
func OpenRoot(dir string) (*Root, error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: err}
	}
	return &Root{dir: os.NewFile(uintptr(fd), dir)}, nil
}

// Close lets the directory go.
func (r *Root) Close() error { return r.dir.Close() }

// Rel is the name below the root of p, a path made by joining the root's
// path and a name (a plan's Source); an error when p is not below it.
func (r *Root) Rel(p string) (string, error) {
	rel, err := filepath.Rel(r.dir.Name(), p)
	if err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("%w: %s is not below %s", ErrRefused, p, r.dir.Name())
	}
	return rel, nil
}

// OpenPath is Open of the file at p, a path made by joining the root's
// path and a name (a plan's Source); nil opens nothing.
func (r *Root) OpenPath(p string) (*os.File, fs.FileInfo, error) {
	if r == nil {
		return nil, nil, fmt.Errorf("%w: %s, with no directory to open it below", ErrRefused, p)
	}
	rel, err := r.Rel(p)
	if err != nil {
		return nil, nil, err
	}
	return r.Open(rel)
}

// Open opens the regular file rel below the root for reading, and says
// what it is: every directory on the way a directory, not a link (the
// kernel's RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS in one openat2, or one
// O_NOFOLLOW openat per component where the kernel has no openat2), the
// file itself a regular file, not a link, FIFO, socket or device (opened
// O_NONBLOCK: a FIFO does not wait for a writer before it is refused).
func (r *Root) Open(rel string) (*os.File, fs.FileInfo, error) {
	if !filepath.IsLocal(rel) {
		return nil, nil, fmt.Errorf("%w: %s leaves the directory", ErrRefused, rel)
	}
	const flags = unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_NONBLOCK | unix.O_CLOEXEC
	fd, err := unix.Openat2(int(r.dir.Fd()), rel, &unix.OpenHow{Flags: flags,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
	if errors.Is(err, unix.ENOSYS) {
		fd, err = r.walk(rel, flags)
	}
	if err != nil {
		if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ENOTDIR) || errors.Is(err, unix.ENXIO) {
			// ENXIO: a socket.
			err = fmt.Errorf("%w: %w", ErrRefused, err)
		}
		return nil, nil, &fs.PathError{Op: "open", Path: rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), filepath.Join(r.dir.Name(), rel))
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: %s is a %s", ErrRefused, rel, typeName(fi.Mode()))
	}
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	return f, fi, nil
}

// walk is Open's resolution without openat2: each directory opened
// O_NOFOLLOW|O_DIRECTORY below the one before.
func (r *Root) walk(rel string, flags int) (int, error) {
	parts := strings.Split(filepath.ToSlash(rel), "/")
	dir := int(r.dir.Fd())
	for i, c := range parts {
		if c == "." || c == "" {
			continue
		}
		if c == ".." {
			return -1, unix.EXDEV
		}
		if i == len(parts)-1 {
			fd, err := unix.Openat(dir, c, flags, 0)
			if dir != int(r.dir.Fd()) {
				unix.Close(dir)
			}
			return fd, err
		}
		next, err := unix.Openat(dir, c, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if dir != int(r.dir.Fd()) {
			unix.Close(dir)
		}
		if err != nil {
			return -1, err
		}
		dir = next
	}
	return -1, unix.EISDIR
}

// ReadFile reads the regular file rel below the root, of at most max
// bytes (more is an error).
func (r *Root) ReadFile(rel string, max int64) ([]byte, error) {
	f, _, err := r.Open(rel)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, max+1))
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("%w: %s is larger than %d bytes", ErrTooLarge, rel, max)
	}
	return data, err
}

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeSymlink != 0:
		return "symlink"
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDevice != 0:
		return "device"
	}
	return "special file"
}
