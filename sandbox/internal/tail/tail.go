// Package tail keeps the end of a container's output.
package tail

import "sync"

// Buffer keeps the last max bytes written to it: a container's output
// is bounded in memory however much a script prints, and however much one
// write carries. It holds at most 2*max, and moves max bytes once per max
// written (not on every write: the fetch's output has no log limit).
type Buffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

// New keeps the last max bytes.
func New(max int) *Buffer { return &Buffer{max: max} }

func (t *Buffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	if t.buf == nil {
		t.buf = make([]byte, 0, 2*t.max)
	}
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return n, nil
	}
	if len(t.buf)+len(p) > 2*t.max {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-(t.max-len(p)):]...)
	}
	t.buf = append(t.buf, p...)
	return n, nil
}

func (t *Buffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf[max(0, len(t.buf)-t.max):])
}
