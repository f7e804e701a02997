// Package doctor checks, without running an install, what one needs: the
// user, user namespaces and subordinate ids, Podman and its rootless
// setup, the sandbox image, the CA bundle and what earlier runs left.
package doctor

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"slices"
	"strconv"
	"strings"

	"github.com/safe-install/safe-install/images"
	"github.com/safe-install/safe-install/sandbox"
	"github.com/safe-install/safe-install/sandbox/engine"
	"github.com/safe-install/safe-install/sandbox/escape"
)

// Check is one prerequisite: whether it holds, what was seen, and the fix.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Fatal  bool   `json:"fatal"` // a run would fail without it
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Run checks what a run needs, without running one: the user, the
// kernel's user namespaces, Podman and its rootless setup, the engine's
// runtime, storage and cgroups, the sandbox image and the CA bundle.
func Run(ctx context.Context, to engine.Remote) []Check {
	var out []Check
	add := func(c Check) { out = append(out, c) }
	setup := "sudo images/host-setup.sh $USER (from a safe-install checkout)"

	if os.Geteuid() == 0 {
		add(Check{Name: "user", Fatal: true, Detail: "running as root", Fix: "run safe-install as an unprivileged user; " + setup})
	} else {
		add(Check{Name: "user", OK: true, Detail: fmt.Sprintf("uid %d", os.Geteuid())})
	}
	if to.Connection == "" {
		to.Connection = os.Getenv("CONTAINER_HOST")
	}
	if to.Connection != "" {
		// A remote engine: this machine needs no Podman, user namespaces
		// or subuids; the engine's checks below are about the remote.
		add(Check{Name: "connection", OK: true, Detail: escape.RedactedURL(to.Connection)})
		out = append(out, engineChecks(ctx, to)...)
		return append(out, caBundle())
	}
	add(userNamespaces())
	add(subIDs())
	if rt := os.Getenv("XDG_RUNTIME_DIR"); rt == "" {
		add(Check{Name: "XDG_RUNTIME_DIR", Detail: "not set; Podman falls back to /run/user/UID", Fix: "export XDG_RUNTIME_DIR=/run/user/$(id -u) (created by " + setup + ")"})
	} else if fi, err := os.Stat(rt); err != nil || !fi.IsDir() {
		add(Check{Name: "XDG_RUNTIME_DIR", Fatal: true, Detail: rt + " does not exist", Fix: setup})
	} else {
		add(Check{Name: "XDG_RUNTIME_DIR", OK: true, Detail: rt})
	}
	if path, err := engine.LookHost("podman"); err != nil {
		add(Check{Name: "podman", Fatal: true, Detail: "not installed", Fix: setup})
	} else if err == nil {
		v, _ := exec.CommandContext(ctx, path, "--version").Output()
		add(Check{Name: "podman", OK: true, Detail: strings.TrimSpace(string(v))})
	}
	if os.Geteuid() != 0 {
		out = append(out, engineChecks(ctx, to)...)
	}
	return append(out, caBundle())
}

func caBundle() Check {
	if _, err := os.Stat("/etc/ssl/certs/ca-certificates.crt"); err != nil {
		return Check{Name: "CA bundle", Fatal: true, Detail: "/etc/ssl/certs/ca-certificates.crt is missing", Fix: "sudo apt-get install ca-certificates"}
	}
	return Check{Name: "CA bundle", OK: true, Detail: "/etc/ssl/certs/ca-certificates.crt (baked into the image; the egress proxy uses the system trust)"}
}

