package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/containers/podman/v5/pkg/bindings/containers"
	"golang.org/x/sys/unix"
)

// A local engine's containers can be killed without the API: the rootless
// user owns the containers' user namespace, so it may signal their
// processes. The API's kill takes a few hundred milliseconds, and even a
// SIGKILL to the container's init takes tens of milliseconds to reach its
// grandchildren; a disk-filling script writes into the page cache at
// about 3 GB/s here, so that was 700 MB, then 100 MB, past the disk
// guard's limit (measured). Kill therefore first signals every process in
// the container's pid namespace itself, through pidfds, which name one
// process and never a later one with the same number.

// pinned is what pinInit learned about a running container.
type pinned struct {
	init  int    // pidfd on the init process
	pidns string // the init's pid namespace, as readlink shows it
}

// pinInit opens a pidfd on a started container's init process, when the
// engine's processes are this machine's (see openInit).
func (p *Podman) pinInit(ctx context.Context, id string) {
	fd, pid, err := p.openInit(ctx, id)
	if err != nil {
		return
	}
	ns, err := os.Readlink("/proc/" + strconv.Itoa(pid) + "/ns/pid")
	if err != nil || unix.PidfdSendSignal(fd, 0, nil, 0) != nil {
		unix.Close(fd)
		return
	}
	if _, loaded := p.pidfds.LoadOrStore(id, pinned{init: fd, pidns: ns}); loaded {
		unix.Close(fd)
	}
}

// errNotLocal: the engine's processes are not this machine's to see.
var errNotLocal = errors.New("not a local engine")

// openInit opens a pidfd on a running container's init, by the pid the
// engine reports, once this machine's process of that number is shown to
// be it: its parent is the container's conmon, whose command line names
// the container. An engine behind a unix socket usually runs here; even
// one in another mount namespace (like CI's Podman 5 after pivot_root) has
// its processes numbered as this machine numbers them. One in another pid
// namespace (Podman in a container whose socket is shared out) numbers
// them its own way, and the same number here is a stranger's: then this
// fails, and callers use the API instead (its kill, its archive endpoint).
// The check is read after the pidfd is open and the pidfd still names a
// live process afterwards, so a recycled pid cannot stand in.
func (p *Podman) openInit(ctx context.Context, id string) (fd, pid int, err error) {
	if !p.local {
		return -1, 0, errNotLocal
	}
	data, err := containers.Inspect(p.ctx(ctx), id, nil)
	if err != nil {
		return -1, 0, err
	}
	if data.State == nil || !data.State.Running || data.State.Pid <= 0 {
		return -1, 0, errors.New("the container does not run")
	}
	pid = data.State.Pid
	if fd, err = unix.PidfdOpen(pid, 0); err != nil {
		return -1, 0, err
	}
	if !isInit(pid, data.State.ConmonPid, data.ID) || unix.PidfdSendSignal(fd, 0, nil, 0) != nil {
		unix.Close(fd)
		return -1, 0, fmt.Errorf("%w: process %d here is not the container's", errNotLocal, pid)
	}
	return fd, pid, nil
}

// isInit says whether this machine's process pid is the child of conmon
// and conmon's command line names the container id (conmon -c ID).
func isInit(pid, conmon int, id string) bool {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil || conmon <= 0 || len(id) < 64 {
		return false
	}
	if !bytes.Contains(status, []byte("\nPPid:\t"+strconv.Itoa(conmon)+"\n")) {
		return false
	}
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(conmon) + "/cmdline")
	return err == nil && bytes.Contains(cmdline, []byte("\x00-c\x00"+id+"\x00"))
}

// killAll sends SIGKILL to every process of a pinned container: its init,
// and each process in its pid namespace. False if none is pinned.
func (p *Podman) killAll(id string) bool {
	v, ok := p.pidfds.Load(id)
	if !ok {
		return false
	}
	pin := v.(pinned)
	unix.PidfdSendSignal(pin.init, unix.SIGKILL, nil, 0)
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		fd, err := unix.PidfdOpen(pid, 0)
		if err != nil {
			continue
		}
		// Read after the pidfd is open: if the namespace matches, the
		// process the fd names is still the one in the container.
		if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err == nil && ns == pin.pidns {
			unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
		}
		unix.Close(fd)
	}
	return true
}

// unpin closes a container's pidfd.
func (p *Podman) unpin(id string) {
	if v, ok := p.pidfds.LoadAndDelete(id); ok {
		unix.Close(v.(pinned).init)
	}
}

// ContainerDir opens, for a local engine, a directory of a running
// container as that container sees it, through its init process's root
// (/proc/PID/root: the rootless user may look into its own containers'
// mount namespaces, whichever mount namespace the engine itself runs in).
// It returns a path on this machine that stays valid until done is
// called: /proc/self/fd/N of a directory fd opened while a pidfd showed
// the process, checked to be the container's init (openInit), alive.
func (p *Podman) ContainerDir(ctx context.Context, id, dir string) (path string, done func(), err error) {
	pidfd, pid, err := p.openInit(ctx, id)
	if err != nil {
		return "", nil, err
	}
	defer unix.Close(pidfd)
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/root%s", pid, dir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	// Still alive: the pid was the container's init's all along, and the
	// fd was opened in its root.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		unix.Close(fd)
		return "", nil, fmt.Errorf("the container's init ended while its directory was opened: %w", err)
	}
	return fmt.Sprintf("/proc/self/fd/%d", fd), func() { unix.Close(fd) }, nil
}
