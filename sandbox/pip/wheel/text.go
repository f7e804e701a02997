package wheel

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// checkText refuses a text file that Python reads itself (.pth,
// entry_points.txt) unless every Python reader splits it into the same
// lines as we do: on "\n", with "\r\n" as one break.
//
// The readers disagree on everything else. site.py reads a .pth file in
// Python 3.11 and 3.12 in the locale's encoding with universal newlines
// ("\r" alone ends a line too), and in 3.13 as UTF-8 with an optional BOM
// (dropped), falling back to the locale's encoding, split with
// str.splitlines(), which also breaks on \v \f \x1c \x1d \x1e \x85 U+2028
// U+2029. importlib.metadata (pip on 3.11 and later) and pkg_resources read
// entry_points.txt as UTF-8 and split it with str.splitlines(); configparser
// splits on "\n" only. A line that one reader sees and another does not is
// how an import line or a command named pip3 hides, so rather than model
// each reader, anything they could disagree on is refused: a line break
// other than "\n" and "\r\n", a BOM (3.13 drops it, so "\ufeffimport"
// would run there), NUL, and bytes that are not UTF-8 (decoded in the
// locale's encoding, which we do not know). No benign wheel needs them;
// "\r\n" from a wheel built on Windows stays readable, because every reader
// takes it for one break and strips the "\r" as whitespace. In a valid
// UTF-8 file "\n" and "\r" are the same bytes in every ASCII-compatible
// locale encoding too, so the lines are the same there.
func checkText(b []byte) error {
	if !utf8.Valid(b) {
		return errors.New("not valid UTF-8, so Python would read it in the locale's encoding, which may split its lines differently")
	}
	s := string(b)
	for i, r := range s {
		switch {
		case r == '\n':
		case r == '\r' && strings.HasPrefix(s[i+1:], "\n"):
		case r == 0:
			return fmt.Errorf("a NUL byte at offset %d", i)
		case r == '\ufeff':
			return fmt.Errorf("a byte order mark at offset %d, which Python 3.13 drops and 3.11 keeps", i)
		case lineBreak(r):
			return fmt.Errorf("the line break %q at offset %d, which some of Python's readers take for the end of a line and others do not, so a line can hide behind it; only \\n and \\r\\n are accepted", r, i)
		}
	}
	return nil
}

// lineBreak reports whether str.splitlines() (or universal newlines,
// for "\r") ends a line at r.
func lineBreak(r rune) bool {
	switch r {
	case '\n', '\r', '\v', '\f', '\x1c', '\x1d', '\x1e', '\u0085', '\u2028', '\u2029':
		return true
	}
	return false
}

// pyStrip is Python's str.strip(): it removes what str.isspace() calls
// whitespace, which is Go's unicode.IsSpace and U+001C to U+001F.
func pyStrip(s string) string { return strings.TrimFunc(s, pySpace) }

func pySpace(r rune) bool { return unicode.IsSpace(r) || (r >= '\x1c' && r <= '\x1f') }
