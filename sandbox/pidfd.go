package sandbox

import (
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
// engine runs on this machine. It is kept only if the container still runs
// with that pid after it was opened, so it cannot name a stranger.
func (p *Podman) pinInit(ctx context.Context, id string) {
	if p.host != "local" {
		return
	}
	pid := func() int {
		data, err := containers.Inspect(p.ctx(ctx), id, nil)
		if err != nil || data.State == nil || !data.State.Running {
			return 0
		}
		return data.State.Pid
	}
	before := pid()
	if before <= 0 {
		return
	}
	fd, err := unix.PidfdOpen(before, 0)
	if err != nil {
		return
	}
	ns, err := os.Readlink("/proc/" + strconv.Itoa(before) + "/ns/pid")
	if err != nil || pid() != before {
		unix.Close(fd)
		return
	}
	if _, loaded := p.pidfds.LoadOrStore(id, pinned{init: fd, pidns: ns}); loaded {
		unix.Close(fd)
	}
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
// mount namespaces). It returns a path on this machine that stays valid
// until done is called: /proc/self/fd/N of a directory fd opened while a
// pidfd showed the process alive, so a recycled pid cannot stand in.
func (p *Podman) ContainerDir(ctx context.Context, id, dir string) (path string, done func(), err error) {
	if p.host != "local" {
		return "", nil, errors.New("not a local engine")
	}
	data, err := containers.Inspect(p.ctx(ctx), id, nil)
	if err != nil {
		return "", nil, err
	}
	if data.State == nil || !data.State.Running || data.State.Pid <= 0 {
		return "", nil, errors.New("the container does not run")
	}
	pidfd, err := unix.PidfdOpen(data.State.Pid, 0)
	if err != nil {
		return "", nil, err
	}
	defer unix.Close(pidfd)
	fd, err := unix.Open(fmt.Sprintf("/proc/%d/root%s", data.State.Pid, dir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", nil, err
	}
	// The pidfd's process is alive now, and the container still runs with
	// that pid: then the pid was the container's all along, and the fd
	// was opened in its root.
	again, err := containers.Inspect(p.ctx(ctx), id, nil)
	if err := errors.Join(err, unix.PidfdSendSignal(pidfd, 0, nil, 0)); err != nil ||
		again.State == nil || !again.State.Running || again.State.Pid != data.State.Pid {
		unix.Close(fd)
		return "", nil, fmt.Errorf("the container's init changed while its directory was opened: %v", err)
	}
	return fmt.Sprintf("/proc/self/fd/%d", fd), func() { unix.Close(fd) }, nil
}
