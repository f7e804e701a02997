package tail

import (
	"bytes"
	"testing"
)

// The output capture keeps the last max bytes in at most 2*max, whatever
// the writes: many tiny ones, one huge one.
func TestTailBufferIsBounded(t *testing.T) {
	t.Parallel()
	tb := New(1000)
	var all []byte
	for i := 0; i < 100_000; i++ {
		b := byte('a' + i%26)
		tb.Write([]byte{b})
		all = append(all, b)
	}
	if got := tb.String(); got != string(all[len(all)-1000:]) || cap(tb.buf) > 2000 {
		t.Errorf("after tiny writes: %d bytes kept in %d", len(got), cap(tb.buf))
	}
	huge := bytes.Repeat([]byte("0123456789"), 1<<20)
	tb.Write(huge)
	tb.Write([]byte("end"))
	if got := tb.String(); got != string(append(huge[len(huge)-997:], "end"...)) || cap(tb.buf) > 2000 {
		t.Errorf("after a huge write: %d bytes kept in %d", len(got), cap(tb.buf))
	}
}
