// Package hostlock serializes this user's runs on this machine around a
// step that two first runs would otherwise race through (writing the
// seccomp profile volume): an flock on a file in the user's runtime
// directory, which the kernel lets go when its holder dies, killed or not.
package hostlock

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// Lock takes the lock called name, waiting for it until ctx ends, and
// returns the function that lets it go.
func Lock(ctx context.Context, name string) (func(), error) {
	return LockWaiting(ctx, name, nil)
}

// LockWaiting is Lock, calling waiting (when not nil) once if another
// holds the lock, before it waits.
func LockWaiting(ctx context.Context, name string, waiting func()) (func(), error) {
	dir, err := lockDir()
	if err != nil {
		return nil, err
	}
	p := filepath.Join(dir, name+".lock")
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the lock %s: %w", p, err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK {
			f.Close()
			return nil, fmt.Errorf("taking the lock %s: %w", p, err)
		}
		if waiting != nil {
			waiting()
			waiting = nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// lockDir is a directory of this user's own for the locks: safe-install/
// in the runtime directory, or in the user's cache directory when there
// is none. Never the shared /tmp, where another user could make the file
// first and hold the lock, or refuse it, and so stop every run.
func lockDir() (string, error) {
	base := os.Getenv("XDG_RUNTIME_DIR")
	if base == "" {
		var err error
		if base, err = os.UserCacheDir(); err != nil {
			return "", fmt.Errorf("no runtime or cache directory for safe-install's locks: %w", err)
		}
	}
	dir := filepath.Join(base, "safe-install")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", fmt.Errorf("making the directory of safe-install's locks: %w", err)
	}
	return dir, nil
}
