package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containers/podman/v5/libpod/define"
	"github.com/containers/podman/v5/pkg/bindings/containers"
	"github.com/containers/podman/v5/pkg/bindings/images"
	"github.com/containers/podman/v5/pkg/bindings/system"
	"github.com/containers/podman/v5/pkg/bindings/volumes"
	entities "github.com/containers/podman/v5/pkg/domain/entities/types"
	"github.com/containers/podman/v5/pkg/errorhandling"
	"github.com/containers/podman/v5/pkg/specgen"
	spec "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Podman is the Engine on Podman's API through pkg/bindings. Its context
// carries the connection (see Connect).
type Podman struct {
	conn context.Context
	host string
	// local: the engine is reached through a unix socket, so it likely
	// runs on this machine (pidfd.go checks before relying on it).
	local bool
	// statfsPaths caches, per volume, its mountpoint when this machine can
	// statfs it (a local engine of this user), or "" when it cannot.
	statfsPaths sync.Map
	// pidfds holds, per running container of a local engine, a pidfd on
	// its init process (see pinInit).
	pidfds sync.Map
	// private: the service is this run's own (startService), which runs
	// with this process's user, environment and files: its info is
	// recorded (infocache.go). Any other service may have been started
	// with another environment and restarted since (a test engine that came
	// back with other subordinate ids, seen in CI), and is asked.
	private bool
	// lost ends when the watch of a network connection gave it up (watch.go).
	lost context.Context
	// unrecorded is the local engine's info not yet recorded (infocache.go).
	unrecorded atomic.Pointer[pendingInfo]
	// imageEnvs caches, per image reference, the image's environment
	// (imageEnv), until the reference is imported or removed again.
	imageEnvs sync.Map
	// checks holds, per container created behind the mount check, its
	// role and nonce (mountCheck), until it is removed.
	checks sync.Map
	// noMountCheck leaves the mount check out: only the e2e tests' positive
	// control sets it (an unexported field, no flag or environment).
	noMountCheck bool
}

// conn joins the caller's cancellation to the connection's values, and,
// for a watched connection, to its loss. (Each call leaves a small
// registration on lost, kept until lost ends or the process does: a few
// hundred bytes a call, and a run makes hundreds of calls, a long remote
// one a call a second for the disk guard.)
func (p *Podman) ctx(ctx context.Context) context.Context {
	if p.lost != nil {
		withLoss, cancel := context.WithCancelCause(ctx)
		context.AfterFunc(p.lost, func() { cancel(context.Cause(p.lost)) })
		ctx = withLoss
	}
	return connCtx{Context: ctx, conn: p.conn}
}

// connCtx looks values up in the connection context and everything else,
// cancellation included, in the caller's.
type connCtx struct {
	context.Context
	conn context.Context
}

func (c connCtx) Value(key any) any {
	if v := c.conn.Value(key); v != nil {
		return v
	}
	return c.Context.Value(key)
}

// LabelRun marks every object a run creates, so leftovers can be found.
const LabelRun = "io.safe-install.run"

// Info is a local engine's recorded info while what it follows from
// stands (infocache.go), else Podman's answer.
func (p *Podman) Info(ctx context.Context) (EngineInfo, error) {
	if p.local {
		return p.cachedInfo(ctx, p.askInfo)
	}
	return p.askInfo(ctx)
}

func (p *Podman) askInfo(ctx context.Context) (EngineInfo, error) {
	info, err := system.Info(p.ctx(ctx), nil)
	if err != nil {
		return EngineInfo{}, fmt.Errorf("asking Podman for its info: %w", err)
	}
	return EngineInfo{
		Version:  info.Version.Version,
		Rootless: info.Host.Security.Rootless,
		Host:     p.host,
		OS:       info.Host.OS,
		Arch:     info.Host.Arch,
		Cgroups:  info.Host.CgroupsVersion,
		Runtime:  info.Host.OCIRuntime.Name,
		Storage:  info.Store.GraphDriverName,
		IDMap:    idMapping(info.Host.IDMappings),
	}, nil
}

func (p *Podman) ImageExists(ctx context.Context, ref string) (bool, error) {
	return images.Exists(p.ctx(ctx), ref, nil)
}

func (p *Podman) ImportImage(ctx context.Context, ref string, rootfs io.Reader, changes []string) (string, error) {
	p.imageEnvs.Delete(ref)
	rep, err := images.Import(p.ctx(ctx), rootfs, new(images.ImportOptions).WithReference(ref).WithChanges(changes))
	if err != nil {
		return "", fmt.Errorf("importing image %s: %w", ref, err)
	}
	return rep.Id, nil
}

