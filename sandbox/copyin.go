package sandbox

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/safe-install/safe-install/sandbox/install"
)

// sandboxUID owns everything copied in: the image's unprivileged user.
const sandboxUID = 1000

// writeInputs writes inputs as a tar stream owned by the sandbox user.
// Files are opened with O_NOFOLLOW and must be regular, so a symlink
// planted in the project cannot pull a host file in.
func writeInputs(w io.Writer, inputs []install.Input) error {
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

func writeInput(tw *tar.Writer, in install.Input, now time.Time) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: in.Name, Mode: in.Mode, Uid: sandboxUID, Gid: sandboxUID, ModTime: now}
	if !in.ModTime.IsZero() {
		hdr.ModTime, hdr.AccessTime, hdr.Format = in.ModTime, in.ModTime, tar.FormatPAX
	}
	if in.Link != "" {
		// A link is copied as a link, never followed: inside the
		// container it can only point into the container, and what comes
		// back passes the extractor's link checks like any other.
		hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, in.Link, 0o777
		return tw.WriteHeader(hdr)
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
		return fmt.Errorf("%w: copying in %s: not a regular file", install.ErrPolicy, in.Name)
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
