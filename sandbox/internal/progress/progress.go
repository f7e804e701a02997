// Package progress shows a run's progress to a person, one line per step.
package progress

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// Steps shows a run's progress one line per step. On a terminal (live) the
// current step's line is redrawn every half second with its elapsed time
// and ends with the step's duration; elsewhere each line is printed once,
// so logs stay readable.
type Steps struct {
	w     io.Writer
	live  bool
	quiet bool // only warnings

	mu    sync.Mutex
	cur   string
	start time.Time
	stop  chan struct{}
	done  chan struct{}
	bytes *atomic.Int64 // when set, the step shows how much it has copied
}

// New shows steps on w: redrawn when live (a terminal), only warnings
// when quiet.
func New(w io.Writer, live, quiet bool) *Steps {
	if w == nil {
		w = io.Discard
	}
	return &Steps{w: w, live: live && !quiet, quiet: quiet}
}

// Begin ends the current step, if any, and starts another.
func (s *Steps) Begin(format string, args ...any) { s.BeginCounting(nil, format, args...) }

// BeginCounting starts a step whose line also shows the bytes counted.
func (s *Steps) BeginCounting(n *atomic.Int64, format string, args ...any) {
	s.End()
	s.mu.Lock()
	defer s.mu.Unlock()
	// Steps and lines name packages, paths and output: escaped, once,
	// here, whatever the caller passed (invariant 11).
	s.cur, s.start, s.bytes = escape.Line(fmt.Sprintf(format, args...)), time.Now(), n
	if s.quiet {
		return
	}
	if !s.live {
		fmt.Fprintf(s.w, "safe-install: %s\n", s.cur)
		return
	}
	s.stop, s.done = make(chan struct{}), make(chan struct{})
	s.draw()
	go s.tick(s.stop, s.done)
}

func (s *Steps) tick(stop, done chan struct{}) {
	defer close(done)
	t := time.NewTicker(500 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			s.mu.Lock()
			s.draw()
			s.mu.Unlock()
		}
	}
}

// draw rewrites the terminal line; the caller holds mu.
func (s *Steps) draw() {
	fmt.Fprintf(s.w, "\r\033[Ksafe-install: %s … %.1fs%s", s.cur, time.Since(s.start).Seconds(), s.counted())
}

func (s *Steps) counted() string {
	if s.bytes == nil {
		return ""
	}
	return fmt.Sprintf(", %.1f MB", float64(s.bytes.Load())/1e6)
}

// End finishes the current step with its duration.
func (s *Steps) End() {
	s.mu.Lock()
	stop, done := s.stop, s.done
	s.stop, s.done = nil, nil
	s.mu.Unlock()
	if stop == nil {
		return
	}
	close(stop)
	<-done
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, "\r\033[Ksafe-install: %s: %.1fs%s\n", s.cur, time.Since(s.start).Seconds(), s.counted())
	s.cur, s.bytes = "", nil
}

// Note prints a line that is not a step (a listing), above the live line;
// Warn prints one that even a quiet run shows.
func (s *Steps) Note(format string, args ...any) {
	if !s.quiet {
		s.line(fmt.Sprintf(format, args...))
	}
}

func (s *Steps) Warn(format string, args ...any) { s.line("WARN " + fmt.Sprintf(format, args...)) }

func (s *Steps) line(msg string) {
	msg = escape.Text(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.live && s.stop != nil {
		fmt.Fprintf(s.w, "\r\033[Ksafe-install: %s\n", msg)
		s.draw()
		return
	}
	fmt.Fprintf(s.w, "safe-install: %s\n", msg)
}
