package sandbox

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/beneath"
)

// sandboxUID owns everything copied in: the image's unprivileged user.
const sandboxUID = 1000

// writeInputs writes inputs as a tar stream owned by the sandbox user. A
// host file (Source) is opened by its name below project's directory,
// never through a symlink at any depth, a regular file (package beneath):
// the plan listed it well before, and a directory swapped for a link to
// ~/.ssh meanwhile would have had an O_NOFOLLOW open follow it.
func writeInputs(w io.Writer, project string, inputs []install.Input) error {
	root, err := beneath.OpenRoot(project) // "": safe-install's own data alone
	if err == nil {
		defer root.Close()
	} else if project != "" {
		return fmt.Errorf("copying in the project's files: %w", err)
	}
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
		if err := writeInput(tw, root, in, now); err != nil {
			return err
		}
	}
	return tw.Close()
}

func writeInput(tw *tar.Writer, root *beneath.Root, in install.Input, now time.Time) error {
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
	f, fi, err := root.OpenPath(in.Source)
	switch {
	case errors.Is(err, beneath.ErrRefused):
		return fmt.Errorf("%w: copying in %s: %w; only the project's own files, reached through its directories, go into the sandbox: "+
			"replace the link by the files, then run again", install.ErrPolicy, in.Name, err)
	case err != nil:
		return fmt.Errorf("copying in %s: %w", in.Name, err)
	}
	defer f.Close()
	hdr.Size, hdr.ModTime = fi.Size(), fi.ModTime()
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
