package archive

import (
	"archive/tar"
	"fmt"
	"time"
)

// Limits bound what one extraction may write.
type Limits struct {
	MaxBytes     int64 // all regular files together
	MaxFileBytes int64 // one regular file
	MaxEntries   int
	MaxNameLen   int // bytes of one entry's name
}

// DefaultLimits are generous for real node_modules trees (the largest
// measured here was 96 MB in 11k entries) and small enough to stop a disk
// fill or sparse-file bomb long before the host runs out.
func DefaultLimits() Limits {
	return Limits{MaxBytes: 4 << 30, MaxFileBytes: 1 << 30, MaxEntries: 1_000_000, MaxNameLen: 4096}
}

// count holds a regular file's entry to the limits as it is read, whether
// it is kept or not: what Keep passes over is still read from the stream,
// and a script's sparse files outside the kept entries (no disk used, each
// under the scripts' fsize limit, streamed by the engine in zeros) would
// otherwise be read for as long as the script liked.
func (x *extractor) count(hdr *tar.Header) error {
	if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA {
		return nil
	}
	if hdr.Size > x.lim.MaxFileBytes {
		return x.refuse(hdr.Name, fmt.Sprintf("file of %d bytes exceeds the %d-byte limit: resource limit reached", hdr.Size, x.lim.MaxFileBytes))
	}
	if x.read += hdr.Size; x.read > x.lim.MaxBytes {
		return x.refuse(hdr.Name, fmt.Sprintf("artifacts exceed the %d-byte limit: resource limit reached", x.lim.MaxBytes))
	}
	return nil
}

// earliest is the earlier of two times.
func earliest(a, b time.Time) time.Time {
	if a.After(b) {
		return b
	}
	return a
}