func (p *Podman) RemoveImage(ctx context.Context, ref string) error {
	p.imageEnvs.Delete(ref)
	_, errs := images.Remove(p.ctx(ctx), []string{ref}, nil)
	return errors.Join(errs...)
}

// Every volume safe-install creates is given its owner: uid= and gid= in
// its options, which also tell Podman never to chown it
// (WithVolumeNoChown, the same in 4.3 and 5.x). Without them Podman chowns
// a new volume, on its first mounts, to the owner its mountpoint has in the
// image as the engine's user namespace shows that owner now. An image
// imported under other subordinate ids (the engine's mapping changed: an
// edited /etc/subuid, a service restarted with other ranges) shows its
// /work and /cache as nobody's (65534), and every run then failed in the
// fetch with EACCES on /work/node_modules and /cache/npm/_logs until the
// image was imported again (issue 16, seen on Podman 5.4.2 after a
// restart; 4.3 chowns the same way). Podman 5 also repeats that chown at
// every mount while the volume is empty (its NeedsChown stays set until a
// copy-up), where 4.3 chowns at the first mount only.
func ownerOptions(uid int) string { return fmt.Sprintf("uid=%d,gid=%d", uid, uid) }

// idMapping writes a user namespace mapping: the uid ranges, "/", the gid
// ranges, each as container:host:size.
func idMapping(m define.IDMappings) string {
	var b strings.Builder
	for _, r := range m.UIDMap {
		fmt.Fprintf(&b, "%d:%d:%d ", r.ContainerID, r.HostID, r.Size)
	}
	b.WriteString("/")
	for _, r := range m.GIDMap {
		fmt.Fprintf(&b, " %d:%d:%d", r.ContainerID, r.HostID, r.Size)
	}
	return b.String()
}

