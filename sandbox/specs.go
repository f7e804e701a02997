package sandbox

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/safe-install/safe-install/seccomp"

	"github.com/safe-install/safe-install/sandbox/archive"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/install"
	"github.com/safe-install/safe-install/sandbox/tree"
)

// Limits bound each sandbox container.
type Limits struct {
	Timeout     time.Duration // wall time of each phase
	MemoryBytes int64
	Pids        int64
	LogBytes    int64
	TmpBytes    int64 // each tmpfs (/tmp, the home directory)
	// DiskBytes and DiskFiles bound what each phase writes to the engine's
	// disk (volumes have no quota rootless); 0 is no bound.
	DiskBytes int64
	DiskFiles int64
	Extract   archive.Limits
}

// DefaultLimits fit a large real project on a 2-core, 24 GiB machine and
// stop a fork bomb, a memory bomb or a hang within minutes.
func DefaultLimits() Limits {
	return Limits{
		Timeout:     15 * time.Minute,
		MemoryBytes: 4 << 30,
		Pids:        1024,
		LogBytes:    16 << 20,
		TmpBytes:    1 << 30,
		DiskBytes:   4 << 30,
		DiskFiles:   1_000_000,
		Extract:     archive.DefaultLimits(),
	}
}

// Names are the engine objects of one run, derived from its id.
type Names struct {
	Work, FetchConfig, Cache string // volumes
	Home                     string // the scripts container's home, with decoys
	ProjectHome              string // the project scripts' home: fresh, with the same decoys
	Tools                    string // read-only helpers of the scripts containers (netlog.js)
	List                     string // where the trusted listing between phases writes, and nothing else
	Profiles                 string // the container that writes the seccomp profiles' volume
	ProfileVolume            string // that volume, named by the profiles' hash (set once known)
	Fetch, Scripts           string // containers
}

func namesFor(runID, manager, idmap string) Names {
	p := "safe-install-" + runID
	return Names{
		Work:        p + "-work",
		FetchConfig: p + "-fetchcfg",
		Cache:       cacheName(manager, idmap),
		Home:        p + "-home",
		ProjectHome: p + "-home-project",
		Tools:       p + "-tools",
		List:        p + "-list",
		Profiles:    p + "-seccomp",
		Fetch:       p + "-fetch",
		Scripts:     p + "-scripts",
	}
}

// cacheName is the lasting cache volume of a manager, one per user
// namespace mapping of the engine (engine.EngineInfo.IDMap): what a cache got
// under another mapping belongs to host ids the engine no longer maps,
// which no one in its namespace may write, chown or even delete (seen
// after a Podman 5 service came back with other subordinate ids, issue
// 16), so a changed mapping starts a new cache.
func cacheName(manager, idmap string) string {
	h := sha256.Sum256([]byte(idmap))
	return "safe-install-cache-" + manager + "-" + hex.EncodeToString(h[:4])
}

