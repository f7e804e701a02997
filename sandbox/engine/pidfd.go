package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

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
	exits int    // O_PATH fd on its conmon's exit directory (Exited); -1: none
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
	exits := -1
	if status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status"); err == nil && nsInit(status) {
		exits = openExitDir(pid, id)
	}
	pin := pinned{init: fd, pidns: ns, exits: exits}
	if _, loaded := p.pidfds.LoadOrStore(id, pin); loaded {
		pin.close()
	}
}

func (pin pinned) close() {
	unix.Close(pin.init)
	if pin.exits >= 0 {
		unix.Close(pin.exits)
	}
}

// nsInit says whether a /proc/PID/status is that of the init of a pid
// namespace below this machine's (NSpid: ... 1): only such an init's end
// ends every process of its container, which Exited takes it for. A
// container in the host's pid namespace (containers.conf's pidns, were the
// spec to leave it) or in another's leaves its processes running.
func nsInit(status []byte) bool {
	_, rest, ok := bytes.Cut(status, []byte("\nNSpid:\t"))
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	f := strings.Fields(string(line))
	return ok && len(f) > 1 && f[len(f)-1] == "1"
}

// openExitDir opens the directory where the conmon of the container whose
// init is pid writes the container's exit code (its --exit-dir, a file
// named by the id), as conmon sees it (/proc/CONMON/root: the engine may
// run in another mount namespace), or -1. The rootless user's conmon
// writes it there, out of every container's reach. The command line is
// read again after the open: the fd is that conmon's directory.
func openExitDir(pid int, id string) int {
	status, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return -1
	}
	_, rest, _ := bytes.Cut(status, []byte("\nPPid:\t"))
	ppid, _, _ := bytes.Cut(rest, []byte("\n"))
	conmon, err := strconv.Atoi(string(ppid))
	if err != nil || conmon <= 1 {
		return -1
	}
	dir := conmonExitDir(conmon, id)
	if dir == "" {
		return -1
	}
	fd, err := unix.Open("/proc/"+strconv.Itoa(conmon)+"/root"+dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	if conmonExitDir(conmon, id) != dir {
		unix.Close(fd)
		return -1
	}
	return fd
}

// conmonExitDir is the --exit-dir of process conmon when its command line
// names the container (conmon -c ID), else "".
func conmonExitDir(conmon int, id string) string {
	cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(conmon) + "/cmdline")
	if err != nil {
		return ""
	}
	return exitDirArg(cmdline, id)
}

// exitDirArg is conmonExitDir's reading of a command line: a clean
// absolute path, or "".
func exitDirArg(cmdline []byte, id string) string {
	if len(id) < 64 || !bytes.Contains(cmdline, []byte("\x00-c\x00"+id+"\x00")) {
		return ""
	}
	args := strings.Split(string(cmdline), "\x00")
	for i, a := range args[:len(args)-1] {
		if d := args[i+1]; a == "--exit-dir" && path.IsAbs(d) && path.Clean(d) == d {
			return d
		}
	}
	return ""
}

// Exited: see Engine. The kernel ends every process of a pid namespace
// before its init counts as exited, so a pidfd on the init that polls
// readable means the container's processes are gone; conmon writes the
// exit code a moment later (then Podman's clean-up starts a podman
// process that unmounts and records the exit, which Wait waits for:
// 60-130 ms more here, measured).
func (p *Podman) Exited(_ context.Context, id string) (int, bool) {
	v, ok := p.pidfds.Load(id)
	if !ok || v.(pinned).exits < 0 {
		return 0, false
	}
	pin := v.(pinned)
	fds := []unix.PollFd{{Fd: int32(pin.init), Events: unix.POLLIN}}
	if n, err := unix.Poll(fds, 0); err != nil || n != 1 {
		return 0, false
	}
	return readExitFile(pin.exits, id)
}

// readExitFile reads conmon's record of a container's exit: a number.
func readExitFile(dir int, id string) (int, bool) {
	fd, err := unix.Openat(dir, id, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, false
	}
	defer unix.Close(fd)
	buf := make([]byte, 32)
	n, err := unix.Read(fd, buf)
	if err != nil || n <= 0 {
		return 0, false // conmon writes the file whole (a rename), so a short one is not it
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(buf[:n])))
	return code, err == nil
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
		v.(pinned).close()
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
