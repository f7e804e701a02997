// Package tree describes a file tree entry by entry: the kind of every
// entry, a file's executable bit and content hash, a symlink's target. A
// description is read from a trusted listing made inside a container, or
// recorded while an archive is extracted, and two descriptions compare
// entry by entry.
package tree