// hardened is the part every sandbox container shares (invariants
// 1, 4, 5, 6): named volumes only, a fixed environment, every capability
// dropped, no-new-privileges, our seccomp profile, an unprivileged user, a
// read-only root, tmpfs
// for the writable scratch places, and rlimits that hold where cgroup
// limits are ignored (cgroup v1 rootless, as measured here).
func hardened(name, image string, ph install.Phase, lim Limits, profile string) engine.ContainerSpec {
	// Podman 4.3 takes no uid= for tmpfs, so both are world-writable and
	// sticky; the sandbox user is the only user inside.
	tmpfs := fmt.Sprintf("rw,nosuid,nodev,size=%d,mode=1777", lim.TmpBytes)
	return engine.ContainerSpec{
		Name:  name,
		Image: image,
		// The host stops a phase at lim.Timeout; the container ends itself
		// a little later even when no host is left to (a killed
		// safe-install), so that nothing outlives a run (invariant 13).
		Command:         selfBounded(ph.Command, lim.Timeout+time.Minute),
		Env:             ph.Env,
		WorkDir:         install.WorkDir,
		User:            fmt.Sprintf("%d:%d", sandboxUID, sandboxUID),
		Tmpfs:           []engine.TmpfsMount{{Dest: "/tmp", Options: tmpfs}, {Dest: "/home/sandbox", Options: tmpfs}},
		CapDrop:         []string{"all"},
		NoNewPrivileges: true,
		ReadOnlyRoot:    true,
		SeccompProfile:  profile,
		Rlimits: []engine.Rlimit{
			{Type: "nproc", Soft: uint64(lim.Pids), Hard: uint64(lim.Pids)},
			{Type: "data", Soft: uint64(lim.MemoryBytes), Hard: uint64(lim.MemoryBytes)},
			{Type: "fsize", Soft: uint64(lim.Extract.MaxFileBytes), Hard: uint64(lim.Extract.MaxFileBytes)},
			{Type: "nofile", Soft: 8192, Hard: 8192},
			{Type: "core", Soft: 0, Hard: 0},
		},
		LogMaxBytes: lim.LogBytes,
		MemoryBytes: lim.MemoryBytes,
		PidsLimit:   lim.Pids,
	}
}

// selfBounded runs cmd under coreutils' timeout, which kills it (and, as
// the container's first process, ends the container) after d.
func selfBounded(cmd []string, d time.Duration) []string {
	return append([]string{"timeout", "-s", "KILL", strconv.Itoa(int(d.Seconds()))}, cmd...)
}

// runBound is the longest a run can take: every container of it (fetch,
// scripts, listing, project scripts, audit) to its time limit, with room
// for the copies between them. The holder ends itself then.
func runBound(lim Limits) time.Duration { return 6*lim.Timeout + 10*time.Minute }

// fetchSpec is the fetch container: no network either, but a relay on its
// stdin and stdout to the egress proxy on the host; the only one that
// mounts the fetch config volume and the writable cache.
func fetchSpec(p *install.Plan, image string, n Names, lim Limits, prof Profiles) engine.ContainerSpec {
	s := hardened(n.Fetch, image, p.Fetch, lim, prof[seccomp.Fetch])
	s.Network = "none"
	s.Stdin = true
	s.Volumes = []engine.VolumeMount{
		{Name: n.Work, Dest: install.WorkDir},
		{Name: n.FetchConfig, Dest: install.FetchConfigDir, ReadOnly: true},
		{Name: n.Cache, Dest: "/cache"},
	}
	return s
}

// scriptsSpec is the scripts container: third-party code, no network (only
// lo), no credentials, no cache.
// Its home is a volume of this run (home: n.Home, or n.ProjectHome for the
// project's own scripts, which get a fresh one that no dependency's script
// wrote), filled with decoy credentials before it starts (decoyEnv adds the
// decoy variables).
func scriptsSpec(name string, ph install.Phase, image string, n Names, home string, lim Limits, prof Profiles, decoyEnv map[string]string) engine.ContainerSpec {
	ph.Env = maps.Clone(ph.Env)
	maps.Copy(ph.Env, decoyEnv)
	s := hardened(name, image, ph, lim, prof[seccomp.Scripts])
	s.Network = "none"
	s.Tmpfs = slices.DeleteFunc(s.Tmpfs, func(m engine.TmpfsMount) bool { return m.Dest == install.DecoyHome })
	s.Volumes = []engine.VolumeMount{{Name: n.Work, Dest: install.WorkDir}, {Name: home, Dest: install.DecoyHome}, {Name: n.Tools, Dest: install.ToolsDir, ReadOnly: true}}
	return s
}

