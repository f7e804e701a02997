package engine

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/containers/podman/v5/pkg/bindings/containers"

	"github.com/safe-install/safe-install/sandbox/escape"
)

// Every container's first process is mountCheckScript, which checks the
// container from inside before its command runs, because what an engine's
// own configuration adds to every container does not show in the inspect
// data (Podman 4.3.1, measured over the API: containers.conf's volumes and
// devices, mounts.conf's files, a hook's mounts appear in no field), and a
// remote engine's configuration files are not ours to read. The kernel's
// mount table is the truth, on every engine: it lists each of them.
//
// It runs nothing but sh's built-ins (read, case, printf, test), reads
// /proc/self/mountinfo, /proc/self/status, /proc/net/dev and /dev (2 to 5
// ms in the image, measured), and either execs the command or exits
// mountCheckExit having written one line per finding to stderr, marked
// with a nonce that only it knew: it took the nonce from its environment
// and dropped it before exec, so no later process in the container can
// forge a refusal with the engine's configuration to blame.
//
// Allowed: the spec's named volumes and tmpfs at their destinations, the
// root, and what Podman itself sets up in every container (rootless 4.3,
// measured; 5.x's defaults are the same, not measured here): proc and its masks and read-only re-binds (the same proc, by
// device number), sysfs, its masks and the cgroup mounts, /dev's tmpfs,
// devpts, mqueue and shm, the six device nodes a rootless runtime binds
// from the host (/dev/null...), and the files of the container's own
// userdata directory (/etc/hosts, /etc/hostname, /run/.containerenv...),
// each once. Anything else is refused: a host path or device from
// containers.conf, /run/secrets from mounts.conf, whatever a hook mounted.
// It also sees what the inspect data may not say right: that it is pid 1
// (its own pid namespace: invariant 10), that lo is the only interface,
// and, as the spec asks, no capability in any set, no-new-privileges, a
// seccomp filter.
const mountCheckScript = `n=$` + mountCheckEnv + `; unset ` + mountCheckEnv + `
v=" $1 " t=" $2 " f=" $3 " bad=0 pdev= seen=" "; shift 3
no() { printf 'safe-install-check %s: %s\n' "$n" "$1" >&2; bad=1; }
while read -r _ _ dev root mp _ rest; do
	case $rest in "- "*) rest=${rest#- } ;; *) rest=${rest#* - } ;; esac
	fs=${rest%% *}
	case $seen in *" $mp "*) no "a second mount on $mp ($fs $root)"; continue ;; esac
	seen="$seen$mp "
	case $v in *" $mp "*) continue ;; esac
	case $t in *" $mp "*) [ "$fs:$root" = tmpfs:/ ] && continue ;; esac
	case $mp in
	/) continue ;;
	/proc) [ "$fs" = proc ] && pdev=$dev && continue ;;
	/proc/*) case $fs:$root in "proc:"* | tmpfs:/ | devtmpfs:/null) [ "$fs" != proc ] || [ "$dev" = "$pdev" ] && continue ;; esac ;;
	/sys/fs/cgroup | /sys/fs/cgroup/*) case $fs:$root in cgroup:* | cgroup2:* | tmpfs:/) continue ;; esac ;;
	/sys | /sys/*) case $fs:$root in sysfs:* | tmpfs:/) continue ;; esac ;;
	/dev | /dev/shm) [ "$fs:$root" = tmpfs:/ ] && continue ;;
	/dev/pts) [ "$fs" = devpts ] && continue ;;
	/dev/mqueue) [ "$fs" = mqueue ] && continue ;;
	/dev/null | /dev/zero | /dev/full | /dev/tty | /dev/random | /dev/urandom) [ "$root" = "/${mp#/dev/}" ] && continue ;;
	/etc/hostname | /etc/hosts | /etc/resolv.conf | /etc/passwd | /etc/group | /run/.containerenv)
		case $root in */userdata/"${mp##*/}") continue ;; esac ;;
	esac
	no "mount $mp ($fs $root)"
done </proc/self/mountinfo
for d in /dev/* /dev/*/*; do
	if ! [ -L "$d" ] && { [ -c "$d" ] || [ -b "$d" ]; }; then
		case $d in /dev/null | /dev/zero | /dev/full | /dev/tty | /dev/random | /dev/urandom | /dev/pts/*) ;; *) no "device $d" ;; esac
	fi
done
pid=$$; [ "$pid" = 1 ] || no "a pid namespace not its own (the check is pid $pid)"
while read -r i _; do case $i in Inter-* | face | lo:) ;; *) no "network interface $i" ;; esac; done </proc/net/dev
while read -r k x; do
	case $k$f in
	CapBnd:*" nocaps "* | CapEff:*" nocaps "* | CapPrm:*" nocaps "*) [ "$x" = 0000000000000000 ] || no "$k $x" ;;
	NoNewPrivs:*" nnp "*) [ "$x" = 1 ] || no "no-new-privileges off" ;;
	Seccomp:*" seccomp "*) [ "$x" = 2 ] || no "no seccomp filter (mode $x)" ;;
	esac
done </proc/self/status
[ $bad = 0 ] || exit ` + mountCheckExitText + `
exec "$@"`

