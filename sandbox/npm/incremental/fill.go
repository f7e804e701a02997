package incremental

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

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
// Prefill mirrors the host's whole node_modules into a directory beside
// the staging one before anyone knows what changes (8.8k links and 1,377
// directories for the bench tree: 0.10-0.17 s here, which was most of the
// swap step), and Adopt, once the copy-back is staged, renames into the
// staged tree what of the mirror it takes: whole directories where
// nothing below differs, a few dozen renames for one changed package.

// Prefill mirrors the host's node_modules below dir (dir/node_modules).
func (in *Install) Prefill(ctx context.Context, dir string) error {
	files := 0
	defer func() { in.mirrored = files }()
	root := filepath.Join(in.project, "node_modules")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		rel, _ := filepath.Rel(in.project, p)
		dst := filepath.Join(dir, rel)
		switch t := d.Type(); {
		case t.IsDir():
			return os.Mkdir(dst, 0o755)
		case t&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(target, dst)
		case t.IsRegular():
			err := os.Link(p, dst)
			if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EXDEV) || errors.Is(err, syscall.EMLINK) {
				// Another user's file (fs.protected_hardlinks), or no
				// link to be had: a copy, a new file of the staging's.
				err = copyFile(p, dst)
			}
			if err == nil {
				files++
			}
			return err
		default:
			return fmt.Errorf("%w: %s is not a file, directory or symlink", install.ErrPolicy, filepath.ToSlash(rel))
		}
	})
	if err != nil {
		return fmt.Errorf("building the new node_modules from the installed one: %w", err)
	}
	return nil
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
	in, err := os.OpenFile(src, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer in.Close()
	fi, err := in.Stat()
	if err != nil {
		return err
	}
	mode := os.FileMode(0o644)
	if fi.Mode()&0o111 != 0 {
		mode = 0o755
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
