package tree

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
)

// ListScript writes a listing of the tree below $1 to the file $2.list and
// the content hash of each file to $2.sums, for Parse, leaving those two
// files out if they are in the tree. It runs inside a container with the
// image's own find and sha256sum (trusted, read-only root), after every
// script of a phase has ended, and its output should go where no script
// ever could write (a volume of its own): a failed write fails it. A file
// the listing cannot read has no hash (sha256sum's complaint is dropped,
// xargs then exits 123), which Parse records as Unread; names are
// NUL-terminated, so any name survives.
const ListScript = `exec 3>"$2.list" 4>"$2.sums" || exit 97
find "$1" \( -path "$2.list" -o -path "$2.sums" \) -prune -o -printf '%y\0%m\0%p\0%l\0' >&3 || exit 97
find "$1" \( -path "$2.list" -o -path "$2.sums" \) -prune -o -type f -print0 | xargs -0 -r sha256sum -z 2>/dev/null >&4
s=$?; [ $s = 0 ] || [ $s = 123 ] || exit 97
exit 0`

// Limits bound a listing read on the host: it comes from a tree that
// third-party code wrote.
type Limits struct {
	MaxEntries int
	MaxNameLen int
}

// ParseList reads the listing ListScript wrote: four NUL-terminated fields
// per entry (find's %y type letter, %m mode, %p path, %l link target).
// Files stay Unread until AddSums gives their hashes.
func ParseList(list io.Reader, lim Limits) (Tree, error) {
	t := Tree{}
	fields := newFieldReader(list, lim.MaxNameLen)
	for {
		typ, err := fields.next()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the tree listing: %w", err)
		}
		var mode, name, target string
		for _, f := range []*string{&mode, &name, &target} {
			if *f, err = fields.next(); err != nil {
				return nil, fmt.Errorf("reading the tree listing: a truncated record: %w", err)
			}
		}
		if len(t) >= lim.MaxEntries {
			return nil, fmt.Errorf("the tree listing has more than %d entries: resource limit reached", lim.MaxEntries)
		}
		e, err := entryOf(typ, mode, target)
		if err != nil {
			return nil, fmt.Errorf("the tree listing's entry %q: %w", name, err)
		}
		t[path.Clean(name)] = e
	}
}

// Parse is ParseList and AddSums at once.
func Parse(list, sums io.Reader, lim Limits) (Tree, error) {
	t, err := ParseList(list, lim)
	if err != nil {
		return nil, err
	}
	return t, t.AddSums(sums, lim)
}

func entryOf(typ, mode, target string) (Entry, error) {
	switch typ {
	case "d":
		return Entry{Kind: Dir}, nil
	case "l":
		return Entry{Kind: Symlink, Target: target}, nil
	case "f":
		m, err := strconv.ParseInt(mode, 8, 64)
		if err != nil {
			return Entry{}, fmt.Errorf("a mode %q", mode)
		}
		// Unread until its hash is read: a file sha256sum could not read
		// has none.
		return Entry{Kind: File, Exec: m&0o111 != 0, Unread: true}, nil
	case "p", "s", "c", "b", "D":
		return Entry{Kind: Other}, nil
	}
	return Entry{}, fmt.Errorf("an unknown type %q", typ)
}

// AddSums reads the hashes ListScript wrote (sha256sum -z records,
// "HEX  NAME\0") into the files' entries.
func (t Tree) AddSums(sums io.Reader, lim Limits) error {
	recs := newFieldReader(sums, lim.MaxNameLen+2*len(Sum{})+2)
	for {
		rec, err := recs.next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading the file hashes: %w", err)
		}
		sum, name, ok := cutString(rec, "  ")
		var s Sum
		if n, err := hex.Decode(s[:], []byte(sum)); !ok || err != nil || n != len(s) {
			return fmt.Errorf("the file hashes: a malformed record %q", rec)
		}
		name = path.Clean(name)
		e, listed := t[name]
		if !listed || e.Kind != File {
			return fmt.Errorf("the file hashes name %q, which the listing has no file for", name)
		}
		e.Sum, e.Unread = s, false
		t[name] = e
	}
}

func cutString(s, sep string) (string, string, bool) {
	i := bytes.Index([]byte(s), []byte(sep))
	if i < 0 {
		return s, "", false
	}
	return s[:i], s[i+len(sep):], true
}

// fieldReader reads NUL-terminated fields of bounded length.
type fieldReader struct {
	r   *bufio.Reader
	max int
}

func newFieldReader(r io.Reader, max int) *fieldReader {
	return &fieldReader{r: bufio.NewReaderSize(r, 64<<10), max: max}
}

func (f *fieldReader) next() (string, error) {
	var field []byte
	for {
		chunk, err := f.r.ReadSlice(0)
		field = append(field, chunk...)
		if len(field) > f.max+1 {
			return "", fmt.Errorf("a field longer than %d bytes", f.max)
		}
		switch {
		case err == nil:
			return string(field[:len(field)-1]), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(field) > 0:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}
