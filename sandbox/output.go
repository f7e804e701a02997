package sandbox

import (
	"regexp"
	"sync"
)

// tailBuffer keeps the last max bytes written to it: a container's output
// is bounded in memory however much a script prints, and however much one
// write carries. It holds at most 2*max, and moves max bytes once per max
// written (not on every write: the fetch's output has no log limit).
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (t *tailBuffer) Write(p []byte) (int, error) {
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

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf[max(0, len(t.buf)-t.max):])
}

// outOfMemory matches how node, V8, python and the C library report an
// allocation the memory rlimit refused (cgroup v1 gives no OOM kill).
var outOfMemory = regexp.MustCompile(`Array buffer allocation failed|JavaScript heap out of memory|Cannot allocate memory|\bMemoryError\b|std::bad_alloc|virtual memory exhausted`)

// networkError matches how node, npm, curl and python report a connection
// the sandbox's network namespace cannot make.
var networkError = regexp.MustCompile(`\b(ENETUNREACH|EAI_AGAIN|ENOTFOUND|ECONNREFUSED|getaddrinfo|Network is unreachable|Temporary failure in name resolution|Could not resolve host|Connection refused)\b`)

// outOfSpace matches a full work directory (its tmpfs is bounded by --disk)
// or home.
var outOfSpace = regexp.MustCompile(`ENOSPC|No space left on device`)

// outOfProcesses matches how shells, node and python report a fork the
// process rlimit refused.
var outOfProcesses = regexp.MustCompile(`Cannot fork|fork: Resource temporarily unavailable|spawn \S+ EAGAIN|BlockingIOError: \[Errno 11\]`)
