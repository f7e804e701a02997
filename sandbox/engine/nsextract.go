package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// Podman's archive endpoint starts its copier anew for every call (about
// 40 ms here) and then takes about 0.2 ms per entry: the 527 manifests of
// the bench project's one-package install took 115 ms and the fetch config
// 40 ms more. A local engine's running container can be written the way
// Podman itself would: as root of the container's user namespace, inside
// its mount namespace. nsenter enters both (the rootless user owns that user
// namespace) and the image's own tar extracts the stream: 3 ms for the
// same manifests (measured).

// ErrNoNsenter: this machine has no nsenter (util-linux), so the archive
// endpoint is the way in.
var ErrNoNsenter = errors.New("no nsenter on this machine")

// ExtractInto extracts a tar stream at dir inside a running container of a
// local engine, with the container's own tar run as root of its user
// namespace in its mount (and network and IPC) namespace, so entries keep
// the owners and modes their headers give. The namespaces are the container init's, opened while
// a pidfd showed it alive (as ContainerDir does), and passed to nsenter as
// file descriptors: a recycled pid cannot stand in.
//
// It is for trees no third-party code has written: the tar runs with the
// namespace's capabilities and no seccomp profile, and would follow a
// symlink a script had put in the tree. The caller bounds it with ctx.
func (p *Podman) ExtractInto(ctx context.Context, id, dir string, tar io.Reader) error {
	nsenter, err := systemNsenter()
	if err != nil {
		return err
	}
	pidfd, pid, err := p.openInit(ctx, id)
	if err != nil {
		return err
	}
	defer unix.Close(pidfd)
	var ns []*os.File
	defer func() {
		for _, f := range ns {
			f.Close()
		}
	}()
	// The holder's network and IPC namespaces too: the image's tar then
	// has only the holder's lo, not the host's network (its loopback
	// services, abstract sockets). Its pid namespace cannot be entered
	// without a fork, and tar stays a host process (out of every
	// container's sight: sandbox/extractreach_e2e_test.go).
	for _, kind := range []string{"user", "mnt", "net", "ipc"} {
		f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/ns/" + kind)
		if err != nil {
			return err
		}
		ns = append(ns, f)
	}
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return fmt.Errorf("the container's init ended while its namespaces were opened: %w", err)
	}
	// ExtraFiles are fds 3 to 6 in nsenter. In the container's mount
	// namespace, root and working directory are the container's, and tar
	// is the image's.
	cmd := exec.CommandContext(ctx, nsenter, "--user=/proc/self/fd/3", "--mount=/proc/self/fd/4",
		"--net=/proc/self/fd/5", "--ipc=/proc/self/fd/6", "--",
		"tar", "-x", "--no-overwrite-dir", "-C", dir, "-f", "-")
	cmd.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C"}
	cmd.Dir = "/"
	cmd.ExtraFiles = ns
	cmd.Stdin = tar
	var stderr tailWriter
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err = startAlone(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return fmt.Errorf("extracting into %s:%s: %w: %s", id[:min(12, len(id))], dir, err, escape.Text(strings.TrimSpace(string(stderr.buf))))
	}
	return nil
}

// nsenterDirs are where nsenter is looked for: the system's directories,
// never PATH. The caller's PATH can start with a directory that packages
// write: an activated virtual environment's bin (a wheel's console script
// named nsenter ran on the host, as the user, at the next run: corpus
// ATK-9), or node_modules/.bin under npm run and npx.
var nsenterDirs = []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"}

// systemNsenter is the first executable nsenter in nsenterDirs.
func systemNsenter() (string, error) {
	for _, d := range nsenterDirs {
		p := filepath.Join(d, "nsenter")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w in %s", ErrNoNsenter, strings.Join(nsenterDirs, ", "))
}

// startAlone starts cmd with every fd above stderr that this process
// inherited without close-on-exec (a shell's, a CI runner's: under the e2e
// harness a pipe and /dev/null, measured) marked so, and then unmarks
// them: else they would go with tar into the holder's namespaces. Go opens
// its own fds close-on-exec, and an os/exec child gets the ones it is
// given (dup'ed in the child); the user's own command after the install
// (runHostAfter) still inherits them.
func startAlone(cmd *exec.Cmd) error {
	var marked []int
	ents, _ := os.ReadDir("/proc/self/fd")
	for _, e := range ents {
		fd, err := strconv.Atoi(e.Name())
		if err != nil || fd <= 2 {
			continue
		}
		if flags, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0); err == nil && flags&unix.FD_CLOEXEC == 0 {
			if _, err := unix.FcntlInt(uintptr(fd), unix.F_SETFD, unix.FD_CLOEXEC); err == nil {
				marked = append(marked, fd)
			}
		}
	}
	err := cmd.Start()
	for _, fd := range marked {
		unix.FcntlInt(uintptr(fd), unix.F_SETFD, 0)
	}
	return err
}

// tailWriter keeps the last 4 KiB written to it: tar's complaint, bounded.
type tailWriter struct{ buf []byte }

func (t *tailWriter) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - 4<<10; over > 0 {
		t.buf = t.buf[over:]
	}
	return len(p), nil
}
