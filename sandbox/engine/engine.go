package engine

import (
	"context"
	"io"
	"time"
)

// Engine is the little of a container engine that a run needs. The Podman
// implementation talks to the engine's API, so a remote engine works the
// same as a local one: every byte in or out crosses it as a tar stream.
type Engine interface {
	// Info says who runs the containers; a rootful engine is refused.
	Info(ctx context.Context) (EngineInfo, error)

	// CreateVolume creates a volume, unless one of that name exists.
	CreateVolume(ctx context.Context, v VolumeSpec) error
	RemoveVolume(ctx context.Context, name string) error
	// Leftovers lists every container and volume that carries the run
	// label (labelRun), with its labels and creation time.
	Leftovers(ctx context.Context) ([]Leftover, error)
	VolumeExists(ctx context.Context, name string) (bool, error)
	// VolumePath is where a volume's files are on the engine's host.
	VolumePath(ctx context.Context, name string) (string, error)
	// DiskFree measures the free space of the filesystem under a volume.
	DiskFree(ctx context.Context, volume string) (DiskFree, error)

	Create(ctx context.Context, spec ContainerSpec) (id string, err error)
	// CopyIn extracts a tar stream at dir inside a created container,
	// including into its volumes.
	CopyIn(ctx context.Context, id, dir string, tar io.Reader) error
	// ExtractInto extracts a tar stream at dir inside a running container
	// of a local engine, without the archive endpoint; an error when the
	// engine is not local (or has no nsenter: ErrNoNsenter). Only for
	// trees no third-party code has written (see nsextract.go).
	ExtractInto(ctx context.Context, id, dir string, tar io.Reader) error
	Start(ctx context.Context, id string) error
	// Attach streams a created container's stdin and output; it sends on
	// ready once attached (before Start) and returns when the container ends.
	Attach(ctx context.Context, id string, stdin io.Reader, stdout, stderr io.Writer, ready chan bool) error
	// Wait blocks until the container exits and returns its exit code.
	Wait(ctx context.Context, id string) (int, error)
	// Exited gives the exit code of a started container of a local
	// engine whose processes have all ended, as its conmon recorded it,
	// without waiting for the engine's clean-up of it; false when that
	// cannot be told (not local, still running, not recorded yet): then
	// Wait says.
	Exited(ctx context.Context, id string) (int, bool)
	// Logs writes the container's combined output.
	Logs(ctx context.Context, id string, w io.Writer) error
	// ContainerDir gives a path on this machine where a running
	// container's directory can be read, until done; an error when the
	// engine is not local.
	ContainerDir(ctx context.Context, id, dir string) (path string, done func(), err error)
	// CopyOut writes a tar stream of path in a stopped container to w.
	CopyOut(ctx context.Context, id, path string, w io.Writer) error
	// OOMKilled reports whether the kernel's OOM killer ended the container.
	OOMKilled(ctx context.Context, id string) (bool, error)
	// Kill stops a running container and everything in it at once.
	Kill(ctx context.Context, id string) error
	// Remove kills the container if it runs and deletes it.
	Remove(ctx context.Context, id string) error
}

// Images are the engine's images, apart from the containers: only image
// building and doctor need them.
type Images interface {
	ImageExists(ctx context.Context, ref string) (bool, error)
	// ImportImage turns a root filesystem tar into an image named ref.
	ImportImage(ctx context.Context, ref string, rootfs io.Reader, changes []string) (id string, err error)
	RemoveImage(ctx context.Context, ref string) error
}

// VolumeSpec is every setting of one volume.
type VolumeSpec struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels,omitempty"`
	// Root gives it to root of the engine's user namespace, for files only
	// the engine writes (the seccomp profiles); else the sandbox user owns it.
	Root bool `json:"root,omitempty"`
	// Memory puts it on a tmpfs of at most MaxBytes and MaxFiles (0: the
	// tmpfs default). Its files live while a container that mounts it
	// runs (see sandbox's holderSpec).
	Memory             bool  `json:"memory,omitempty"`
	MaxBytes, MaxFiles int64 `json:"-"`
	// Shared: one volume of all runs (a cache), which another run may
	// create at the same moment; that it exists is what this one wants.
	Shared bool `json:"shared,omitempty"`
}

