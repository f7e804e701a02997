// Package enginetest is a recording fake of engine.Engine, for unit tests
// of the pipeline's logic without Podman: volumes and containers' own
// files are in-memory trees, and a container runs a Go function the test
// gives for its name instead of its command. It records every container
// spec and every call, and can fail any one call. The end-to-end tests
// drive a real Podman; this is for what must hold at every step.
package enginetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/safe-install/safe-install/sandbox/egress"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// ErrInjected is what the call FailOn names returns.
var ErrInjected = errors.New("enginetest: injected failure")

// runID is how a run's names carry its id; calls are recorded with it
// replaced by RUN, so that two runs' calls compare.
var runID = regexp.MustCompile(`safe-install-[0-9a-f]{12}`)

// Behavior is what a container does when it starts, in place of its
// command: it works on c's files and returns the exit code.
type Behavior func(c *Container) int

// Engine is the fake. Its zero value is not usable: use New.
type Engine struct {
	mu sync.Mutex
	// failCall and failNth: the nth (1-based) call recorded as failCall
	// returns ErrInjected.
	failCall string
	failNth  int
	// onCall, when set, sees every call as it is recorded.
	onCall    func(call string, nth int)
	calls     []string
	created   []engine.ContainerSpec
	behaviors map[string]Behavior
	volumes   map[string]*volume
	ctrs      map[string]*Container
	seq       int
	// localDir, when set, is what ContainerDir answers (Local).
	localDir string
}

type volume struct {
	spec    engine.VolumeSpec
	fs      *FS
	created time.Time
}

// New is an engine with no volumes, containers or behaviors.
func New() *Engine {
	return &Engine{behaviors: map[string]Behavior{}, volumes: map[string]*volume{}, ctrs: map[string]*Container{}}
}

// Behave makes containers whose name ends in suffix ("-fetch") run b.
// A container with no behavior exits 0 at once; one running
// tree.ListScript writes the listing that script would; the work
// volume's holder runs until it is killed.
func (e *Engine) Behave(suffix string, b Behavior) { e.behaviors[suffix] = b }

// FailOn makes the nth call recorded as call ("CopyOut
// safe-install-RUN-scripts:/work/node_modules") fail with ErrInjected.
func (e *Engine) FailOn(call string, nth int) { e.failCall, e.failNth = call, nth }

// OnCall has fn see every call as it is made (to cancel a run there).
func (e *Engine) OnCall(fn func(call string, nth int)) { e.onCall = fn }

// Calls are the calls made so far, as "Method name", with the run id
// replaced by RUN. Info is not recorded.
func (e *Engine) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// Created are the specs of every container created, in order.
func (e *Engine) Created() []engine.ContainerSpec {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.created)
}

// Volume is the named volume's tree, or nil.
func (e *Engine) Volume(name string) *FS {
	e.mu.Lock()
	defer e.mu.Unlock()
	if v := e.volumes[name]; v != nil {
		return v.fs
	}
	return nil
}

// Objects are the containers and volumes that exist, by name.
func (e *Engine) Objects() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, c := range e.ctrs {
		out = append(out, "container "+c.Spec.Name)
	}
	for n := range e.volumes {
		out = append(out, "volume "+n)
	}
	slices.Sort(out)
	return out
}

// call records a call and says whether it is the one to fail.
func (e *Engine) call(method, name string) error {
	call := runID.ReplaceAllString(method+" "+name, "safe-install-RUN")
	e.mu.Lock()
	e.calls = append(e.calls, call)
	nth := 0
	for _, c := range e.calls {
		if c == call {
			nth++
		}
	}
	fail, hook := call == e.failCall && nth == e.failNth, e.onCall
	e.mu.Unlock()
	if hook != nil {
		hook(call, nth)
	}
	if fail {
		return fmt.Errorf("%s: %w", call, ErrInjected)
	}
	return nil
}

func (e *Engine) Info(context.Context) (engine.EngineInfo, error) {
	return engine.EngineInfo{Version: "fake", Rootless: true, Host: "local", OS: "linux", Arch: "amd64",
		Cgroups: "v2", Runtime: "fake", Storage: "memory", IDMap: "0:1000:1 1:100000:65536 / 0:1000:1 1:100000:65536"}, nil
}

func (e *Engine) CreateVolume(_ context.Context, v engine.VolumeSpec) error {
	if err := e.call("CreateVolume", v.Name); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.volumes[v.Name]; !ok {
		e.volumes[v.Name] = &volume{spec: v, fs: newFS(), created: time.Now()}
	}
	return nil
}

func (e *Engine) RemoveVolume(_ context.Context, name string) error {
	if err := e.call("RemoveVolume", name); err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.volumes[name]; !ok {
		return fmt.Errorf("volume %s: %w", name, fs.ErrNotExist)
	}
	for _, c := range e.ctrs {
		for _, m := range c.Spec.Volumes {
			if m.Name == name {
				return fmt.Errorf("volume %s is in use by %s", name, c.Spec.Name)
			}
		}
	}
	delete(e.volumes, name)
	return nil
}

