package seccomp

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Phase names the container a profile is for.
type Phase string

const (
	Fetch   Phase = "fetch"
	Scripts Phase = "scripts"
)

// Phases lists the phases that have a profile.
func Phases() []Phase { return []Phase{Fetch, Scripts} }

// errno values the profile answers with.
const (
	eperm  = 1
	enosys = 38
)

// Clone flags that create namespaces (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC,
// NEWUSER, NEWPID, NEWNET). clone with any of them is refused.
const cloneNewMask = 0x7E020000

// Address families a build may use: local sockets, and IPv4/IPv6 (the
// scripts phase has only lo; the fetch phase reaches the registry).
const (
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16
)

// netlinkRoute is the only netlink protocol allowed: getifaddrs (node's
// os.networkInterfaces) reads interfaces through it. Audit, uevent,
// netfilter, xfrm and sock_diag are refused.
const netlinkRoute = 0

// Profile returns the seccomp profile of a phase: deny by default with EPERM,
// allow what node, npm, node-gyp, make, gcc/g++, python3 and pip builds use,
// answer ENOSYS for io_uring and clone3 so runtimes fall back to plain
// syscalls, and hold clone, socket and personality to safe arguments.
//
// Both phases get the same rules today: the fetch phase runs no package code
// for npm, but runs sdist metadata hooks for pip (corpus case F2,
// cmd/safe-install/testdata/corpus/README.md), so it is held
// to the same allowlist; only its network differs, and that is not seccomp's
// job. The function takes the phase so the two can diverge.
func Profile(phase Phase) *specs.LinuxSeccomp {
	allowed := make([]string, 0, len(allowlist))
	for name := range allowlist {
		allowed = append(allowed, name)
	}
	sort.Strings(allowed)
	errno := func(n uint) *uint { return &n }
	return &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errno(eperm),
		Architectures:   []specs.Arch{specs.ArchX86_64, specs.ArchAARCH64},
		Syscalls: []specs.LinuxSyscall{
			{Names: allowed, Action: specs.ActAllow},
			{Names: enosysCalls(), Action: specs.ActErrno, ErrnoRet: errno(enosys)},
			{Names: []string{"clone"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: cloneNewMask, ValueTwo: 0, Op: specs.OpMaskedEqual},
			}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: afUnix, Op: specs.OpEqualTo}}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: afInet, Op: specs.OpEqualTo}}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: afInet6, Op: specs.OpEqualTo}}},
			{Names: []string{"socket"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{
				{Index: 0, Value: afNetlink, Op: specs.OpEqualTo},
				{Index: 2, Value: netlinkRoute, Op: specs.OpEqualTo},
			}},
			// PER_LINUX only: no other execution domain, not even the query.
			{Names: []string{"personality"}, Action: specs.ActAllow, Args: []specs.LinuxSeccompArg{{Index: 0, Value: 0, Op: specs.OpEqualTo}}},
		},
	}
}

func enosysCalls() []string {
	var out []string
	for name, d := range denied {
		if d.errno == enosys {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

// JSON is the profile as the engine reads it (the OCI and Podman formats
// share these field names).
func JSON(p *specs.LinuxSeccomp) ([]byte, error) {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the seccomp profile: %w", err)
	}
	return append(b, '\n'), nil
}

// Hash identifies a profile in the run report.
func Hash(p *specs.LinuxSeccomp) (string, error) {
	b, err := JSON(p)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:]), nil
}

// Allowed reports whether a syscall name is allowed without conditions.
func Allowed(name string) bool { return allowlist[name] }

// Denied lists every refused syscall with the reason it is refused.
func Denied() map[string]string {
	out := make(map[string]string, len(denied))
	for n, d := range denied {
		out[n] = d.why
	}
	return out
}