// Leftover is a container or volume of some run, as the engine lists it.
type Leftover struct {
	Kind    string            `json:"kind"` // "container" or "volume"
	Name    string            `json:"name"`
	Labels  map[string]string `json:"labels"`
	Created time.Time         `json:"created"` // as the engine recorded it
	Running bool              `json:"running,omitempty"`
	// Why is set when it is to be reaped: its client is gone, or it is
	// older than any run can be.
	Why string `json:"why,omitempty"`
}

// DiskFree is the free space of the filesystem that holds an engine's
// volumes.
type DiskFree struct {
	Bytes uint64
	Files uint64 // free inodes; only when FilesKnown
	// FilesKnown: the engine's filesystem was measured directly (statfs
	// on this machine), not through the engine's info.
	FilesKnown bool
	// Cheap: measuring again costs a system call, not an API round trip,
	// so the guard can look often.
	Cheap bool
}

// DetachKeys are the attach session's detach keys: ctrl-p (0x10), ctrl-q.
// Whatever a phase's stdin carries must never hold them (the relay
// escapes 0x10).
const DetachKeys = "ctrl-p,ctrl-q"

// EngineInfo is what a run needs to know about the engine.
type EngineInfo struct {
	Version  string `json:"version"`
	Rootless bool   `json:"rootless"`
	Host     string `json:"host"` // where the engine runs: "local" or the connection URL
	OS       string `json:"os"`
	Arch     string `json:"arch"`
	Cgroups  string `json:"cgroups"` // "v1" or "v2"
	Runtime  string `json:"runtime"` // OCI runtime: runc, crun
	Storage  string `json:"storage"` // graph driver: overlay, vfs
	// IDMap is the user namespace mapping the engine runs containers
	// under, "uid ranges / gid ranges" (container:host:size).
	IDMap string `json:"id_map,omitempty"`
}

// ContainerSpec is every setting of one sandbox container. It is engine
// neutral so that --dry-run can print exactly what would be created.
type ContainerSpec struct {
	Name    string            `json:"name"`
	Image   string            `json:"image"`
	Labels  map[string]string `json:"labels,omitempty"` // the run's (reap.go)
	Command []string          `json:"command"`
	Env     map[string]string `json:"env"` // the whole environment; nothing is inherited
	WorkDir string            `json:"workdir"`
	User    string            `json:"user"`
	Stdin   bool              `json:"stdin"` // kept open for Attach (the fetch relay)
	// Network is always "none" (only lo): the fetch reaches its registries
	// through the relay on its stdin and stdout, never a network.
	Network         string        `json:"network"`
	Volumes         []VolumeMount `json:"volumes"`
	Tmpfs           []TmpfsMount  `json:"tmpfs"`
	CapDrop         []string      `json:"cap_drop"`
	NoNewPrivileges bool          `json:"no_new_privileges"`
	ReadOnlyRoot    bool          `json:"read_only_root"`
	// SeccompProfile is a path on the engine's host; "" keeps the engine's default.
	SeccompProfile string   `json:"seccomp_profile,omitempty"`
	Rlimits        []Rlimit `json:"rlimits"`
	LogMaxBytes    int64    `json:"log_max_bytes"` // the engine stops logging past this
	MemoryBytes    int64    `json:"memory_bytes"`  // enforced by cgroup v2 only
	PidsLimit      int64    `json:"pids_limit"`    // enforced by cgroup v2 only
}

// VolumeMount mounts a named volume this run created (never a host path).
type VolumeMount struct {
	Name     string `json:"name"`
	Dest     string `json:"dest"`
	ReadOnly bool   `json:"read_only"`
}

// TmpfsMount is a size-bounded tmpfs.
type TmpfsMount struct {
	Dest    string `json:"dest"`
	Options string `json:"options"`
}

// Rlimit is a POSIX resource limit by its lower-case name without the
// RLIMIT_ prefix ("nproc"), the form Podman 4.3 accepts.
type Rlimit struct {
	Type string `json:"type"`
	Soft uint64 `json:"soft"`
	Hard uint64 `json:"hard"`
}
