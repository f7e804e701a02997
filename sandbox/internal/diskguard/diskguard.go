// Package diskguard bounds what a phase writes to the engine's disk.
package diskguard

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/engine"
)

// Guard bounds what one phase writes to the engine's disk (corpus case
// RT-52, cmd/safe-install/testdata/corpus/README.md). Rootless Podman on
// cgroup v1 has no storage quota for volumes, so a script could fill the
// disk through the work volume or its home;
// the guard watches the filesystem's free bytes and inodes and kills the
// phase's container once either has dropped by more than the limit since
// the phase began. The count is the whole filesystem's: other writers on
// the machine add to it, which errs on the side of stopping.
type Guard struct {
	Engine interface {
		DiskFree(ctx context.Context, volume string) (engine.DiskFree, error)
	}
	Volume string
	Kill   func() // stops the phase's container
	Bytes  int64  // 0: no byte bound
	Files  int64  // 0: no inode bound
	Log    *zap.Logger
}

// Exceeded is why a guard stopped a phase.
type Exceeded struct {
	what       string // "bytes" or "files"
	used, over int64
}

func (d *Exceeded) Error() string {
	if d.what == "files" {
		return fmt.Sprintf("was about to create more than %d files on the engine's disk (%d so far)", d.over, d.used)
	}
	return fmt.Sprintf("was about to write more than %s to the engine's disk (%s so far)", HumanBytes(d.over), HumanBytes(d.used))
}

// Watch starts watching and returns a context that is cancelled, with a
// *Exceeded cause, when the phase goes over; stop ends the watch.
func (g Guard) Watch(ctx context.Context) (guarded context.Context, stop func()) {
	gctx, cancel := context.WithCancelCause(ctx)
	if g.Bytes <= 0 && g.Files <= 0 {
		return gctx, func() { cancel(nil) }
	}
	start, err := g.Engine.DiskFree(ctx, g.Volume)
	if err != nil {
		g.Log.Warn("cannot measure the engine's free disk space; the disk limit is not enforced", zap.Error(err))
		return gctx, func() { cancel(nil) }
	}
	// Scripts write into the page cache at 1-2 GB/s here, so a look every
	// 5 ms bounds the overshoot to about 10 MB where a look is a statfs;
	// elsewhere each look is a call to the engine's API.
	every := time.Second
	if start.Cheap {
		every = 5 * time.Millisecond
	}
	done := make(chan struct{})
	go func() {
		prev := start
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-gctx.Done():
				return
			case <-tick.C:
			}
			now, err := g.Engine.DiskFree(gctx, g.Volume)
			if err != nil {
				continue
			}
			over := g.exceeded(start, prev, now)
			prev = now
			if over != nil {
				// The cause first, so that the phase, however soon its
				// container ends, reports the limit; then kill at once:
				// every millisecond until the container stops is more written.
				cancel(over)
				g.Kill()
				return
			}
		}
	}()
	return gctx, func() { close(done); cancel(nil) }
}

// exceeded compares a measurement against the limits. It looks ahead by
// twice the last interval's growth: the container keeps writing while it
// is being killed (about 3 GB/s into the page cache here, so 15 MB per
// 5 ms look), and the limit is a bound, not a target.
func (g Guard) exceeded(start, prev, now engine.DiskFree) *Exceeded {
	used, step := drop(start.Bytes, now.Bytes), drop(prev.Bytes, now.Bytes)
	if g.Bytes > 0 && used+2*step > g.Bytes {
		return &Exceeded{what: "bytes", used: used, over: g.Bytes}
	}
	if start.FilesKnown && now.FilesKnown {
		used, step := drop(start.Files, now.Files), drop(prev.Files, now.Files)
		if g.Files > 0 && used+2*step > g.Files {
			return &Exceeded{what: "files", used: used, over: g.Files}
		}
	}
	return nil
}

func drop(before, after uint64) int64 {
	if after >= before {
		return 0
	}
	return int64(before - after)
}

// HumanBytes is n for a person: GiB, MiB or bytes.
func HumanBytes(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