func engineChecks(ctx context.Context, to engine.Remote) []Check {
	var out []Check
	eng, stop, err := engine.Connect(ctx, to, nil)
	if err != nil {
		fix := "check podman info as this user"
		switch {
		case errors.Is(err, engine.ErrEngineConfig):
			fix = "remove the containers.conf entry named, or give CONTAINERS_CONF a file without it (see the message)"
		case to.Connection != "":
			fix = "see the message: the host key, the connection URL (its socket path) and --identity"
		}
		return append(out, Check{Name: "engine", Fatal: true, Detail: err.Error(), Fix: fix})
	}
	defer stop()
	info, err := eng.Info(ctx)
	if err != nil {
		return append(out, Check{Name: "engine", Fatal: true, Detail: err.Error(), Fix: "check podman info as this user"})
	}
	out = append(out, Check{Name: "engine", OK: info.Rootless, Fatal: !info.Rootless,
		Detail: fmt.Sprintf("Podman %s on %s/%s (%s), rootless %v", info.Version, info.OS, info.Arch, info.Host, info.Rootless),
		Fix:    map[bool]string{false: "use a rootless Podman service (as an unprivileged user)"}[info.Rootless]})
	out = append(out, leftoverCheck(ctx, eng))
	rt := Check{Name: "OCI runtime", OK: true, Detail: info.Runtime}
	if info.Runtime == "crun" && info.Cgroups == "v1" {
		rt = Check{Name: "OCI runtime", Detail: "crun on cgroup v1: fails rootless on hybrid cgroups", Fix: `set runtime = "runc" under [engine] in ~/.config/containers/containers.conf`}
	}
	out = append(out, rt)
	st := Check{Name: "storage", OK: true, Detail: info.Storage}
	if info.Storage == "vfs" {
		st = Check{Name: "storage", Detail: "vfs: every container copies the whole image (slow, large)",
			Fix: `set driver = "overlay" under [storage] in ~/.config/containers/storage.conf, then podman system reset -f`}
	}
	out = append(out, st)
	if info.Cgroups == "v2" {
		out = append(out, Check{Name: "limits", OK: true, Detail: "cgroup v2: memory and pids limits apply where delegated; rlimits apply always"})
	} else {
		out = append(out, Check{Name: "limits", OK: true, Detail: "cgroup v1: Podman ignores --memory/--pids rootless; the run is bounded by rlimits (nproc, data, fsize, nofile), tmpfs sizes, the time limit and bounded copy-back"})
	}
	ref, spec, err := sandbox.DefaultImage(ctx)
	if err != nil {
		return append(out, Check{Name: "image", Fatal: true, Detail: err.Error(), Fix: "install node and npm on this machine"})
	}
	out = append(out, toolchain(ctx, spec))
	if ok, _ := eng.ImageExists(ctx, ref); ok {
		out = append(out, Check{Name: "image", OK: true, Detail: ref + " (matches this host's node and CA bundle)"})
	} else {
		out = append(out, Check{Name: "image", Detail: ref + " is not built yet; the first run builds it (a few minutes)", Fix: "safe-install image build"})
	}
	return out
}

// toolchain names the host's node and npm, the script semantics they
// give, and a difference between the host's npm and the image's.
func toolchain(ctx context.Context, spec images.Spec) Check {
	semantics := "npm 11's script semantics: with no allowScripts every dependency's install scripts run (in the sandbox); with any, only the allowed"
	if images.Major(spec.NPM) >= 12 {
		semantics = "npm 12's script semantics: dependencies' install scripts run only where allowScripts allows them (--sandbox-all-scripts runs the rest in the sandbox too)"
	}
	c := Check{Name: "node and npm", OK: true, Detail: fmt.Sprintf("node %s, npm %s: %s", spec.Node, spec.NPM, semantics)}
	if host, err := images.NPMVersion(ctx); err == nil && host != spec.NPM {
		c.OK = false
		c.Detail = fmt.Sprintf("the host's npm is %s, the sandbox's %s (older npm runs git dependencies' prepare despite --ignore-scripts): %s", host, spec.NPM, semantics)
		c.Fix = "npm install -g npm@11 (or newer), so that the npm on the host behaves as the sandbox's"
	}
	return c
}

