package install

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// A failure's tail is for a person: 20 lines, and never more than MaxTail
// bytes however long they are (pip's interleaved build lines made a 38 KB
// message), cut on a character, marked, ending as the output ends.
func TestLastLinesIsBounded(t *testing.T) {
	short := "a\nb\nnpm timing x\nc\n"
	if got := LastLines(short, 2); got != "b\nc" {
		t.Errorf("LastLines(%q, 2) = %q, want the last two lines without npm's timing", short, got)
	}
	long := strings.Repeat("é", 30000) + "\nthe end"
	got := LastLines(long, 20)
	if len(got) > MaxTail || !utf8.ValidString(got) || !strings.HasPrefix(got, tailCut) || !strings.HasSuffix(got, "\nthe end") {
		t.Errorf("LastLines of a 60 KB line: %d bytes, valid UTF-8 %v, starts %q, ends %q", len(got), utf8.ValidString(got), got[:10], got[len(got)-10:])
	}
}
