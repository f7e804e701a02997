package sandbox

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/safe-install/safe-install/sandbox/decoy"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/internal/testproject"
)

// The output capture keeps the last max bytes in at most 2*max, whatever
// the writes: many tiny ones, one huge one.
func TestTailBufferIsBounded(t *testing.T) {
	t.Parallel()
	tb := newTailBuffer(1000)
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

// A decoy copied into a thousand files is listed in maxStashes of them and
// counted in the rest: the report stays short.
func TestStashesAreBounded(t *testing.T) {
	t.Parallel()
	d := decoy.New()
	files := map[string]string{}
	for i := 0; i < 1000; i++ {
		files[fmt.Sprintf("node_modules/evil/loot-%04d.txt", i)] = d.Env()["GITHUB_TOKEN"]
	}
	r := &runner{decoys: d, session: install.NoSession{}, staging: testproject.Write(t, files), plan: &install.Plan{Artifacts: []string{"node_modules"}}, res: &Result{}}
	if err := r.decoysInArtifacts(); err != nil {
		t.Fatal(err)
	}
	if n := len(r.res.Theft); n != maxStashes+1 || !strings.Contains(r.res.Theft[n-1].How, "980 more files") {
		t.Errorf("%d theft attempts, the last %+v", n, r.res.Theft[len(r.res.Theft)-1])
	}
}