func (e *Engine) Leftovers(context.Context) ([]engine.Leftover, error) {
	if err := e.call("Leftovers", ""); err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []engine.Leftover
	for _, c := range e.ctrs {
		if c.Spec.Labels[engine.LabelRun] != "" {
			out = append(out, engine.Leftover{Kind: "container", Name: c.ID, Labels: c.Spec.Labels, Created: c.created, Running: c.running()})
		}
	}
	for n, v := range e.volumes {
		if v.spec.Labels[engine.LabelRun] != "" {
			out = append(out, engine.Leftover{Kind: "volume", Name: n, Labels: v.spec.Labels, Created: v.created})
		}
	}
	return out, nil
}

func (e *Engine) VolumeExists(_ context.Context, name string) (bool, error) {
	if err := e.call("VolumeExists", name); err != nil {
		return false, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	_, ok := e.volumes[name]
	return ok, nil
}

func (e *Engine) VolumePath(_ context.Context, name string) (string, error) {
	if err := e.call("VolumePath", name); err != nil {
		return "", err
	}
	return "/fake/volumes/" + name + "/_data", nil
}

func (e *Engine) DiskFree(_ context.Context, volume string) (engine.DiskFree, error) {
	if err := e.call("DiskFree", volume); err != nil {
		return engine.DiskFree{}, err
	}
	return engine.DiskFree{Bytes: 100 << 30, Files: 10_000_000, FilesKnown: true, Cheap: true}, nil
}

func (e *Engine) Create(_ context.Context, spec engine.ContainerSpec) (string, error) {
	if err := e.call("Create", spec.Name); err != nil {
		return "", err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.ctrs {
		if c.Spec.Name == spec.Name {
			return "", fmt.Errorf("a container named %s exists", spec.Name)
		}
	}
	for _, m := range spec.Volumes {
		if _, ok := e.volumes[m.Name]; !ok {
			return "", fmt.Errorf("container %s mounts volume %s, which does not exist", spec.Name, m.Name)
		}
	}
	e.seq++
	c := &Container{ID: fmt.Sprintf("%012x%052d", e.seq, 0), Spec: spec, eng: e, root: newFS(), tmpfs: map[string]*FS{},
		created: time.Now(), done: make(chan struct{}), said: make(chan struct{})}
	for _, t := range spec.Tmpfs {
		c.tmpfs[t.Dest] = newFS()
	}
	e.ctrs[c.ID] = c
	e.created = append(e.created, spec)
	return c.ID, nil
}

// container finds a container by id or name.
func (e *Engine) container(id string) (*Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.ctrs[id]; ok {
		return c, nil
	}
	for _, c := range e.ctrs {
		if c.Spec.Name == id {
			return c, nil
		}
	}
	return nil, fmt.Errorf("container %s: %w", id, fs.ErrNotExist)
}

func (e *Engine) CopyIn(_ context.Context, id, dir string, r io.Reader) error {
	c, err := e.container(id)
	if err != nil {
		return err
	}
	if err := e.call("CopyIn", c.Spec.Name+":"+dir); err != nil {
		return err
	}
	// Entries go where the container sees them: a volume, a tmpfs, its root.
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, r); err != nil {
		return err
	}
	f, rel := c.resolve(dir)
	return f.extract(rel, &buf)
}

func (e *Engine) Start(_ context.Context, id string) error {
	c, err := e.container(id)
	if err != nil {
		return err
	}
	if err := e.call("Start", c.Spec.Name); err != nil {
		return err
	}
	b := e.behaviorFor(c.Spec)
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return fmt.Errorf("container %s started twice", c.Spec.Name)
	}
	c.started = true
	c.mu.Unlock()
	go func() {
		if egress.Relayed(c.Spec.Command) {
			// As relay.js: nothing runs before the host's start frame.
			select {
			case <-c.said:
			case <-c.killed():
				c.exit(137)
				return
			}
		}
		code := b(c)
		c.exit(code)
	}()
	return nil
}

// behaviorFor is the test's behavior for a container, or the built-ins.
func (e *Engine) behaviorFor(spec engine.ContainerSpec) Behavior {
	for _, suffix := range slices.Sorted(maps.Keys(e.behaviors)) {
		if strings.HasSuffix(spec.Name, suffix) {
			return e.behaviors[suffix]
		}
	}
	if i := slices.Index(spec.Command, tree.ListScript); i >= 0 && len(spec.Command) >= i+4 {
		dir, prefix := spec.Command[i+2], spec.Command[i+3]
		return func(c *Container) int {
			if err := c.List(dir, prefix); err != nil {
				fmt.Fprintln(c, err)
				return 97
			}
			return 0
		}
	}
	if strings.HasSuffix(spec.Name, "-holder") {
		return func(c *Container) int { <-c.killed(); return 137 }
	}
	return func(*Container) int { return 0 }
}

