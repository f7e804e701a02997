package archive

import (
	"archive/tar"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/safe-install/safe-install/sandbox/escape"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// noFollow makes open fail on a symlink instead of writing through it.
const noFollow = syscall.O_NOFOLLOW

// RefusedError is an archive entry that was refused.
type RefusedError struct {
	Path   string // the entry's name in the archive
	Reason string
}

func (e *RefusedError) Error() string { return fmt.Sprintf("%q: %s", e.Path, e.Reason) }

// Stats counts what an extraction wrote.
type Stats struct {
	Files, Dirs, Symlinks, Hardlinks int
	Bytes                            int64
}

// kind is what the extractor created at a path, so that later entries never
// write through a symlink or replace what an earlier entry made.
type kind uint8

const (
	kindDir kind = iota + 1
	kindFile
	kindSymlink
)

// extractor writes a hostile tar stream below dest. It never follows a
// symlink: it knows the type of every path it created, and creates files
// with O_EXCL|O_NOFOLLOW in directories it made itself.
type extractor struct {
	dest string // host directory that stands for the archive's root
	// root is the only top-level name accepted, e.g. "node_modules", or a
	// path below the archive's top, e.g. "packages/a/node_modules", whose
	// entries the engine names from its last element ("node_modules/..."):
	// they are placed below the rest (prefix) as they are read.
	root   string
	prefix string
	lim    Limits
	// fileRoot accepts root itself as a regular file (a manifest).
	fileRoot bool
	// check, when set, sees every entry once it is written (a file with
	// its content hash) and may refuse it by returning a reason.
	check func(name string, e tree.Entry) string
	// links are archive paths outside root that a symlink may point at
	// exactly (npm's workspace and file: directory links).
	links map[string]bool
	// trees are the archive paths (other artifacts, like the root
	// node_modules of a workspace) that a symlink may point inside: their
	// own links are held to the same rule when they are extracted.
	trees []string
	// keep, when set, passes over the entries it says no to.
	keep func(name string) bool
	// read is the regular files' bytes the stream carried, kept or not.
	read  int64
	made  map[string]kind
	stats Stats
}

// Extract reads a tar stream whose entries must all lie below root (for
// example "node_modules") and writes them below dest, which must be an
// empty directory. Entries are checked one by one (invariant 7):
// relative names without "..", without control characters, bidi overrides
// or invalid UTF-8 (escape.Problem; symlink targets too), only regular
// files, directories, symlinks that resolve inside root and hard links to
// earlier files (written as copies); no setuid/setgid; bounded bytes and
// entries. The first refused entry stops
// the extraction with a *RefusedError; dest is then left for the caller
// to remove.
func Extract(r io.Reader, dest, root string, lim Limits) (Stats, error) {
	return (&extractor{dest: dest, root: root, lim: lim}).run(r)
}

// ExtractFile is Extract for an archive of one regular file named root, such
// as the package.json copied out of a container.
func ExtractFile(r io.Reader, dest, root string, lim Limits) (Stats, error) {
	return (&extractor{dest: dest, root: root, lim: lim, fileRoot: true}).run(r)
}

// Options are what an extraction may accept beyond Extract's rules.
type Options struct {
	// Check, when set, sees every entry after it is written: directories
	// (also those the archive leaves implicit), files with their content
	// hash and executable bit (hard link copies included), symlinks with
	// their target. A non-empty answer refuses the entry.
	Check func(name string, e tree.Entry) string
	// Links are the paths outside root, relative to the archive's top
	// (like "packages/a"), that a symlink may point at exactly: npm links
	// workspaces and file: directories into node_modules that way.
	Links []string
	// Trees are the other artifact roots a symlink may point inside (pnpm
	// links a workspace package's dependencies into the root's virtual
	// store); each is extracted under the same rules.
	Trees []string
	// Keep, when set, says which entries (by their cleaned name) the
	// extraction takes; the others are read past, neither written nor
	// checked (an incremental npm copy-back takes the packages that
	// changed, from an engine that sends the whole tree), but held to the
	// limits like the rest: they are read all the same.
	Keep func(name string) bool
}

// ExtractWith is Extract with Options.
func ExtractWith(r io.Reader, dest, root string, lim Limits, opts Options) (Stats, error) {
	x := &extractor{dest: dest, root: root, lim: lim, check: opts.Check, links: map[string]bool{}, trees: opts.Trees, keep: opts.Keep}
	for _, l := range opts.Links {
		x.links[path.Clean(l)] = true
	}
	return x.run(r)
}

// Hash reads an archive like Extract, under the same name rules and limits,
// and describes every entry without writing anything.
func Hash(r io.Reader, root string, lim Limits) (tree.Tree, error) {
	x := &extractor{root: root, lim: lim}
	t := tree.Tree{}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		if n >= lim.MaxEntries || hdr.Size > lim.MaxFileBytes {
			return nil, x.refuse(hdr.Name, "beyond the archive limits: resource limit reached")
		}
		name, err := x.clean(hdr.Name)
		if err != nil {
			return nil, err
		}
		// Parents the archive leaves implicit are directories, as the
		// extractor makes them.
		for d := path.Dir(name); d != "."; d = path.Dir(d) {
			if _, ok := t[d]; !ok {
				t[d] = tree.Entry{Kind: tree.Dir}
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			t[name] = tree.Entry{Kind: tree.Dir}
		case tar.TypeReg, tar.TypeRegA:
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				return nil, fmt.Errorf("reading %s: %w", name, err)
			}
			t[name] = tree.FileEntry(hdr.Mode, tree.Sum(h.Sum(nil)))
		case tar.TypeSymlink:
			t[name] = tree.Entry{Kind: tree.Symlink, Target: hdr.Linkname}
		case tar.TypeLink:
			if src, err := x.clean(hdr.Linkname); err == nil {
				if e, ok := t[src]; ok {
					t[name] = e
				}
			}
		default:
			t[name] = tree.Entry{Kind: tree.Other}
		}
	}
}

