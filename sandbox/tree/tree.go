package tree

import (
	"crypto/sha256"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// Kind is what an entry is.
type Kind uint8

const (
	Dir Kind = iota + 1
	File
	Symlink
	// Other is a FIFO, socket or device: never accepted into a host tree.
	Other
)

func (k Kind) String() string {
	switch k {
	case Dir:
		return "directory"
	case File:
		return "file"
	case Symlink:
		return "symlink"
	case Other:
		return "special file"
	}
	return fmt.Sprintf("kind %d", uint8(k))
}

// Sum is a file's SHA-256.
type Sum = [sha256.Size]byte

// Entry is one entry of a tree. Two entries are the same entry when they
// are equal (==): same kind, and for a file the same executable bit and
// content, for a symlink the same target.
type Entry struct {
	Kind Kind
	// Exec is a file's executable bit: the host tree keeps only that of
	// its mode (0755 or 0644).
	Exec bool
	// Sum is a file's content hash; Unread is set instead when the
	// listing could not read the file (a script made it unreadable).
	Sum    Sum
	Unread bool
	Target string // a symlink's target, as written
}

// Tree maps slash-separated paths (like "node_modules/a/index.js") to
// their entries.
type Tree map[string]Entry

// FileEntry is a file's entry from its mode bits and content hash.
func FileEntry(mode int64, sum Sum) Entry {
	return Entry{Kind: File, Exec: mode&0o111 != 0, Sum: sum}
}

// FilesFirst is the tree's names at or below one of roots (every name when
// roots is empty), files and links before directories, each in name order:
// the order in which a copy-back rule names what went missing, so that the
// message names a file rather than the directory it was in.
func (t Tree) FilesFirst(roots []string) []string {
	names := slices.DeleteFunc(slices.Sorted(maps.Keys(t)), func(name string) bool {
		return len(roots) > 0 && !slices.ContainsFunc(roots, func(r string) bool { return name == r || strings.HasPrefix(name, r+"/") })
	})
	slices.SortStableFunc(names, func(a, b string) int { return falseFirst(t[a].Kind == Dir, t[b].Kind == Dir) })
	return names
}

// CheckAll judges every entry of t with check, in name order but with the
// entries for which last says true (the project's own files) after the
// rest: a package tampered with is the finding to name, before the
// project file that tampering explains. It returns the first refusal.
func (t Tree) CheckAll(last func(name string) bool, check func(name string, e Entry) string) (name, reason string) {
	names := slices.Sorted(maps.Keys(t))
	slices.SortStableFunc(names, func(a, b string) int { return falseFirst(last(a), last(b)) })
	for _, n := range names {
		if reason := check(n, t[n]); reason != "" {
			return n, reason
		}
	}
	return "", ""
}

// falseFirst orders false before true.
func falseFirst(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// Culprits is how a copy-back rule names the packages whose scripts ran in
// a phase: their names, or "no script".
func Culprits(names []string) string {
	if len(names) == 0 {
		return "no script"
	}
	return strings.Join(names, ", ")
}

// Carries says whether a copy-back of the roots only (all when none),
// less what is at or below except, carries name.
func Carries(only, except []string, name string) bool {
	return (len(only) == 0 || Covers(only, name)) && !Below(except, name)
}

// Below says whether name is at or below one of roots.
func Below(roots []string, name string) bool {
	return slices.ContainsFunc(roots, func(r string) bool { return name == r || strings.HasPrefix(name, r+"/") })
}

// Covers says whether name is at or below one of roots, or is a directory
// on the way to one: what a copy-back of those roots alone carries.
func Covers(roots []string, name string) bool {
	for _, r := range roots {
		if name == r || strings.HasPrefix(name, r+"/") || strings.HasPrefix(r, name+"/") {
			return true
		}
	}
	return false
}