func (e *Engine) Attach(_ context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, ready chan bool) error {
	c, err := e.container(id)
	if err != nil {
		return err
	}
	if err := e.call("Attach", c.Spec.Name); err != nil {
		return err
	}
	if egress.Relayed(c.Spec.Command) {
		// The host writes nothing to the relay before its start frame.
		go func() {
			if _, err := stdin.Read(make([]byte, 1)); err == nil {
				close(c.said)
			}
			_, _ = io.Copy(io.Discard, stdin) // the rest of it, and any reply
		}()
	}
	ready <- true
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = stderr.Write(c.out.Bytes())
	return err
}

func (e *Engine) Wait(ctx context.Context, id string) (int, error) {
	c, err := e.container(id)
	if err != nil {
		return -1, err
	}
	if err := e.call("Wait", c.Spec.Name); err != nil {
		return -1, err
	}
	select {
	case <-c.done:
	case <-ctx.Done():
		return -1, ctx.Err()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.code, nil
}

func (e *Engine) Logs(_ context.Context, id string, w io.Writer) error {
	c, err := e.container(id)
	if err != nil {
		return err
	}
	if err := e.call("Logs", c.Spec.Name); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err = w.Write(c.out.Bytes())
	return err
}

// Exited knows nothing: the fake is no local engine, so Wait says.
func (e *Engine) Exited(context.Context, string) (int, bool) { return 0, false }

// ExtractInto fails: the fake is no local engine, so copy-in goes through
// CopyIn, the path a remote engine takes.
func (e *Engine) ExtractInto(context.Context, string, string, io.Reader) error {
	return errors.New("enginetest: no local engine")
}

// Local makes the fake a local engine whose containers' directories
// ContainerDir opens as dir, a host directory the test leaves empty: the
// run then takes the work volume for one it reads through the holder,
// and each read, finding nothing there, falls back to CopyOut (the
// archive endpoint's fallback, engine.ReadableTree), from the holder too.
func (e *Engine) Local(dir string) { e.localDir = dir }

// ContainerDir fails unless Local was called: the fake is no local
// engine, so copy-back goes through CopyOut, the path a remote engine
// takes.
func (e *Engine) ContainerDir(context.Context, string, string) (string, func(), error) {
	if e.localDir != "" {
		return e.localDir, func() {}, nil
	}
	return "", nil, errors.New("enginetest: no local directory")
}

func (e *Engine) CopyOut(_ context.Context, id, p string, w io.Writer) error {
	c, err := e.container(id)
	if err != nil {
		return err
	}
	if err := e.call("CopyOut", c.Spec.Name+":"+p); err != nil {
		return err
	}
	// The holder runs only its sleep: Podman copies out of it running, as
	// the fallback of a local engine's copy-back does.
	if c.running() && !strings.HasSuffix(c.Spec.Name, "-holder") {
		return fmt.Errorf("copying out of %s while it runs", c.Spec.Name)
	}
	f, rel := c.resolve(p)
	var buf bytes.Buffer
	if err := f.archive(rel, &buf); err != nil {
		return err
	}
	_, err = w.Write(buf.Bytes())
	return err
}

func (e *Engine) OOMKilled(_ context.Context, id string) (bool, error) {
	c, err := e.container(id)
	if err != nil {
		return false, err
	}
	if err := e.call("OOMKilled", c.Spec.Name); err != nil {
		return false, err
	}
	return false, nil
}

func (e *Engine) Kill(_ context.Context, id string) error {
	c, err := e.container(id)
	if err != nil {
		return err
	}
	if err := e.call("Kill", c.Spec.Name); err != nil {
		return err
	}
	c.kill()
	return nil
}

func (e *Engine) Remove(_ context.Context, id string) error {
	c, err := e.container(id)
	if err != nil {
		return err
	}
	if err := e.call("Remove", c.Spec.Name); err != nil {
		return err
	}
	c.kill()
	e.mu.Lock()
	delete(e.ctrs, c.ID)
	e.mu.Unlock()
	e.unmountMemory()
	return nil
}

// unmountMemory empties each memory volume no running container mounts:
// Podman unmounts a tmpfs volume when its last user stops, and its files
// are gone (what the holder container is for).
func (e *Engine) unmountMemory() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for name, v := range e.volumes {
		if !v.spec.Memory {
			continue
		}
		inUse := false
		for _, c := range e.ctrs {
			for _, m := range c.Spec.Volumes {
				inUse = inUse || (m.Name == name && c.running())
			}
		}
		if !inUse {
			v.fs = newFS()
		}
	}
}

var _ engine.Engine = (*Engine)(nil)
