package sandbox

import (
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// steps shows a run's progress one line per step. On a terminal (live) the
// current step's line is redrawn every half second with its elapsed time
// and ends with the step's duration; elsewhere each line is printed once,
// so logs stay readable.
type steps struct {
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

func newSteps(w io.Writer, live, quiet bool) *steps {
	if w == nil {
		w = io.Discard
	}
	return &steps{w: w, live: live && !quiet, quiet: quiet}
}

// begin ends the current step, if any, and starts another.
func (s *steps) begin(format string, args ...any) { s.beginCounting(nil, format, args...) }

// beginCounting starts a step whose line also shows the bytes counted.
func (s *steps) beginCounting(n *atomic.Int64, format string, args ...any) {
	s.end()
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

func (s *steps) tick(stop, done chan struct{}) {
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
func (s *steps) draw() {
	fmt.Fprintf(s.w, "\r\033[Ksafe-install: %s … %.1fs%s", s.cur, time.Since(s.start).Seconds(), s.counted())
}

func (s *steps) counted() string {
	if s.bytes == nil {
		return ""
	}
	return fmt.Sprintf(", %.1f MB", float64(s.bytes.Load())/1e6)
}

// end finishes the current step with its duration.
func (s *steps) end() {
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

// note prints a line that is not a step (a listing), above the live line;
// warn prints one that even a quiet run shows.
func (s *steps) Note(format string, args ...any) {
	if !s.quiet {
		s.line(fmt.Sprintf(format, args...))
	}
}

func (s *steps) Warn(format string, args ...any) { s.line("WARN " + fmt.Sprintf(format, args...)) }

func (s *steps) line(msg string) {
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
