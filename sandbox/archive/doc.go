// Package archive extracts hostile tar streams: what comes back from a
// sandbox is written below one directory, entry by entry validated, or
// refused. It knows nothing of containers, so it fuzzes fast.
package archive