func (x *extractor) run(r io.Reader) (Stats, error) {
	x.made = map[string]kind{".": kindDir}
	root, lim := x.root, x.lim
	if x.prefix = path.Dir(root); x.prefix != "." {
		// The directories above a nested root are the project's own, made
		// here (a later artifact's may have made them already), never an
		// archive's entries.
		if err := os.MkdirAll(x.host(x.prefix), 0o755); err != nil {
			return x.stats, fmt.Errorf("creating %s: %w", x.prefix, err)
		}
		for d := x.prefix; d != "."; d = path.Dir(d) {
			x.made[d] = kindDir
		}
	}
	tr := tar.NewReader(r)
	for n := 0; ; n++ {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			if x.made[root] == 0 {
				return x.stats, &RefusedError{Path: root, Reason: "archive has no " + root}
			}
			return x.stats, nil
		}
		if err != nil {
			return x.stats, fmt.Errorf("reading the artifact archive: %w", err)
		}
		if n >= lim.MaxEntries {
			return x.stats, x.refuse(hdr.Name, fmt.Sprintf("more than %d entries: resource limit reached", lim.MaxEntries))
		}
		if err := x.entry(hdr, tr); err != nil {
			return x.stats, err
		}
	}
}

func (x *extractor) refuse(name, reason string) error {
	if x.prefix != "" && x.prefix != "." && !strings.HasPrefix(name, x.prefix+"/") &&
		(name == path.Base(x.root) || strings.HasPrefix(name, path.Base(x.root)+"/")) {
		name = x.prefix + "/" + name // as the project names it
	}
	return &RefusedError{Path: name, Reason: reason}
}

