package staging

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/safe-install/safe-install/sandbox/internal/faultpoint"
)

// Swap moves each staged path (relative name -> staged host path) into the
// project. An existing target is exchanged with its staged replacement in one
// renameat2(RENAME_EXCHANGE) call, so a reader sees the old tree or the new
// one, never a half; the old one ends up at the staged path, for the caller
// to delete. If any step fails, the steps already taken are exchanged back
// and the project is as it was.
func Swap(project string, names []string, staged map[string]string) error {
	var done []string
	undo := func() {
		for i := len(done) - 1; i >= 0; i-- {
			n := done[i]
			_ = exchangeOrMove(staged[n], filepath.Join(project, n))
		}
	}
	for _, n := range names {
		if err := exchangeOrMove(filepath.Join(project, n), staged[n]); err != nil {
			undo()
			return fmt.Errorf("swapping %s into %s: %w", n, project, err)
		}
		done = append(done, n)
		if len(done) < len(names) {
			faultpoint.At(faultpoint.Swap) // half swapped: what Recover undoes
		}
	}
	return nil
}

// exchangeOrMove makes the content of src appear at dst. When dst exists the
// two are exchanged atomically (the old dst is left at src); otherwise src is
// renamed to dst. Undoing a move that created dst is the same call reversed.
func exchangeOrMove(dst, src string) error {
	err := unix.Renameat2(unix.AT_FDCWD, src, unix.AT_FDCWD, dst, unix.RENAME_EXCHANGE)
	if err == nil {
		return nil
	}
	if errors.Is(err, unix.ENOENT) {
		return os.Rename(src, dst)
	}
	return err
}
