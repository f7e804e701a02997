package escape

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text escapes s for a terminal, keeping newlines and tabs: a script's
// output tail, an error message. Every other C0 control (ESC above all:
// OSC 52 writes the clipboard, OSC 0 the window title), DEL, the C1
// controls (U+0080-U+009F, of which U+009B is a one-byte CSI), the bidi
// overrides and isolates (they reorder what the reader sees), the line and
// paragraph separators, and each byte of invalid UTF-8 become visible Go
// escapes: \x1b, \u009b, \u202e, \xff. A backslash stays as it is: it
// does nothing to a terminal.
func Text(s string) string { return escape(s, false) }

// Line is Text for a value that must stay on one line (a name, a path, a
// version): newlines and tabs are escaped too.
func Line(s string) string { return escape(s, true) }

func escape(s string, oneLine bool) string {
	if clean(s, oneLine) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case unsafe(r, oneLine) && r < 0x80:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafe(r, oneLine):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// clean says whether s needs no escaping, without allocating: the common case.
func clean(s string, oneLine bool) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || unsafe(r, oneLine) {
			return false
		}
		i += size
	}
	return true
}

// unsafe says whether a terminal or a reader could be misled by r.
func unsafe(r rune, oneLine bool) bool {
	switch {
	case r == '\n' || r == '\t':
		return oneLine
	case r < 0x20, r == 0x7f, r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x061c, r == 0x200e, r == 0x200f, r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069:
		return true // bidi marks, embeddings, overrides and isolates
	case r == 0x2028, r == 0x2029:
		return true // line and paragraph separators
	}
	return false
}

// Problem says why a file name (or a symlink target) from a sandbox cannot
// be accepted as it is, or "" when it can: a name with any character that
// Text would escape, newlines and tabs included, or invalid UTF-8. Such
// names are refused rather than escaped, because the host's own tools
// (ls, a shell's completion, an editor) would show them raw later.
func Problem(name string) string {
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			return "the name is not valid UTF-8"
		}
		if unsafe(r, true) {
			return fmt.Sprintf("the name has a control character or bidi override (%s); a terminal that shows it would act on it", Line(string(r)))
		}
		i += size
	}
	return ""
}

// JSON makes encoded JSON safe for a terminal: encoding/json already
// escapes the C0 controls and replaces invalid UTF-8, so what is left are
// the C1 controls, the bidi controls and the separators, which become
// \uXXXX escapes (valid JSON for the same string).
func JSON(data []byte) []byte {
	s := string(data)
	if clean(s, false) {
		return data
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for _, r := range s {
		if r >= 0x80 && unsafe(r, false) {
			fmt.Fprintf(&b, `\u%04x`, r)
			continue
		}
		b.WriteRune(r)
	}
	return []byte(b.String())
}
