// Package escape makes bytes that came from a package or a container safe
// to show: no terminal control sequence, no bidi override, no invalid
// UTF-8 reaches a terminal or a log through it (invariant 11).
package escape
