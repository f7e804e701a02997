package enginetest

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
)

// File is one entry of an in-memory tree.
type File struct {
	Mode   fs.FileMode // fs.ModeDir, fs.ModeSymlink or a regular file's permissions
	Data   []byte
	Target string // a symlink's
}

// FS is an in-memory tree: a volume, a tmpfs, or a container's own root.
// Paths are slash-separated and relative ("node_modules/a/index.js"); ""
// is the top.
//
// A container's behavior runs in a goroutine of its own while the run
// under test copies in and out of the same volumes: every method that
// is not a helper of another takes mu.
type FS struct {
	mu    sync.Mutex
	files map[string]*File
}

func newFS() *FS { return &FS{files: map[string]*File{"": {Mode: fs.ModeDir | 0o755}}} }

// Files lists every path below the top, sorted.
func (f *FS) Files() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for p := range f.files {
		if p != "" {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Get returns the entry at p, or nil.
func (f *FS) Get(p string) *File {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.files[clean(p)]
}

func clean(p string) string {
	p = path.Clean("/" + p)
	return strings.TrimPrefix(p, "/")
}

func (f *FS) mkdirAll(p string) {
	for d := clean(p); d != "" && d != "."; d = clean(path.Dir(d)) {
		if _, ok := f.files[d]; ok {
			break
		}
		f.files[d] = &File{Mode: fs.ModeDir | 0o755}
	}
}

func (f *FS) put(p string, e *File) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.putLocked(p, e)
}

func (f *FS) putLocked(p string, e *File) {
	p = clean(p)
	f.mkdirAll(path.Dir(p))
	if old, ok := f.files[p]; ok && old.Mode.IsDir() && e.Mode.IsDir() {
		return
	}
	f.removeLocked(p)
	f.files[p] = e
}

func (f *FS) remove(p string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.removeLocked(p)
}

func (f *FS) removeLocked(p string) {
	p = clean(p)
	for q := range f.files {
		if q == p || strings.HasPrefix(q, p+"/") {
			delete(f.files, q)
		}
	}
	if p == "" {
		f.files[""] = &File{Mode: fs.ModeDir | 0o755}
	}
}

// extract writes a tar stream below dir, as the engine's copy-in does.
func (f *FS) extract(dir string, r io.Reader) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		p := path.Join(dir, hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeDir:
			f.putLocked(p, &File{Mode: fs.ModeDir | fs.FileMode(hdr.Mode).Perm()})
		case tar.TypeReg:
			data, err := io.ReadAll(tr)
			if err != nil {
				return err
			}
			f.putLocked(p, &File{Mode: fs.FileMode(hdr.Mode).Perm(), Data: data})
		case tar.TypeSymlink:
			f.putLocked(p, &File{Mode: fs.ModeSymlink | 0o777, Target: hdr.Linkname})
		default:
			return fmt.Errorf("enginetest: copy-in of %s: tar type %c", hdr.Name, hdr.Typeflag)
		}
	}
}

// archive writes p and what is below it as the engine's archive endpoint
// does: entries named from p's base name.
func (f *FS) archive(p string, w io.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	p = clean(p)
	if _, ok := f.files[p]; !ok {
		return fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	base := path.Base("/" + p)
	tw := tar.NewWriter(w)
	for _, q := range append([]string{p}, f.below(p)...) {
		e := f.files[q]
		name := base + strings.TrimPrefix(q, p)
		hdr := &tar.Header{Name: name, Mode: int64(e.Mode.Perm())}
		switch {
		case e.Mode.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, name+"/"
		case e.Mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.Target
		default:
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Data); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}

// below lists what is under p (not p), sorted so that a directory comes
// before what it holds.
func (f *FS) below(p string) []string {
	var out []string
	for q := range f.files {
		if q != p && (p == "" || strings.HasPrefix(q, p+"/")) {
			out = append(out, q)
		}
	}
	slices.Sort(out)
	return out
}

// listing is what tree.ListScript writes for the tree below dir (its
// "$1", relative to the working directory, here "."): find's records and
// sha256sum's, leaving out the listing's own two files.
func (f *FS) listing(dir string, skip ...string) (list, sums []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var l, s bytes.Buffer
	dir = clean(dir)
	for _, q := range append([]string{dir}, f.below(dir)...) {
		if slices.Contains(skip, q) {
			continue
		}
		e := f.files[q]
		name := "."
		if rel := strings.TrimPrefix(strings.TrimPrefix(q, dir), "/"); rel != "" {
			name = "./" + rel
		}
		typ, mode := "f", fmt.Sprintf("%o", e.Mode.Perm())
		switch {
		case e.Mode.IsDir():
			typ = "d"
		case e.Mode&fs.ModeSymlink != 0:
			typ = "l"
		default:
			sum := sha256.Sum256(e.Data)
			fmt.Fprintf(&s, "%s  %s\x00", hex.EncodeToString(sum[:]), name)
		}
		fmt.Fprintf(&l, "%s\x00%s\x00%s\x00%s\x00", typ, mode, name, e.Target)
	}
	return l.Bytes(), s.Bytes()
}