// clean turns an entry name into a slash-separated path relative to the
// archive root, or says why it cannot be one.
func (x *extractor) clean(name string) (string, error) {
	if len(name) > x.lim.MaxNameLen {
		return "", x.refuse(name, "name too long")
	}
	if strings.ContainsRune(name, 0) {
		return "", x.refuse(name, "name contains a NUL byte")
	}
	if strings.HasPrefix(name, "/") {
		return "", x.refuse(name, "absolute name")
	}
	if problem := escape.Problem(name); problem != "" {
		return "", x.refuse(name, problem)
	}
	var parts []string
	for _, p := range strings.Split(name, "/") {
		switch p {
		case "", ".":
			continue
		case "..":
			return "", x.refuse(name, `name contains ".."`)
		}
		parts = append(parts, p)
	}
	if len(parts) == 0 {
		return "", x.refuse(name, "empty name")
	}
	if parts[0] != path.Base(x.root) {
		return "", x.refuse(name, "outside "+x.root)
	}
	if x.prefix != "" && x.prefix != "." {
		parts = append([]string{x.prefix}, parts...)
	}
	return strings.Join(parts, "/"), nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	name, err := x.clean(hdr.Name)
	if err != nil {
		return err
	}
	if err := x.count(hdr); err != nil {
		return err
	}
	if x.keep != nil && !x.keep(name) {
		return nil
	}
	if hdr.Mode&(04000|02000) != 0 {
		return x.refuse(hdr.Name, "setuid or setgid bit")
	}
	if name == x.root && hdr.Typeflag != tar.TypeDir && !(x.fileRoot && hdr.Typeflag == tar.TypeReg) {
		return x.refuse(hdr.Name, x.root+" is not a directory")
	}
	if err := x.parents(name, hdr.Name); err != nil {
		return err
	}
	if k, ok := x.made[name]; ok && !(k == kindDir && hdr.Typeflag == tar.TypeDir) {
		return x.refuse(hdr.Name, "entry replaces an earlier one")
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.dir(name, hdr)
	case tar.TypeReg, tar.TypeRegA:
		return x.file(name, hdr, r)
	case tar.TypeSymlink:
		return x.symlink(name, hdr)
	case tar.TypeLink:
		return x.hardlink(name, hdr)
	case tar.TypeChar, tar.TypeBlock:
		return x.refuse(hdr.Name, "device file")
	case tar.TypeFifo:
		return x.refuse(hdr.Name, "FIFO")
	default:
		return x.refuse(hdr.Name, fmt.Sprintf("unsupported entry type %q", hdr.Typeflag))
	}
}