// CreateVolume makes a labelled volume with its owner in its options (see
// ownerOptions). A Root one goes to root of the engine's namespace, the
// engine's own user, which every ID mapping maps: Podman itself reads the
// seccomp profiles in it, and a volume directory (0700, its owner's) of an
// id the engine no longer maps would be closed to it.
func (p *Podman) CreateVolume(ctx context.Context, v VolumeSpec) error {
	// Podman 4.3 ignores IgnoreIfExists (500 "volume already exists"; 5.x
	// honours it); ask first.
	if ok, err := volumes.Exists(p.ctx(ctx), v.Name, nil); err == nil && ok {
		return nil
	}
	uid := SandboxUID
	if v.Root {
		uid = 0
	}
	o := []string{ownerOptions(uid)}
	opts := map[string]string{}
	if v.Memory {
		opts["type"], opts["device"] = "tmpfs", "tmpfs"
		// The tmpfs is mounted with these options too; mode=, as a tmpfs
		// root is 1777 unless told and Podman no longer chmods it to the
		// image's.
		o = append(o, "mode=0755")
		if v.MaxBytes > 0 {
			// Podman 4.3 refuses size= for a rootless volume; nr_blocks is
			// the same bound in pages.
			o = append(o, fmt.Sprintf("nr_blocks=%d", (v.MaxBytes+4095)/4096))
		}
		if v.MaxFiles > 0 {
			o = append(o, fmt.Sprintf("nr_inodes=%d", v.MaxFiles))
		}
	}
	opts["o"] = strings.Join(o, ",")
	labels := maps.Clone(v.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	_, err := volumes.Create(p.ctx(ctx), entities.VolumeCreateOptions{
		Name:           v.Name,
		Options:        opts,
		Labels:         labels,
		IgnoreIfExists: true,
	}, nil)
	if err != nil && v.Shared && strings.Contains(err.Error(), "already exists") {
		// Another run made it between the check above and this call
		// (4.3 again, ignoring IgnoreIfExists): seen with first runs at once.
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating volume %s: %w", v.Name, err)
	}
	return nil
}

// Leftovers lists the containers and volumes that carry the run label.
func (p *Podman) Leftovers(ctx context.Context) ([]Leftover, error) {
	filter := map[string][]string{"label": {LabelRun}}
	cs, err := listing(func() ([]entities.ListContainer, error) {
		return containers.List(p.ctx(ctx), new(containers.ListOptions).WithAll(true).WithFilters(filter))
	})
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	var out []Leftover
	for _, c := range cs {
		name := c.ID
		if len(c.Names) > 0 {
			name = c.Names[0]
		}
		out = append(out, Leftover{Kind: "container", Name: name, Labels: c.Labels, Created: c.Created, Running: c.State == "running"})
	}
	vs, err := listing(func() ([]*entities.VolumeListReport, error) {
		return volumes.List(p.ctx(ctx), new(volumes.ListOptions).WithFilters(filter))
	})
	if err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	for _, v := range vs {
		out = append(out, Leftover{Kind: "volume", Name: v.Name, Labels: v.Labels, Created: v.CreatedAt})
	}
	return out, nil
}

// listing retries a list that failed on an object removed while Podman
// listed it (4.3.1 answers "no volume with name ... found" when another
// run's volume goes between its list and its inspect; seen in CI with
// runs side by side).
func listing[T any](list func() ([]T, error)) ([]T, error) {
	var err error
	for range 5 {
		var out []T
		if out, err = list(); err == nil || !goneMeanwhile(err) {
			return out, err
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil, err
}

func (p *Podman) VolumeExists(ctx context.Context, name string) (bool, error) {
	return volumes.Exists(p.ctx(ctx), name, nil)
}

func (p *Podman) VolumePath(ctx context.Context, name string) (string, error) {
	v, err := volumes.Inspect(p.ctx(ctx), name, nil)
	if err != nil {
		return "", fmt.Errorf("inspecting volume %s: %w", name, err)
	}
	return v.Mountpoint, nil
}

// DiskFree measures the filesystem under a volume: directly when the
// volume is on this machine and readable (statfs, with inodes), else
// through the engine's info (bytes only), as for a remote engine.
func (p *Podman) DiskFree(ctx context.Context, volume string) (DiskFree, error) {
	path, ok := p.statfsPaths.Load(volume)
	if !ok {
		path = ""
		// The volume's name is this run's own, so a volume directory that
		// exists here is on this machine (a service in another mount
		// namespace, like CI's Podman 5, has its paths elsewhere); the
		// socket check keeps ssh out anyway. What is measured is the
		// directory holding the volumes: the volume's own is 0700 and its
		// owner's, the sandbox user's subordinate id (see ownerOptions).
		if mp, err := p.VolumePath(ctx, volume); err == nil && p.local {
			dir := filepath.Dir(mp)
			if _, err := os.Lstat(dir); err == nil && filepath.Base(mp) == "_data" {
				if _, err := statfs(filepath.Dir(dir)); err == nil {
					path = filepath.Dir(dir)
				}
			}
		}
		p.statfsPaths.Store(volume, path)
	}
	if path != "" {
		return statfs(path.(string))
	}
	info, err := system.Info(p.ctx(ctx), nil)
	if err != nil {
		return DiskFree{}, fmt.Errorf("asking Podman for its disk space: %w", err)
	}
	if info.Store.GraphRootAllocated < info.Store.GraphRootUsed {
		return DiskFree{}, errors.New("podman reports more disk used than allocated")
	}
	return DiskFree{Bytes: info.Store.GraphRootAllocated - info.Store.GraphRootUsed}, nil
}

func statfs(path string) (DiskFree, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return DiskFree{}, err
	}
	return DiskFree{Bytes: st.Bavail * uint64(st.Bsize), Files: st.Ffree, FilesKnown: true, Cheap: true}, nil
}

// RemoveVolume does not force: forcing removes the containers that use the
// volume, and Podman 4.3 deadlocks (every later podman command hangs) when
// it does that to a tmpfs volume whose holder container runs (seen here).
// Cleanup removes the containers first; a volume still in use is left
// and reported instead.
func (p *Podman) RemoveVolume(ctx context.Context, name string) error {
	return volumes.Remove(p.ctx(ctx), name, nil)
}

func (p *Podman) Create(ctx context.Context, c ContainerSpec) (string, error) {
	s := specgen.NewSpecGenerator(c.Image, false)
	s.Name = c.Name
	s.Command = c.Command
	// containers.conf's env (the user's NPM_TOKEN=..., measured) joins
	// every container's environment server-side; only "unset all" keeps
	// it out, which drops the image's too, so that is named here.
	env, err := p.imageEnv(ctx, c.Image)
	if err != nil {
		return "", err
	}
	maps.Copy(env, c.Env)
	s.Env = env
	s.WorkDir = c.WorkDir
	s.User = c.User
	s.Labels = maps.Clone(c.Labels)
	if s.Labels == nil {
		s.Labels = map[string]string{}
	}
	if s.Labels[LabelRun] == "" {
		s.Labels[LabelRun] = "true" // every container of safe-install's can be found
	}
	f := false
	t := true
	s.EnvHost = &f
	s.UnsetEnvAll = &t
	// The rest of what containers.conf would otherwise decide for every
	// container, each measured reaching one (cconf_e2e_test.go): umask,
	// cgroupns, userns; privileged and init are defaults of Podman 5's
	// API handler.
	s.Umask = "0022"
	s.Privileged = &f
	s.Init = &f
	s.HTTPProxy = &f // the host's proxy variables can carry credentials (F4)
	s.Terminal = &f
	s.Stdin = &c.Stdin
	s.UseImageHosts = &t // no host.containers.internal entry
	s.CapDrop = c.CapDrop
	s.NoNewPrivileges = &c.NoNewPrivileges
	s.ReadOnlyFilesystem = &c.ReadOnlyRoot
	s.ReadWriteTmpfs = &f
	s.SeccompProfilePath = c.SeccompProfile
	if c.Network != "none" {
		return "", fmt.Errorf("network mode %q: sandbox containers have no network", c.Network)
	}
	s.NetNS = specgen.Namespace{NSMode: specgen.NoNetwork}
	// Named, not left to containers.conf: its pidns = "host" showed the
	// host's processes to the container (invariant 10) and let one outlive
	// its init, which Exited takes for every process ended (measured);
	// ipcns and utsns = "host" share the host's IPC objects and name.
	s.PidNS = specgen.Namespace{NSMode: specgen.Private}
	s.IpcNS = specgen.Namespace{NSMode: specgen.Private}
	s.UtsNS = specgen.Namespace{NSMode: specgen.Private}
	// cgroupns = "host" showed the host's cgroup tree (its other
	// processes' groups); userns = "keep-id" mapped the sandbox user onto
	// the host user. "host" is the rootless default: the engine's own.
	s.CgroupNS = specgen.Namespace{NSMode: specgen.Private}
	s.UserNS = specgen.Namespace{NSMode: specgen.Host}
	for _, v := range c.Volumes {
		opts := []string{"nodev", "nosuid"}
		if v.ReadOnly {
			opts = append(opts, "ro")
		}
		s.Volumes = append(s.Volumes, &specgen.NamedVolume{Name: v.Name, Dest: v.Dest, Options: opts})
	}
	for _, m := range c.Tmpfs {
		s.Mounts = append(s.Mounts, spec.Mount{
			Destination: m.Dest, Type: "tmpfs", Source: "tmpfs",
			Options: strings.Split(m.Options, ","),
		})
	}
	for _, r := range c.Rlimits {
		s.Rlimits = append(s.Rlimits, spec.POSIXRlimit{Type: r.Type, Soft: r.Soft, Hard: r.Hard})
	}
	if c.MemoryBytes > 0 || c.PidsLimit > 0 {
		res := &spec.LinuxResources{}
		if c.MemoryBytes > 0 {
			res.Memory = &spec.LinuxMemory{Limit: &c.MemoryBytes, Swap: &c.MemoryBytes}
		}
		if c.PidsLimit > 0 {
			res.Pids = &spec.LinuxPids{Limit: c.PidsLimit}
		}
		s.ResourceLimits = res
	}
	if c.LogMaxBytes > 0 {
		s.LogConfiguration = &specgen.LogConfig{Driver: "k8s-file", Size: c.LogMaxBytes}
	}
	var nonce string
	if !p.noMountCheck {
		s.Command, nonce = withMountCheck(c, s.Command)
		s.Env[mountCheckEnv] = nonce
	}
	rep, err := containers.CreateWithSpec(p.ctx(ctx), s, nil)
	if err != nil {
		return "", fmt.Errorf("creating container %s: %w", c.Name, err)
	}
	// Checked on every engine, a local one whose files were read at
	// Connect too: the check costs little, and what reaches a container
	// is more than those files (an engine's defaults, its version's).
	if err := p.checkCreated(ctx, c, rep.ID); err != nil {
		p.Remove(context.WithoutCancel(ctx), rep.ID)
		return "", fmt.Errorf("creating container %s: %w", c.Name, err)
	}
	if nonce != "" {
		p.checks.Store(rep.ID, mountCheck{role: c.Name, nonce: nonce})
	}
	return rep.ID, nil
}

func (p *Podman) CopyIn(ctx context.Context, id, dir string, tar io.Reader) error {
	copyFn, err := containers.CopyFromArchive(p.ctx(ctx), id, dir, tar)
	if err == nil {
		err = copyFn()
	}
	if err != nil {
		return fmt.Errorf("copying into %s:%s: %w", id[:12], dir, err)
	}
	return nil
}

func (p *Podman) Start(ctx context.Context, id string) error {
	if err := containers.Start(p.ctx(ctx), id, nil); err != nil {
		return err
	}
	go p.pinInit(context.WithoutCancel(ctx), id)
	return nil
}

func (p *Podman) Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, ready chan bool) error {
	// Detach keys cannot be turned off through the bindings, so they are
	// named here (whatever containers.conf says) and the relay escapes
	// their first byte in what it writes to stdin (see escapeWriter).
	return containers.Attach(p.ctx(ctx), id, stdin, stdout, stderr, ready,
		new(containers.AttachOptions).WithDetachKeys(DetachKeys).WithStream(true))
}

func (p *Podman) Wait(ctx context.Context, id string) (int, error) {
	// The default 250 ms poll costs a quarter second per phase (measured).
	// With conditions both 4.3 and 5.x answer 404 for a container removed
	// meanwhile; without, 5.x answers the exit code it remembers (measured).
	code, err := containers.Wait(p.ctx(ctx), id, new(containers.WaitOptions).
		WithCondition([]define.ContainerStatus{define.ContainerStateExited, define.ContainerStateStopped}).
		WithInterval("20ms"))
	if err == nil && code == mountCheckExit {
		if err := p.mountCheckRefusal(ctx, id); err != nil {
			return int(code), err
		}
	}
	return int(code), err
}

func (p *Podman) Logs(ctx context.Context, id string, w io.Writer) error {
	lines := make(chan string, 64)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for l := range lines {
			io.WriteString(w, strings.TrimRight(l, "\n")+"\n")
		}
	}()
	err := containers.Logs(p.ctx(ctx), id, new(containers.LogOptions).WithStdout(true).WithStderr(true), lines, lines)
	close(lines)
	wg.Wait()
	return err
}