// holderSpec keeps the work volume's tmpfs mounted from the first phase to
// the last copy-back: Podman mounts a tmpfs volume when a container that
// uses it starts and unmounts it when the last one stops, so without a
// holder each phase would find it empty (measured). It runs only sleep,
// for no longer than a run can take: a holder whose run was killed frees
// the tmpfs's memory by itself. It mounts the work and fetch config
// volumes writable: a local engine's inputs go in through it, before any
// third-party code runs (Engine.ExtractInto); nothing in it ever writes.
func holderSpec(image string, n Names, lim Limits, prof Profiles) engine.ContainerSpec {
	ph := install.Phase{Command: []string{"sleep", strconv.Itoa(int(runBound(lim).Seconds()))}, Env: map[string]string{"PATH": "/usr/bin:/bin"}}
	s := hardened(n.Work+"-holder", image, ph, lim, prof[seccomp.Scripts])
	s.Command = ph.Command // sleep is its own bound
	s.Network = "none"
	s.Volumes = []engine.VolumeMount{{Name: n.Work, Dest: install.WorkDir}, {Name: n.FetchConfig, Dest: install.FetchConfigDir}}
	return s
}

// listingSpec lists the work directory with a trusted command in a fresh
// container into out, in a volume of its own that no script ever mounted
// (a listing in the work volume could be forged, or be a FIFO that blocks
// the write); the work volume is read-only to it. After the dependencies'
// scripts (MidListing), no script's process is alive to touch the tree,
// and only the project's own scripts run after it; before them
// (FetchedListing, BaselineLater), no third-party code has run.
func listingSpec(name, out, image string, n Names, lim Limits, prof Profiles) engine.ContainerSpec {
	ph := install.Phase{Command: []string{"sh", "-c", tree.ListScript, "sh", ".", out}, Env: map[string]string{"PATH": "/usr/bin:/bin"}}
	s := hardened(name, image, ph, lim, prof[seccomp.Scripts])
	s.Network = "none"
	s.Volumes = []engine.VolumeMount{{Name: n.Work, Dest: install.WorkDir, ReadOnly: true}, {Name: n.List, Dest: ListDir}}
	return s
}

// ListDir is where the listing containers' own volume is mounted;
// MidListing and FetchedListing the listings they write there.
const (
	ListDir        = "/run/safe-install-list"
	MidListing     = ListDir + "/scripts"
	FetchedListing = ListDir + "/fetched"
)

// decoyAuditSpec lists the decoy homes' files with their access and
// modification times, from a trusted command, read-only: the
// dependencies' home, and the project scripts' when they ran.
func decoyAuditSpec(image string, n Names, projectHome bool, lim Limits, prof Profiles) engine.ContainerSpec {
	cmd := []string{"find", install.DecoyHome, "-type", "f", "-printf", "%A@ %T@ %P\\n"}
	vols := []engine.VolumeMount{{Name: n.Home, Dest: install.DecoyHome, ReadOnly: true}}
	if projectHome {
		cmd = slices.Insert(cmd, 2, ProjectHomeAudit)
		vols = append(vols, engine.VolumeMount{Name: n.ProjectHome, Dest: ProjectHomeAudit, ReadOnly: true})
	}
	s := hardened(n.Scripts+"-audit", image, install.Phase{Command: cmd, Env: map[string]string{"PATH": "/usr/bin:/bin"}}, lim, prof[seccomp.Scripts])
	s.WorkDir, s.Network, s.Volumes = "/", "none", vols
	s.Tmpfs = slices.DeleteFunc(s.Tmpfs, func(m engine.TmpfsMount) bool { return m.Dest == install.DecoyHome })
	return s
}

// ProjectHomeAudit is where the decoy audit mounts the project scripts' home.
const ProjectHomeAudit = "/home/sandbox-project"

func newRunID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// profileWriterSpec is the container through which the seccomp profiles
// are copied into their volume (the API copies into containers only); it
// is created and never started.
func profileWriterSpec(image string, n Names, lim Limits) engine.ContainerSpec {
	ph := install.Phase{Command: []string{"true"}, Env: map[string]string{"PATH": "/usr/bin:/bin"}}
	s := hardened(n.Profiles, image, ph, lim, "") // its profile is what it writes
	s.Network = "none"
	s.Volumes = []engine.VolumeMount{{Name: n.ProfileVolume, Dest: seccompMount}}
	return s
}
