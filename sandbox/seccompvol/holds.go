package seccompvol

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
)

// holds reads a tar stream of one directory, as the engine's archive
// endpoint writes it (entries named from the directory's base name), and
// says whether it holds each of want's files, by base name, as a regular
// file with exactly those bytes; other entries do not matter. A stream
// longer than max bytes holds nothing: what is read is bounded, whoever
// wrote the directory.
func holds(r io.Reader, want map[string][]byte, max int64) (bool, error) {
	lr := &io.LimitedReader{R: r, N: max + 1}
	tr := tar.NewReader(lr)
	found := map[string]bool{}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			if lr.N <= 0 {
				return false, nil
			}
			return false, fmt.Errorf("reading the archive: %w", err)
		}
		name := path.Base(hdr.Name)
		data, ok := want[name]
		if !ok || hdr.Typeflag != tar.TypeReg {
			continue
		}
		got, err := io.ReadAll(tr)
		if err != nil {
			if lr.N <= 0 {
				return false, nil
			}
			return false, fmt.Errorf("reading %s from the archive: %w", hdr.Name, err)
		}
		found[name] = bytes.Equal(got, data)
	}
	if lr.N <= 0 {
		return false, nil
	}
	for name := range want {
		if !found[name] {
			return false, nil
		}
	}
	return true, nil
}
