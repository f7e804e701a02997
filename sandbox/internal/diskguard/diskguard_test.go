package diskguard

import (
	"testing"

	"github.com/safe-install/safe-install/sandbox/engine"
)

func TestDiskGuardLooksAhead(t *testing.T) {
	g := Guard{Bytes: 100 << 20, Files: 1000}
	start := engine.DiskFree{Bytes: 1 << 30, Files: 5000, FilesKnown: true}
	at := func(usedMiB, files uint64) engine.DiskFree {
		return engine.DiskFree{Bytes: start.Bytes - usedMiB<<20, Files: start.Files - files, FilesKnown: true}
	}
	cases := []struct {
		name      string
		prev, now engine.DiskFree
		want      string // "" (within), "bytes" or "files"
	}{
		{"slow growth under the limit", at(50, 0), at(51, 0), ""},
		{"fast growth that will pass the limit before the kill lands", at(60, 0), at(80, 0), "bytes"},
		{"over the limit", at(99, 0), at(101, 0), "bytes"},
		{"space freed since the start", at(0, 0), engine.DiskFree{Bytes: start.Bytes + 1, FilesKnown: true, Files: start.Files}, ""},
		{"files over the limit", at(0, 900), at(0, 1001), "files"},
		{"files growing fast", at(0, 700), at(0, 850), "files"},
	}
	for _, c := range cases {
		got := ""
		if over := g.exceeded(start, c.prev, c.now); over != nil {
			got = over.what
		}
		if got != c.want {
			t.Errorf("%s: exceeded = %q, want %q", c.name, got, c.want)
		}
	}
	// Without inode counts (a remote engine), only bytes are bounded.
	remote := engine.DiskFree{Bytes: start.Bytes}
	if over := g.exceeded(remote, remote, remote); over != nil {
		t.Errorf("no growth: exceeded %v", over)
	}
}