func (p *Podman) CopyOut(ctx context.Context, id, path string, w io.Writer) error {
	copyFn, err := containers.CopyToArchive(p.ctx(ctx), id, path, w)
	if err == nil {
		err = copyFn()
	}
	if err != nil {
		return fmt.Errorf("copying %s out of %s: %w", path, id[:12], err)
	}
	return nil
}

func (p *Podman) OOMKilled(ctx context.Context, id string) (bool, error) {
	data, err := containers.Inspect(p.ctx(ctx), id, nil)
	if err != nil {
		return false, err
	}
	return data.State.OOMKilled, nil
}

func (p *Podman) Kill(ctx context.Context, id string) error {
	p.killAll(id) // at once; the API's kill below takes longer
	err := containers.Kill(p.ctx(ctx), id, new(containers.KillOptions).WithSignal("KILL"))
	if err != nil && !stoppedMeanwhile(err) { // stopped by killAll: what this is for
		return err
	}
	_, err = containers.Wait(p.ctx(ctx), id, new(containers.WaitOptions).
		WithCondition([]define.ContainerStatus{define.ContainerStateExited, define.ContainerStateStopped}).
		WithInterval("20ms"))
	return err
}

// stoppedMeanwhile is Podman's answer to a kill, or a forced removal, of
// a container whose processes Kill's killAll already ended, until Podman's
// own clean-up of it has run. The words differ: 4.3 answers 500 "container
// state improper: stopped", 5.x 409 "sending signal to container ID:
// container state improper" (both measured); the cause both send is
// define.ErrCtrStateInvalid's.
func stoppedMeanwhile(err error) bool {
	var em *errorhandling.ErrorModel
	if errors.As(err, &em) && em.Because == define.ErrCtrStateInvalid.Error() {
		return true
	}
	return strings.Contains(err.Error(), "state improper")
}

