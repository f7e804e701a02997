//go:build e2e

package main

import (
	"strings"
	"testing"
	"time"
)

// An incremental copy-back reads past what lies outside the changed
// locations, and through the engine's archive endpoint (a file a script
// made unreadable to others) that is the whole tree: sparse-past's
// postinstall leaves 5 GiB of holes (5 sparse files of 1 GiB, under the
// scripts' file size limit) in node_modules/.sparse-past. What is read
// past is held to the copy-back's limits (4 GiB) as the rest is: the run
// is refused at the limit and the project stays as it was. With bae6e3f's
// build the same run read all 5 GiB of zeros and succeeded: the bound did
// not hold for what was read past (the control).
func TestE2EIncrementalReadPastIsBounded(t *testing.T) {
	t.Parallel()
	corpus(t, corpusCase{"RT-52 (incremental)", "npm: sparse files outside the changed locations, read past through the archive endpoint", "copy-back limits hold for what is read past (exit 10)"})
	w := newWorld(t)
	w.project("writes-own-file")
	w.succeeds("npm", "install")
	w.addDeps("sparse-past")
	start := time.Now()
	r := w.failsUnchanged([]string{"npm", "install"}, exitArtifact, "artifacts exceed the 4294967296-byte limit", "node_modules/.sparse-past/zeros")
	t.Logf("refused after %s", time.Since(start).Round(time.Second))
	if !strings.Contains(r.stderr, "incremental: 1 package added or changed") {
		t.Errorf("not an incremental run:\n%s", r.stderr)
	}
}
