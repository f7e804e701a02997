package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
	"go.uber.org/zap"
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
			return nil, nil, fmt.Errorf("connecting to Podman at %s: %w: %w", redactURL(uri), ErrEngine, err)
		}
		return &Podman{conn: conn, host: redactURL(uri), local: strings.HasPrefix(uri, "unix:")}, func() {}, nil
	}
	runtime := os.Getenv("XDG_RUNTIME_DIR")
	if runtime == "" {
		runtime = filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	}
	def := "unix://" + filepath.Join(runtime, "podman", "podman.sock")
	if conn, err := bindings.NewConnection(ctx, def); err == nil {
		return &Podman{conn: conn, host: "local", local: true}, func() {}, nil
	}
	log.Debug("no Podman service answers; starting one for this run", zap.String("tried", def))
	return startService(ctx, log)
}

// startService runs `podman system service` on a socket in a private
// directory and connects to it.
func startService(ctx context.Context, log *zap.Logger) (*Podman, func(), error) {
	if _, err := exec.LookPath("podman"); err != nil {
		return nil, nil, fmt.Errorf("%w: podman is not installed (Debian/Ubuntu: sudo images/host-setup.sh $USER)", ErrEngine)
	}
	dir, err := os.MkdirTemp("", "safe-install-podman-")
	if err != nil {
		return nil, nil, fmt.Errorf("starting Podman's service: %w", err)
	}
	sock := "unix://" + filepath.Join(dir, "podman.sock")
	cmd := exec.Command("podman", "system", "service", "--time=0", sock)
	out, _ := os.Create(filepath.Join(dir, "service.log"))
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, nil, fmt.Errorf("%w: starting podman system service: %w", ErrEngine, err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		out.Close()
		os.RemoveAll(dir)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		conn, err := bindings.NewConnection(ctx, sock)
		if err == nil {
			return &Podman{conn: conn, host: "local", local: true}, stop, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			logs, _ := os.ReadFile(filepath.Join(dir, "service.log"))
			stop()
			return nil, nil, fmt.Errorf("%w: podman system service did not answer: %w\n%s", ErrEngine, errors.Join(err, ctx.Err()), logs)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
