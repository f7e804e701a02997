package sandbox

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// sandboxUID owns everything copied in: the image's unprivileged user.
const sandboxUID = 1000

// writeInputs writes inputs as a tar stream owned by the sandbox user.
// Files are opened with O_NOFOLLOW and must be regular, so a symlink
// planted in the project cannot pull a host file in.
func writeInputs(w io.Writer, inputs []Input) error {
	tw := tar.NewWriter(w)
	dirs := map[string]bool{}
	seen := map[string]bool{}
	now := time.Now()
	for _, in := range inputs {
		if seen[in.Name] {
			continue
		}
		seen[in.Name] = true
		for _, d := range parentDirs(in.Name) {
			if dirs[d] {
				continue
			}
			dirs[d] = true
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, Uid: sandboxUID, Gid: sandboxUID, ModTime: now}); err != nil {
				return err
			}
		}
		if err := writeInput(tw, in, now); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeInput(tw *tar.Writer, in Input, now time.Time) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: in.Name, Mode: in.Mode, Uid: sandboxUID, Gid: sandboxUID, ModTime: now}
	if !in.ModTime.IsZero() {
		hdr.ModTime, hdr.AccessTime, hdr.Format = in.ModTime, in.ModTime, tar.FormatPAX
	}
	if in.Source == "" {
		hdr.Size = int64(len(in.Data))
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		_, err := tw.Write(in.Data)
		return err
	}
	f, err := os.OpenFile(in.Source, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("copying in %s: %w", in.Name, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("copying in %s: %w", in.Name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%w: copying in %s: not a regular file", ErrPolicy, in.Name)
	}
	hdr.Size = fi.Size()
	hdr.ModTime = fi.ModTime()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.CopyN(tw, f, fi.Size()); err != nil {
		return fmt.Errorf("copying in %s: %w", in.Name, err)
	}
	return nil
}

// parentDirs lists "a", "a/b" for "a/b/c".
func parentDirs(name string) []string {
	var out []string
	for i := 0; i < len(name); i++ {
		if name[i] == '/' {
			out = append(out, name[:i])
		}
	}
	return out
}

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
