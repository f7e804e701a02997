package decoy

import (
	"archive/zip"
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"syscall"
)

// The decoy scan's bounds (invariant 12): a staged file may be as
// large as the copy-back limit (1 GiB), a wheel may hold any number of
// members; safe-install's memory may not grow with either.
const (
	// scanWindow is how much of a file the scan holds at once. Larger
	// windows save nothing measurable: the search is per byte.
	scanWindow = 4 << 20
	// scanCarry bounds the tail of a window searched again with the next,
	// for what the window's end cut: a needle, or the base64 run it ends
	// in, kept from a 4-aligned offset of the run so it decodes the same.
	scanCarry = 64 << 10
	// decodeBudget is how many bytes of base64 runs one file may have
	// decoded: bounded work on huge files.
	decodeBudget = 16 << 20
)

// decoyScan collects what decoys a file holds across the windows of it.
type decoyScan struct {
	needles []needle
	seen    map[string]bool
	budget  int
	longest int // the longest needle
}

// needle is one encoded form of a decoy value, and which decoy it is.
type needle struct {
	b    []byte
	what string
}

func (d *Set) newScan() *decoyScan {
	s := &decoyScan{seen: map[string]bool{}, budget: decodeBudget}
	for n, what := range d.search {
		s.needles = append(s.needles, needle{[]byte(n), what})
		s.longest = max(s.longest, len(n))
	}
	return s
}

func (s *decoyScan) search(b []byte) {
	for _, n := range s.needles {
		if bytes.Contains(b, n.b) {
			s.seen[n.what] = true
		}
	}
}

// add searches data, and the base64 runs in it once decoded.
func (s *decoyScan) add(data []byte) {
	s.search(data)
	if s.budget < 0 {
		return
	}
	for _, run := range base64Runs(data) {
		if s.budget -= len(run); s.budget < 0 {
			break
		}
		if dec, err := base64.StdEncoding.DecodeString(string(run[:len(run)/4*4])); err == nil {
			s.search(dec)
		}
	}
}

func (s *decoyScan) found() []string { return slices.Sorted(maps.Keys(s.seen)) }

// findIn is find over a stream, a window at a time. size, what the
// stream is expected to hold, only sizes the first window: a small file is
// read in one, without a window's worth of memory.
func (d *Set) findIn(r io.Reader, size uint64) ([]string, error) {
	s := d.newScan()
	buf := make([]byte, 0, min(size+1, scanWindow+scanCarry))
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		s.add(buf)
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return s.found(), nil
		}
		if err != nil {
			return nil, err
		}
		tail := buf[carryFrom(buf, s.longest):]
		if cap(buf) < scanWindow+scanCarry {
			buf = make([]byte, 0, scanWindow+scanCarry) // larger than it said
		}
		buf = append(buf[:0], tail...)
	}
}

// carryFrom is where the tail of buf to search again begins: the last
// needle's length but one, or the base64 run buf ends in, from a 4-aligned
// offset of it at most scanCarry from the end.
func carryFrom(buf []byte, needle int) int {
	from := max(0, len(buf)-needle+1)
	start := len(buf)
	for start > 0 && isBase64[buf[start-1]] {
		start--
	}
	if start < len(buf) {
		if over := len(buf) - start - scanCarry; over > 0 {
			start += (over + 3) / 4 * 4
		}
		from = min(from, start)
	}
	return from
}

// FindInStaged searches a staged file without following a symlink (the
// tar stream may have made one where a file was expected).
func (d *Set) FindInStaged(p string) ([]string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) || errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	return d.findIn(f, uint64(fi.Size()))
}

// MaxZipMembers is the most members a wheel may have, as package wheel
// (pip's vetting) counts them; a test holds the two equal. The pipeline
// scans without knowing pip.
const MaxZipMembers = 200_000

// findInZip searches every member of a wheel. One with more members than
// a wheel may have is not opened: archive/zip holds about 200 bytes per
// member (1M members: 210 MiB, measured), and the wheel is refused anyway.
func (d *Set) findInZip(p string) ([]string, error) {
	f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if n, err := zipEntries(f, fi.Size()); err != nil || n > MaxZipMembers {
		return nil, err
	}
	zr, err := zip.NewReader(f, fi.Size())
	if err != nil {
		return nil, nil // not a zip: its bytes were searched as they are
	}
	var found []string
	for _, m := range zr.File {
		rc, err := m.Open()
		if err != nil {
			continue
		}
		in, err := d.findIn(rc, m.UncompressedSize64)
		rc.Close()
		if err == nil {
			found = append(found, in...)
		}
	}
	return found, nil
}

// zipEntries reads the member count from a zip's end of central directory
// (zip64's when the count does not fit), without reading the directory.
// A file that is not a zip has none.
func zipEntries(r io.ReaderAt, size int64) (uint64, error) {
	const eocd, locator = 22, 20
	tail := make([]byte, min(size, eocd+0xffff))
	if _, err := r.ReadAt(tail, size-int64(len(tail))); err != nil {
		return 0, fmt.Errorf("reading the end of a zip: %w", err)
	}
	i := bytes.LastIndex(tail, []byte("PK\x05\x06"))
	if i < 0 || len(tail)-i < eocd {
		return 0, nil
	}
	if n := binary.LittleEndian.Uint16(tail[i+10:]); n != 0xffff {
		return uint64(n), nil
	}
	if i < locator || !bytes.Equal(tail[i-locator:i-locator+4], []byte("PK\x06\x07")) {
		return 0, nil
	}
	rec := make([]byte, 40)
	if _, err := r.ReadAt(rec, int64(binary.LittleEndian.Uint64(tail[i-locator+8:]))); err != nil || !bytes.Equal(rec[:4], []byte("PK\x06\x06")) {
		return 0, nil
	}
	return binary.LittleEndian.Uint64(rec[32:]), nil
}