// userNamespaces reads the kernel switches that can forbid rootless
// containers: Debian's unprivileged_userns_clone, the namespace count, and
// Ubuntu 24.04's AppArmor restriction.
func userNamespaces() Check {
	read := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(b))
	}
	c := Check{Name: "user namespaces", OK: true, Detail: "allowed"}
	if read("/proc/sys/kernel/unprivileged_userns_clone") == "0" {
		return Check{Name: "user namespaces", Fatal: true, Detail: "kernel.unprivileged_userns_clone = 0", Fix: "sudo sysctl -w kernel.unprivileged_userns_clone=1"}
	}
	if read("/proc/sys/user/max_user_namespaces") == "0" {
		return Check{Name: "user namespaces", Fatal: true, Detail: "user.max_user_namespaces = 0", Fix: "sudo sysctl -w user.max_user_namespaces=15000"}
	}
	if read("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == "1" {
		c.Detail = "AppArmor restricts unprivileged user namespaces (Ubuntu 24.04); Podman's own profile usually allows it"
		c.Fix = "if podman fails with 'operation not permitted', see Ubuntu's apparmor_restrict_unprivileged_userns notes or add an AppArmor profile for podman"
	}
	return c
}

// subIDs checks that the user has subordinate uid and gid ranges.
func subIDs() Check {
	u, err := user.Current()
	if err != nil {
		return Check{Name: "subuid/subgid", Detail: err.Error()}
	}
	files := []string{"/etc/subuid", "/etc/subgid"}
	for _, f := range files {
		if !hasRange(f, u.Username, u.Uid) {
			first := freeRange(files, 100000, 65536)
			r := fmt.Sprintf("%d-%d", first, first+65535)
			return Check{Name: "subuid/subgid", Fatal: true, Detail: "no range for " + u.Username + " in " + f,
				Fix: fmt.Sprintf("sudo usermod --add-subuids %s --add-subgids %s %s (a range no other user holds in %s)", r, r, u.Username, strings.Join(files, " or "))}
		}
	}
	return Check{Name: "subuid/subgid", OK: true, Detail: "ranges for " + u.Username}
}

// freeRange is the lowest start at or above from of size ids that no
// range in files overlaps: a range another user holds would let the two
// users' containers share ids.
func freeRange(files []string, from, size int64) int64 {
	type span struct{ lo, hi int64 }
	var taken []span
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			f := strings.Split(strings.TrimSpace(line), ":")
			if len(f) != 3 {
				continue
			}
			lo, err1 := strconv.ParseInt(f[1], 10, 64)
			n, err2 := strconv.ParseInt(f[2], 10, 64)
			if err1 == nil && err2 == nil && n > 0 {
				taken = append(taken, span{lo, lo + n})
			}
		}
	}
	slices.SortFunc(taken, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	start := from
	for _, t := range taken {
		if t.lo >= start+size {
			break
		}
		if t.hi > start {
			start = t.hi
		}
	}
	return start
}

func hasRange(file, name, uid string) bool {
	f, err := os.Open(file)
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		who, _, _ := strings.Cut(sc.Text(), ":")
		if who == name || who == uid {
			return true
		}
	}
	return false
}

// leftoverCheck is doctor's view of what earlier runs left.
func leftoverCheck(ctx context.Context, eng sandbox.Reaper) Check {
	left, err := sandbox.FindLeftovers(ctx, eng, sandbox.DefaultLimits(), false)
	if err != nil {
		return Check{Name: "leftovers", Detail: err.Error()}
	}
	if len(left) == 0 {
		return Check{Name: "leftovers", OK: true, Detail: "no container or volume of an earlier run is left"}
	}
	var names []string
	for _, l := range left {
		names = append(names, fmt.Sprintf("%s %s (%s)", l.Kind, l.Name, l.Why))
	}
	return Check{Name: "leftovers", Detail: "earlier runs left " + strings.Join(names, ", "),
		Fix: "safe-install clean (the next run removes them too)"}
}