// goneMeanwhile is Podman's answer naming a container or volume that is
// no more: the cause the API sends is define's, the words say it too.
func goneMeanwhile(err error) bool {
	var em *errorhandling.ErrorModel
	if errors.As(err, &em) && (em.Because == define.ErrNoSuchVolume.Error() || em.Because == define.ErrNoSuchCtr.Error()) {
		return true
	}
	return strings.Contains(err.Error(), define.ErrNoSuchVolume.Error()) || strings.Contains(err.Error(), define.ErrNoSuchCtr.Error())
}

// Remove removes a container, forced. Podman 4.3 refuses that for a short
// while after Kill (stoppedMeanwhile): CI saw a timed-out scripts container
// and its volumes stay behind that way. So that refusal is retried for up
// to 2 s.
func (p *Podman) Remove(ctx context.Context, id string) error {
	defer p.unpin(id)
	defer p.checks.Delete(id)
	for attempt := 1; ; attempt++ {
		_, err := containers.Remove(p.ctx(ctx), id, new(containers.RemoveOptions).WithForce(true).WithTimeout(0))
		var em *errorhandling.ErrorModel
		switch {
		case err == nil:
			return nil
		case attempt > 1 && errors.As(err, &em) && em.ResponseCode == 404:
			return nil // an earlier attempt got there after all
		case attempt == 5 || !stoppedMeanwhile(err):
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		}
	}
}
