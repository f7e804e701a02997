package sandbox

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/archive"
	"github.com/safe-install/safe-install/sandbox/install"
)

// files reads the container id's files for a session (Files).
func (r *runner) files(id string) install.Files { return containerFiles{r, id} }

type containerFiles struct {
	r  *runner
	id string
}

func (c containerFiles) Read(ctx context.Context, name string, max int64) ([]byte, error) {
	var data []byte
	err := c.r.streamPath(ctx, c.id, name, func(rd io.Reader) error {
		tr := tar.NewReader(rd)
		hdr, err := tr.Next()
		if err != nil {
			return err
		}
		if hdr.Typeflag != tar.TypeReg || hdr.Size > max {
			return fmt.Errorf("%s is no regular file of at most %d bytes", name, max)
		}
		data, err = io.ReadAll(io.LimitReader(tr, max))
		return err
	})
	if err != nil && isNotExist(err) {
		return nil, fmt.Errorf("%s: %w", name, fs.ErrNotExist)
	}
	return data, err
}

func (c containerFiles) Walk(ctx context.Context, dir string, max int64, fn func(name string, data []byte) error) error {
	return c.r.streamPath(ctx, c.id, dir, func(rd io.Reader) error {
		tr := tar.NewReader(rd)
		for {
			hdr, err := tr.Next()
			if err != nil {
				return nil // the end, or a stream no file is in
			}
			if hdr.Typeflag != tar.TypeReg || hdr.Size > max {
				continue
			}
			data, err := io.ReadAll(io.LimitReader(tr, max))
			if err != nil {
				return err
			}
			if err := fn(path.Base(hdr.Name), data); err != nil {
				return err
			}
		}
	})
}

func (c containerFiles) Stage(ctx context.Context, name string) (string, error) {
	r := c.r
	if !r.staged[name] && !slices.Contains(r.plan.Manifests, name) {
		if err := r.copyBack(ctx, c.id, name, archive.ExtractFile); err != nil {
			var ae *install.ArtifactError
			if errors.As(err, &ae) {
				return "", err
			}
			r.log.Debug("no such file after the fetch", zap.String("name", name), zap.Error(err))
			return "", nil
		}
	}
	r.staged[name] = true
	return filepath.Join(r.staging, name), nil
}

// isNotExist says whether copying out failed because the path is not
// there (the archive endpoint's 404, the local walk's ENOENT).
func isNotExist(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "no such file") || strings.Contains(err.Error(), "not found")
}
