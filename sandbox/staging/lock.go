package staging

import (
	"context"
	"fmt"
	"os"
	"syscall"

	"github.com/safe-install/safe-install/sandbox/internal/hostlock"
)

// Lock serializes this user's runs in one project, from before the plan
// reads it to after the swap: two runs at once (make -j, an editor's
// plugin, two terminals) each planned from the project as it was, and the
// later swap undid the earlier one's install (its --save, its package)
// with both exiting 0, or an incremental run was refused for the other's
// swap. The lock is the project directory's device and inode, so every
// path to it is the same lock, in the user's own lock directory (never
// the project, which may be someone else's checkout, nor the shared
// /tmp); the kernel lets it go when its holder dies. waiting is called
// once when another run holds it, before this one waits (until ctx ends).
func Lock(ctx context.Context, project string, waiting func()) (unlock func(), err error) {
	fi, err := os.Stat(project)
	if err != nil {
		return nil, fmt.Errorf("locking the project: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || !fi.IsDir() {
		return nil, fmt.Errorf("locking the project: %s is not a directory", project)
	}
	return hostlock.LockWaiting(ctx, fmt.Sprintf("project-%d-%d", st.Dev, st.Ino), waiting)
}
