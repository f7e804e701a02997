package progress

import (
	"bytes"
	"regexp"
	"sync/atomic"
	"testing"
	"time"
)

func TestStepsPlain(t *testing.T) {
	var b bytes.Buffer
	s := New(&b, false, false)
	s.Begin("fetching: npm ci")
	s.Warn("something")
	s.Begin("copying %s back", "node_modules")
	s.End()
	want := "safe-install: fetching: npm ci\nsafe-install: WARN something\nsafe-install: copying node_modules back\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestStepsLive(t *testing.T) {
	var b bytes.Buffer
	s := New(&b, true, false)
	s.Begin("fetching: npm ci")
	time.Sleep(1100 * time.Millisecond) // two redraws
	s.Warn("x")
	s.End()
	s.End() // a second end prints nothing
	s.mu.Lock()
	out := b.String()
	s.mu.Unlock()
	redraws := regexp.MustCompile(`\r\x1b\[Ksafe-install: fetching: npm ci … [0-9.]+s`).FindAllString(out, -1)
	if len(redraws) < 3 {
		t.Errorf("%d redraws in %q, want the first and at least two ticks", len(redraws), out)
	}
	if !regexp.MustCompile(`\r\x1b\[Ksafe-install: WARN x\n`).MatchString(out) {
		t.Errorf("the note is not on a line of its own: %q", out)
	}
	if !regexp.MustCompile(`\r\x1b\[Ksafe-install: fetching: npm ci: 1\.[0-9]s\n$`).MatchString(out) {
		t.Errorf("no final line with the duration: %q", out)
	}
}

func TestStepsCountBytes(t *testing.T) {
	var b bytes.Buffer
	s := New(&b, true, false)
	var n atomic.Int64
	s.BeginCounting(&n, "copying node_modules back")
	n.Add(45_200_000)
	s.End()
	if !regexp.MustCompile(`copying node_modules back: [0-9.]+s, 45\.2 MB\n$`).MatchString(b.String()) {
		t.Errorf("got %q", b.String())
	}
}

func TestStepsQuiet(t *testing.T) {
	var b bytes.Buffer
	s := New(&b, true, true)
	s.Begin("fetching: npm ci")
	s.Note("ran: x")
	s.Warn("theft attempt")
	s.End()
	if b.String() != "safe-install: WARN theft attempt\n" {
		t.Errorf("quiet printed %q", b.String())
	}
}
