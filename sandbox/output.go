package sandbox

import "regexp"

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
