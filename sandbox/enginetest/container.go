package enginetest

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/safe-install/safe-install/sandbox/engine"
)

// Container is one fake container: its spec, its files and its output.
type Container struct {
	ID   string
	Spec engine.ContainerSpec

	eng     *Engine
	root    *FS
	tmpfs   map[string]*FS
	created time.Time

	mu       sync.Mutex
	out      bytes.Buffer
	started  bool
	code     int
	done     chan struct{}
	said     chan struct{} // a relayed container's start frame came (Attach)
	kill1    sync.Once
	killedCh chan struct{}
}

// Write adds to the container's output (its stdout and stderr).
func (c *Container) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.out.Write(p)
}

func (c *Container) running() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.started {
		return false
	}
	select {
	case <-c.done:
		return false
	default:
		return true
	}
}

func (c *Container) exit(code int) {
	c.mu.Lock()
	select {
	case <-c.done:
	default:
		c.code = code
		close(c.done)
	}
	c.mu.Unlock()
	c.eng.unmountMemory()
}

func (c *Container) killed() chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.killedCh == nil {
		c.killedCh = make(chan struct{})
	}
	return c.killedCh
}

func (c *Container) kill() {
	ch := c.killed()
	c.kill1.Do(func() { close(ch) })
	if c.running() {
		c.exit(137)
	}
}

// resolve finds the tree that holds an absolute path in the container
// (the volume or tmpfs mounted nearest above it, or the container's
// root) and the path relative to that tree.
func (c *Container) resolve(p string) (*FS, string) {
	p = path.Clean("/" + p)
	best, rel := c.root, strings.TrimPrefix(p, "/")
	bestLen := 0
	for _, m := range c.Spec.Volumes {
		if r, ok := within(p, m.Dest); ok && len(m.Dest) > bestLen {
			f := newFS() // removed under a killed container: its writes go nowhere
			c.eng.mu.Lock()
			if v := c.eng.volumes[m.Name]; v != nil {
				f = v.fs // unmountMemory replaces it under the same lock
			}
			c.eng.mu.Unlock()
			best, rel, bestLen = f, r, len(m.Dest)
		}
	}
	for dest, f := range c.tmpfs {
		if r, ok := within(p, dest); ok && len(dest) > bestLen {
			best, rel, bestLen = f, r, len(dest)
		}
	}
	return best, rel
}

// writable says whether p is on a read-write mount (the root is read-only
// when the spec says so).
func (c *Container) writable(p string) bool {
	p = path.Clean("/" + p)
	ro, bestLen := c.Spec.ReadOnlyRoot, 0
	for _, m := range c.Spec.Volumes {
		if _, ok := within(p, m.Dest); ok && len(m.Dest) > bestLen {
			ro, bestLen = m.ReadOnly, len(m.Dest)
		}
	}
	for _, t := range c.Spec.Tmpfs {
		if _, ok := within(p, t.Dest); ok && len(t.Dest) > bestLen {
			ro, bestLen = false, len(t.Dest)
		}
	}
	return !ro
}

func within(p, dir string) (string, bool) {
	if p == dir {
		return "", true
	}
	rel, ok := strings.CutPrefix(p, strings.TrimSuffix(dir, "/")+"/")
	return rel, ok
}

// abs makes a path in the container absolute, from its working directory.
func (c *Container) abs(p string) string {
	if !strings.HasPrefix(p, "/") {
		p = path.Join(c.Spec.WorkDir, p)
	}
	return path.Clean(p)
}

// WriteFile writes a regular file (and its parent directories).
func (c *Container) WriteFile(p string, data []byte, perm fs.FileMode) error {
	return c.put(p, &File{Mode: perm.Perm(), Data: slices.Clone(data)})
}

// Symlink makes p a symlink to target.
func (c *Container) Symlink(target, p string) error {
	return c.put(p, &File{Mode: fs.ModeSymlink | 0o777, Target: target})
}

// MkdirAll makes a directory and its parents.
func (c *Container) MkdirAll(p string) error {
	return c.put(p, &File{Mode: fs.ModeDir | 0o755})
}

// Remove deletes p and what is below it.
func (c *Container) Remove(p string) error {
	p = c.abs(p)
	if !c.writable(p) {
		return fmt.Errorf("%s: read-only file system", p)
	}
	f, rel := c.resolve(p)
	f.remove(rel)
	return nil
}

// ReadFile reads a regular file.
func (c *Container) ReadFile(p string) ([]byte, error) {
	f, rel := c.resolve(c.abs(p))
	e := f.Get(rel)
	if e == nil || !e.Mode.IsRegular() {
		return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
	}
	return slices.Clone(e.Data), nil
}

func (c *Container) put(p string, e *File) error {
	p = c.abs(p)
	if !c.writable(p) {
		return fmt.Errorf("%s: read-only file system", p)
	}
	f, rel := c.resolve(p)
	f.put(rel, e)
	return nil
}

// List writes what tree.ListScript writes: the listing of dir to
// prefix.list and prefix.sums (both relative to the working directory
// when not absolute).
func (c *Container) List(dir, prefix string) error {
	f, rel := c.resolve(c.abs(dir))
	lf, lrel := c.resolve(c.abs(prefix + ".list"))
	var skip []string
	if lf == f {
		skip = []string{lrel, strings.TrimSuffix(lrel, ".list") + ".sums"}
	}
	list, sums := f.listing(rel, skip...)
	if err := c.WriteFile(prefix+".list", list, 0o644); err != nil {
		return err
	}
	return c.WriteFile(prefix+".sums", sums, 0o644)
}
