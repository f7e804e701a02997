package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
	"go.uber.org/zap"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// Connect reaches Podman's API: the remote's connection when given (a URL
// or the name of a Podman connection), else CONTAINER_HOST, else the
// rootless user's socket under XDG_RUNTIME_DIR. When nothing answers on the
// local default, it starts `podman system service` on a private socket for
// this run; the returned stop function ends it. It refuses to run as root.
// An ssh host must already be in ~/.ssh/known_hosts with the key it shows.
func Connect(ctx context.Context, to Remote, log *zap.Logger) (*Podman, func(), error) {
	if log == nil {
		log = zap.NewNop()
	}
	if os.Geteuid() == 0 {
		return nil, nil, ErrRootful
	}
	if to.Connection == "" {
		to.Connection = os.Getenv("CONTAINER_HOST")
	}
	if to.Identity == "" {
		to.Identity = os.Getenv("CONTAINER_SSHKEY")
	}
	if to.Connection != "" {
		uri, identity, err := to.resolve()
		if err != nil {
			return nil, nil, err
		}
		if err := to.verifyHostKey(uri); err != nil {
			return nil, nil, err
		}
		conn, err := bindings.NewConnectionWithIdentity(ctx, uri, identity, false)
		if err != nil {
			return nil, nil, fmt.Errorf("connecting to Podman at %s: %w: %w", escape.RedactedURL(uri), ErrUnavailable, err)
		}
		p := &Podman{conn: conn, host: escape.RedactedURL(uri), local: strings.HasPrefix(uri, "unix:")}
		if p.local {
			return p, func() {}, nil
		}
		lost, stop := watch(conn, log)
		p.lost = lost
		return p, stop, nil
	}
	runtime := os.Getenv("XDG_RUNTIME_DIR")
	if runtime == "" {
		runtime = filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	}
	sockPath := filepath.Join(runtime, "podman", "podman.sock")
	def := "unix://" + sockPath
	// The bindings retry a refused request three times, 0.6 s of sleeps:
	// a socket that takes no connection is passed over without them.
	if accepts(sockPath) {
		if conn, err := bindings.NewConnection(ctx, def); err == nil {
			// The user's own service reads the user's files, not this
			// process's CONTAINERS_CONF (a systemd unit's environment);
			// with a CONTAINERS_CONF that leaves the entry out, a service
			// of this run's own is started with it instead.
			next := "The running Podman service " + sockPath + " reads it: remove that entry, or run safe-install with " + privateNext
			err := errors.Join(checkContainersConf(containersConfFiles(false), next), checkMountsConf(next))
			if err == nil {
				return &Podman{conn: conn, host: "local", local: true}, func() {}, nil
			}
			if os.Getenv("CONTAINERS_CONF") == "" {
				return nil, nil, err
			}
			log.Debug("the user's Podman service takes containers.conf entries no sandbox may have; starting one for this run", zap.Error(err))
		}
	}
	log.Debug("no Podman service answers; starting one for this run", zap.String("tried", def))
	if err := checkContainersConf(containersConfFiles(true), "Remove that entry, or run safe-install with "+privateNext); err != nil {
		return nil, nil, err
	}
	return startService(ctx, log)
}

// privateNext ends the advice of an ErrEngineConfig on a local engine.
const privateNext = "CONTAINERS_CONF naming a file without it (the settings a run needs, such as [engine] runtime " +
	"or cgroup_manager, copied in): safe-install then starts a Podman service of its own with that file."

// serviceIdle is how long a private service waits for a request before it
// ends: short enough that a killed run's service does not linger. A live
// run can pause longer than that between calls (an image build is host-side
// work: mmdebstrap took 92 s, and the import then found no socket), so
// the run pings it every keepAliveEvery while it lives.
const (
	serviceIdle    = 60 * time.Second
	keepAliveEvery = serviceIdle / 4
)

// startService runs `podman system service` on a socket in a private
// directory and connects to it.
func startService(ctx context.Context, log *zap.Logger) (*Podman, func(), error) {
	bin, err := LookHost("podman")
	if err != nil {
		return nil, nil, fmt.Errorf("%w: podman is not installed (Debian/Ubuntu: sudo images/host-setup.sh $USER)", ErrUnavailable)
	}
	dir, err := os.MkdirTemp("", "safe-install-podman-")
	if err != nil {
		return nil, nil, fmt.Errorf("starting Podman's service: %w", err)
	}
	sockPath := filepath.Join(dir, "podman.sock")
	sock := "unix://" + sockPath
	// An idle timeout, so that a service whose safe-install was killed
	// ends by itself (--time=0 ran 40 minutes past such a run), and a
	// process group of its own: rootless Podman re-executes itself in a
	// user namespace, and stop must end that process too.
	//
	// Its OCI hooks come from an empty directory: the hooks of
	// containers.conf's hooks_dir (and the default hooks.d directories,
	// where e.g. a GPU toolkit installs one that mounts host libraries and
	// devices into containers) run on the host at every container's start,
	// and change the container as they please (measured: a hooks_dir hook
	// ran for every sandbox container).
	// Its mounts.conf is an empty file: the first of the user's
	// ~/.config/containers/mounts.conf, /etc/containers/mounts.conf and
	// /usr/share/containers/mounts.conf copies the host directories it
	// names into every container (measured; RHEL's names its entitlement
	// secrets).
	hooks, mounts := filepath.Join(dir, "hooks"), filepath.Join(dir, "mounts.conf")
	if err := errors.Join(os.Mkdir(hooks, 0o700), os.WriteFile(mounts, nil, 0o600)); err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("starting Podman's service: %w", err)
	}
	cmd := exec.Command(bin, "--hooks-dir", hooks, "--default-mounts-file", mounts,
		"system", "service", "--time="+strconv.Itoa(int(serviceIdle.Seconds())), sock)
	cmd.Env = append(os.Environ(), "PATH="+HostPATH()) // the last PATH counts
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	out, _ := os.Create(filepath.Join(dir, "service.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("%w: starting podman system service: %w", ErrUnavailable, err)
	}
	alive := make(chan struct{})
	stop := func() {
		close(alive)
		// TERM lets podman end the process it re-executed; KILL the
		// whole group if it has not gone in a few seconds.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		out.Close()
		os.RemoveAll(dir)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		// Poll the socket itself, often: each failed attempt through the
		// bindings sleeps 0.6 s in their retries, and the service
		// answers about 0.3 s after it starts.
		err := errNotYet
		if accepts(sockPath) {
			var conn context.Context
			if conn, err = bindings.NewConnection(ctx, sock); err == nil {
				go ping(conn, alive, nil, log)
				return &Podman{conn: conn, host: "local", local: true, private: true}, stop, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			logs, _ := os.ReadFile(filepath.Join(dir, "service.log"))
			stop()
			return nil, nil, fmt.Errorf("%w: podman system service did not answer: %w\n%s", ErrUnavailable, errors.Join(err, ctx.Err()), logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

var errNotYet = errors.New("its socket takes no connection yet")

// accepts says whether something listens on the unix socket at path.
func accepts(path string) bool {
	c, err := net.DialTimeout("unix", path, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