// parents makes sure every ancestor of name is a directory this extraction
// created, creating missing ones; an ancestor that is a file or symlink is
// refused, so nothing is ever written through a link.
func (x *extractor) parents(name, raw string) error {
	dir := path.Dir(name)
	var missing []string
	for d := dir; d != "."; d = path.Dir(d) {
		k, ok := x.made[d]
		if ok {
			if k != kindDir {
				return x.refuse(raw, "parent "+d+" is not a directory")
			}
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if err := x.mkdir(missing[i], 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (x *extractor) host(name string) string {
	return filepath.Join(x.dest, filepath.FromSlash(name))
}

func (x *extractor) mkdir(name string, mode os.FileMode) error {
	if err := os.Mkdir(x.host(name), mode); err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	x.made[name] = kindDir
	x.stats.Dirs++
	return x.checked(name, tree.Entry{Kind: tree.Dir})
}

// checked asks the extraction's check about an entry it wrote.
func (x *extractor) checked(name string, e tree.Entry) error {
	if x.check == nil {
		return nil
	}
	if reason := x.check(name, e); reason != "" {
		return x.refuse(name, reason)
	}
	return nil
}

func (x *extractor) dir(name string, hdr *tar.Header) error {
	if x.made[name] == kindDir {
		return nil
	}
	// Directories are always traversable and writable by their owner only.
	return x.mkdir(name, 0o755)
}

// fileMode keeps only the executable bit: 0755 or 0644, never group- or
// world-writable, never 0000 (RT-15).
func fileMode(m int64) os.FileMode {
	if m&0o111 != 0 {
		return 0o755
	}
	return 0o644
}

func (x *extractor) file(name string, hdr *tar.Header, r io.Reader) error {
	if x.stats.Bytes+hdr.Size > x.lim.MaxBytes { // count held the file to MaxFileBytes
		return x.refuse(hdr.Name, fmt.Sprintf("artifacts exceed the %d-byte limit: resource limit reached", x.lim.MaxBytes))
	}
	if err := x.write(name, fileMode(hdr.Mode), io.LimitReader(r, hdr.Size), hdr.Size); err != nil {
		return err
	}
	x.stats.Files++
	if !hdr.ModTime.IsZero() {
		// Build tools compare mtimes; keep them, but never ahead of the
		// clock (the engine's tar rounds to the nearest second: npm's
		// record, written after, must be newer). A failure is harmless.
		_ = os.Chtimes(x.host(name), time.Time{}, earliest(hdr.ModTime, time.Now()))
	}
	return nil
}

func (x *extractor) write(name string, mode os.FileMode, r io.Reader, size int64) error {
	f, err := os.OpenFile(x.host(name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|noFollow, mode)
	if err != nil {
		return fmt.Errorf("creating %s: %w", name, err)
	}
	var out io.Writer = f
	h := sha256.New()
	if x.check != nil {
		out = io.MultiWriter(f, h)
	}
	n, err := io.Copy(out, r)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	if n != size {
		return x.refuse(name, "archive ended inside the file")
	}
	x.made[name] = kindFile
	x.stats.Bytes += n
	return x.checked(name, tree.FileEntry(int64(mode), tree.Sum(h.Sum(nil))))
}

// symlink accepts a relative target made of leading ".." components followed
// by plain names, whose ".." steps stay inside root when taken from the
// link's own directory. Because every directory on the way is a real one
// (parents refuses links), ".." there means the lexical parent, and the
// descending part can only reach paths inside root or other links that were
// held to the same rule.
func (x *extractor) symlink(name string, hdr *tar.Header) error {
	target := hdr.Linkname
	if target == "" || strings.HasPrefix(target, "/") || strings.ContainsRune(target, 0) {
		return x.refuse(hdr.Name, fmt.Sprintf("symlink to %q leaves %s", target, x.root))
	}
	if problem := escape.Problem(target); problem != "" {
		return x.refuse(hdr.Name, "symlink target: "+problem)
	}
	below := strings.Count(name, "/") - strings.Count(x.root, "/") - 1 // levels from root down to the link's directory
	up, descending := 0, false
	for _, p := range strings.Split(target, "/") {
		switch p {
		case "", ".":
		case "..":
			if descending {
				return x.refuse(hdr.Name, fmt.Sprintf("symlink target %q climbs after descending", target))
			}
			up++
		default:
			descending = true
		}
	}
	// For root/a/b/link the link's directory is two levels below root, so
	// it may climb at most two levels (reaching root itself). Beyond root,
	// only the exact declared link targets: what such a link points at is
	// the user's own directory, never something the archive made.
	if up > below && !x.links[path.Join(path.Dir(name), target)] && !x.inTrees(path.Join(path.Dir(name), target)) {
		return x.refuse(hdr.Name, fmt.Sprintf("symlink to %q leaves %s", target, x.root))
	}
	if err := os.Symlink(target, x.host(name)); err != nil {
		return fmt.Errorf("creating symlink %s: %w", name, err)
	}
	x.made[name] = kindSymlink
	x.stats.Symlinks++
	return x.checked(name, tree.Entry{Kind: tree.Symlink, Target: target})
}

// inTrees says whether p (lexical, from the archive's top) is inside one
// of the other artifact roots.
func (x *extractor) inTrees(p string) bool {
	for _, t := range x.trees {
		if t != x.root && (p == t || strings.HasPrefix(p, t+"/")) {
			return true
		}
	}
	return false
}

// hardlink writes a copy of an earlier regular file of this archive: a real
// hard link could tie the tree to a host file, and a copy costs little.
func (x *extractor) hardlink(name string, hdr *tar.Header) error {
	src, err := x.clean(hdr.Linkname)
	if err != nil {
		return x.refuse(hdr.Name, fmt.Sprintf("hard link to %q: %s", hdr.Linkname, err.(*RefusedError).Reason))
	}
	if x.made[src] != kindFile {
		return x.refuse(hdr.Name, fmt.Sprintf("hard link to %q, which is not an earlier file of the archive", hdr.Linkname))
	}
	f, err := os.OpenFile(x.host(src), os.O_RDONLY|noFollow, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("opening %s: %w", src, err)
	}
	if x.stats.Bytes+fi.Size() > x.lim.MaxBytes {
		return x.refuse(hdr.Name, fmt.Sprintf("artifacts exceed the %d-byte limit: resource limit reached", x.lim.MaxBytes))
	}
	if err := x.write(name, fi.Mode().Perm(), f, fi.Size()); err != nil {
		return err
	}
	x.stats.Hardlinks++
	return nil
}
