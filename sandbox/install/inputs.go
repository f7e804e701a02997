package install

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// DirInputs lists the regular files of a local package directory. It
// skips what no build needs and what may hold secrets or host state:
// hidden directories (.git, .venv, .tox, a staging directory), node_modules,
// __pycache__, virtual environments, secrets-by-convention (.env*, .npmrc,
// .pypirc, .netrc) and symlinks.
func DirInputs(project, dir string) ([]Input, error) {
	var out []Input
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if p != dir && (strings.HasPrefix(d.Name(), ".") || d.Name() == "node_modules" || d.Name() == "__pycache__") {
				return filepath.SkipDir
			}
			if _, err := os.Lstat(filepath.Join(p, "pyvenv.cfg")); err == nil {
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || strings.HasPrefix(d.Name(), ".env") || slices.Contains(secretFiles, d.Name()) {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(project, p)
		out = append(out, Input{Name: filepath.ToSlash(rel), Source: p, Mode: inputMode(fi.Mode())})
		return nil
	})
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("listing %s: %w", dir, err)
	}
	return out, nil
}

// secretFiles hold credentials by convention and are never copied in.
var secretFiles = []string{".npmrc", ".pypirc", ".netrc", ".git-credentials"}

// inputMode keeps only the executable bit of a copied-in file.
func inputMode(m os.FileMode) int64 {
	if m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

// TreeInputs lists an installed tree below project (npm's node_modules)
// for copying in as it is: regular files and symlinks (kept as links,
// never followed), at any depth, hidden entries included. A FIFO, socket
// or device in it is refused: nothing of that kind is installed by a
// package manager, and copying one would block or reach the host. Empty
// directories are left out (the copy-in makes the parents of files).
func TreeInputs(project, dir string) ([]Input, error) {
	var out []Input
	err := filepath.WalkDir(filepath.Join(project, dir), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(project, p)
		in, ok, err := TreeInput(filepath.ToSlash(rel), p, d, nil)
		if ok {
			out = append(out, in)
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listing %s: %w", filepath.Join(project, dir), err)
	}
	return out, nil
}

// FileInput is the input of the regular file rel below the project, at p
// on the host, of mode m: only its executable bit is kept.
func FileInput(rel, p string, m fs.FileMode) Input {
	return Input{Name: rel, Source: p, Mode: inputMode(m)}
}

// TreeInput is TreeInputs' input for one entry of a walk, rel below the
// project and at p on the host: false for a directory, an ErrPolicy for
// what is not a file, directory or symlink. fi is the entry's Lstat, nil
// when the walk has not made it.
func TreeInput(rel, p string, d fs.DirEntry, fi fs.FileInfo) (Input, bool, error) {
	switch t := d.Type(); {
	case t.IsDir():
		return Input{}, false, nil
	case t&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return Input{}, false, err
		}
		return Input{Name: rel, Link: target}, true, nil
	case t.IsRegular():
		if fi == nil {
			var err error
			if fi, err = d.Info(); err != nil {
				return Input{}, false, err
			}
		}
		return FileInput(rel, p, fi.Mode()), true, nil
	default:
		return Input{}, false, fmt.Errorf("%w: %s is not a file, directory or symlink (%s): remove it, then run again", ErrPolicy, rel, t)
	}
}