const (
	// mountCheckEnv carries the nonce to the check.
	mountCheckEnv = "SAFE_INSTALL_CHECK"
	// mountCheckExit is the check's refusal: above what a shell gives a
	// signal's death (128+n up to 192), below 255.
	mountCheckExit     = 213
	mountCheckExitText = "213"
)

// mountCheck is what Wait needs to tell the check's refusal: the
// container's role and the nonce its lines carry.
type mountCheck struct {
	role, nonce string
}

// withMountCheck is cmd behind the check of c's mounts, and the nonce to
// put in the container's environment.
func withMountCheck(c ContainerSpec, cmd []string) ([]string, string) {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	var vols, tmpfs []string
	for _, v := range c.Volumes {
		vols = append(vols, v.Dest)
	}
	for _, m := range c.Tmpfs {
		tmpfs = append(tmpfs, m.Dest)
	}
	var flags []string
	if slices.Contains(c.CapDrop, "all") {
		flags = append(flags, "nocaps")
	}
	if c.NoNewPrivileges {
		flags = append(flags, "nnp")
	}
	if c.SeccompProfile != "" {
		flags = append(flags, "seccomp")
	}
	wrapped := append([]string{"/bin/sh", "-c", mountCheckScript, "safe-install-check",
		strings.Join(vols, " "), strings.Join(tmpfs, " "), strings.Join(flags, " ")}, cmd...)
	return wrapped, hex.EncodeToString(b)
}

// mountCheckLogBytes bounds what is read of a refused container's output:
// the check writes a line per finding, and nothing else ran.
const mountCheckLogBytes = 64 << 10

// mountCheckRefusal is the error for a container whose check refused it
// (it exited mountCheckExit and its output holds lines with its nonce), or
// nil: then the exit code is its command's own.
func (p *Podman) mountCheckRefusal(ctx context.Context, id string) error {
	v, ok := p.checks.Load(id)
	if !ok {
		return nil
	}
	mc := v.(mountCheck)
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	var out bytes.Buffer
	lines := make(chan string, 64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for l := range lines {
			if out.Len() < mountCheckLogBytes {
				out.WriteString(strings.TrimRight(l, "\n") + "\n")
			}
		}
	}()
	_ = containers.Logs(p.ctx(lctx), id, new(containers.LogOptions).WithStderr(true).WithStdout(true).WithTail("200"), lines, lines)
	close(lines)
	<-done
	found := mountCheckFindings(&out, mc.nonce)
	if len(found) == 0 {
		return nil
	}
	return refusal(mc.role, p.host, found)
}

// mountCheckFindings are the check's lines of output r, by their nonce.
func mountCheckFindings(r io.Reader, nonce string) []string {
	prefix := "safe-install-check " + nonce + ": "
	var found []string
	sc := bufio.NewScanner(io.LimitReader(r, mountCheckLogBytes))
	for sc.Scan() && len(found) < 20 {
		if rest, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			found = append(found, rest)
		}
	}
	return found
}

// refusal is the ErrEngineConfig for a container that carries what its
// spec did not ask for. found is engine data: escaped here.
func refusal(role, host string, found []string) error {
	shown := make([]string, len(found))
	for i, f := range found {
		shown[i] = escape.Line(f)
	}
	where := "the machine that runs the engine"
	if host != "" && host != "local" {
		where += " (" + host + ")"
	}
	return fmt.Errorf("%w: the %s container has what safe-install did not ask for, which the engine adds to every "+
		"container it creates: %s. None of it may be in a sandbox (a host path or device, an engine-side hook's doing). "+
		"Nothing ran in it but safe-install's check. On %s, remove the entry from containers.conf "+
		"([containers] volumes, mounts, devices, annotations), mounts.conf or the hooks directories, and restart its "+
		"Podman service", ErrEngineConfig, role, strings.Join(shown, "; "), where)
}
