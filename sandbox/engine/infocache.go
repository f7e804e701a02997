package engine

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containers/podman/v5/pkg/bindings"
)

// The info of a service a run starts for itself (no Podman service was
// running) is kept between runs. Podman computes it anew at
// every call, running rpm, dpkg and dpkg-query for the packages of conmon,
// the OCI runtime and slirp4netns and the runtime and conmon for their
// versions: 0.18 s of a one-package npm install's 1.6 s here (Podman
// 4.3.1), before anything else of the run can start. Every field follows
// from this machine's state: the Podman binary and the service's version,
// the user and the boot (cgroups), the configuration files (runtime,
// storage driver) and /etc/subuid and /etc/subgid (the mapping that
// names the lasting cache), and a private service runs with this
// process's environment. The record's key is a digest of all of those,
// so a change to any of them asks Podman again.
//
// A service already running on a local socket (one the user started, or
// an earlier run's test harness) was started with an environment of its
// own and may have been restarted since: its record also holds the
// process that listens on the socket, by pid and start time, which
// names one process of one boot. A process's environment, user namespace
// (the id mapping), binary and the configuration it read at its start are
// fixed for its life, so its info is too (Podman 4.3.1 answered a
// running service's info in 0.18 s here, 0.8-1.1 s under load: the
// critical path of every run, before the first container). The socket's
// listener must be a Podman process: a socket systemd activates is
// listened on by systemd, which starts a new service at will, so that
// one, and any remote, is asked every time.

// infoRecordMax bounds the record read back (it is a few hundred bytes).
const infoRecordMax = 64 << 10

type infoRecord struct {
	Key  string     `json:"key"`
	Info EngineInfo `json:"info"`
}

// cachedInfo answers Info for a local engine from the record when its key
// still holds; it asks Podman otherwise and records the answer. The
// service must answer its ping either way: a gone service is not
// answered for (engineGone relies on that).
func (p *Podman) cachedInfo(ctx context.Context, ask func(context.Context) (EngineInfo, error)) (EngineInfo, error) {
	if err := p.ping(ctx); err != nil {
		return EngineInfo{}, fmt.Errorf("asking Podman for its info: %w", err)
	}
	// The record is of this user's own engine: a socket another user
	// listens on (root's rootful service, another user's rootless one, at a
	// path that held this user's service when the record was made) is
	// asked every time, so that its rootless flag and id mapping are its own.
	cred, err := p.listener()
	if err != nil || int(cred.Uid) != os.Getuid() {
		return ask(ctx)
	}
	serving := ""
	if !p.private {
		if serving = serviceProcess(int(cred.Pid)); serving == "" {
			return ask(ctx)
		}
	}
	dir, err := os.UserCacheDir()
	if err != nil {
		return ask(ctx)
	}
	file := filepath.Join(dir, "safe-install", "engine-info.json")
	key := p.infoKey(serving)
	if rec, ok := readInfoRecord(file); ok && rec.Key == key {
		return rec.Info, nil
	}
	info, err := ask(ctx)
	if err == nil {
		p.unrecorded.Store(&pendingInfo{file: file, rec: infoRecord{Key: key, Info: info}})
	}
	return info, err
}

// pendingInfo is an answer not yet recorded: RecordInfo writes it once
// the run has succeeded, so that a failed run leaves the host as it was.
type pendingInfo struct {
	file string
	rec  infoRecord
}

// RecordInfo records the info a local engine last gave, for the next
// runs; the caller calls it once its run has succeeded.
func (p *Podman) RecordInfo() {
	if pi := p.unrecorded.Swap(nil); pi != nil {
		writeInfoRecord(pi.file, pi.rec)
	}
}

// ping asks the service whether it answers, at the cost of one request.
func (p *Podman) ping(ctx context.Context) error {
	conn, err := bindings.GetClient(p.conn)
	if err != nil {
		return err
	}
	resp, err := conn.DoRequest(p.ctx(ctx), nil, "GET", "/_ping", nil, nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
	if !resp.IsSuccess() {
		return fmt.Errorf("the service's ping answered %s", resp.Status)
	}
	return nil
}

// listener tells who listens on the engine's unix socket (SO_PEERCRED:
// the uid and pid of the process that called listen(), systemd's for an
// activated socket), which its info follows from and no file stamp shows.
func (p *Podman) listener() (*syscall.Ucred, error) {
	conn, err := bindings.GetClient(p.conn)
	if err != nil {
		return nil, err
	}
	if conn.URI == nil || conn.URI.Scheme != "unix" {
		return nil, fmt.Errorf("not a unix socket")
	}
	c, err := net.DialTimeout("unix", conn.URI.Path, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	raw, err := c.(*net.UnixConn).SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *syscall.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	if cerr != nil {
		return nil, cerr
	}
	return cred, nil
}

// serviceProcess names the process pid for the info record when it is a
// Podman process (its executable's name is podman): its pid, its start
// time since boot (a pid is reused, a pid with its start time is not, in
// one boot) and its id maps. "" when it is not one, or is gone.
func serviceProcess(pid int) string {
	proc := filepath.Join("/proc", strconv.Itoa(pid))
	exe, err := os.Readlink(filepath.Join(proc, "exe"))
	if err != nil || filepath.Base(exe) != "podman" {
		return ""
	}
	start := startTime(proc)
	if start == "" {
		return ""
	}
	uids, uerr := readSmall(filepath.Join(proc, "uid_map"))
	gids, gerr := readSmall(filepath.Join(proc, "gid_map"))
	if uerr != nil || gerr != nil {
		return ""
	}
	// The start time read again: had the process ended and its pid gone
	// to another between the two reads, the maps would be the other's.
	if startTime(proc) != start {
		return ""
	}
	return fmt.Sprintf("pid %d start %s exe %s\nuid_map %q\ngid_map %q", pid, start, exe, uids, gids)
}

// startTime is field 22 of /proc/PID/stat, the process's start in clock
// ticks since boot; "" when unreadable.
func startTime(proc string) string {
	stat, err := readSmall(filepath.Join(proc, "stat"))
	if err != nil {
		return ""
	}
	// The command name (field 2) is in parentheses and may hold spaces
	// or parentheses of its own: the fields after the last ')'.
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return ""
	}
	fields := strings.Fields(stat[i+1:])
	if len(fields) < 20 {
		return ""
	}
	return fields[19]
}

// readSmall reads a /proc file of a few hundred bytes at most.
func readSmall(name string) (string, error) {
	f, err := os.Open(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 16<<10))
	return string(data), err
}

// infoKey digests what a local engine's info follows from; serving names
// the service's process when it is not this run's own (serviceProcess).
func (p *Podman) infoKey(serving string) string {
	h := sha256.New()
	fmt.Fprintf(h, "v1\nhost %s\nuid %d\nprivate %t\nserving %s\n", p.host, os.Getuid(), p.private, serving)
	if p.conn == nil {
		return ""
	}
	if v := bindings.ServiceVersion(p.conn); v != nil {
		fmt.Fprintf(h, "service %s\n", v)
	}
	boot, _ := os.ReadFile("/proc/sys/kernel/random/boot_id")
	fmt.Fprintf(h, "boot %s\n", strings.TrimSpace(string(boot)))
	for _, v := range []string{"CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE", "CONTAINERS_STORAGE_CONF", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "HOME", "PATH"} {
		fmt.Fprintf(h, "env %s=%q\n", v, os.Getenv(v))
	}
	for _, f := range infoInputs() {
		fmt.Fprintf(h, "file %s %s\n", f, fileStamp(f))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// infoInputs are the files a local engine's info follows from.
func infoInputs() []string {
	files := []string{"/etc/subuid", "/etc/subgid",
		"/etc/containers/containers.conf", "/etc/containers/containers.conf.d", "/etc/containers/storage.conf",
		"/usr/share/containers/containers.conf", "/usr/share/containers/storage.conf",
		"/usr/libexec/podman/conmon", "/usr/local/libexec/podman/conmon"}
	for _, v := range []string{"CONTAINERS_CONF", "CONTAINERS_CONF_OVERRIDE", "CONTAINERS_STORAGE_CONF"} {
		if f := os.Getenv(v); f != "" {
			files = append(files, f)
		}
	}
	if dir, err := os.UserConfigDir(); err == nil {
		c := filepath.Join(dir, "containers")
		files = append(files, filepath.Join(c, "containers.conf"), filepath.Join(c, "containers.conf.d"), filepath.Join(c, "storage.conf"))
	}
	data := os.Getenv("XDG_DATA_HOME")
	if home, err := os.UserHomeDir(); data == "" && err == nil {
		data = filepath.Join(home, ".local", "share")
	}
	if data != "" {
		// Its inode changes with a `podman system reset`, which may pick
		// another storage driver.
		files = append(files, filepath.Join(data, "containers", "storage"))
	}
	for _, bin := range []string{"podman", "conmon", "runc", "crun", "krun", "slirp4netns", "pasta"} {
		if f, err := exec.LookPath(bin); err == nil {
			files = append(files, f)
		}
	}
	return files
}

// fileStamp tells a file's identity and last change, "absent" when there
// is none.
func fileStamp(name string) string {
	fi, err := os.Stat(name)
	if err != nil {
		return "absent"
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return strconv.FormatInt(fi.ModTime().UnixNano(), 10)
	}
	return fmt.Sprintf("%d:%d %d %d.%d %d.%d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
}

func readInfoRecord(file string) (infoRecord, bool) {
	var rec infoRecord
	f, err := os.Open(file)
	if err != nil {
		return rec, false
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, infoRecordMax+1))
	if err != nil || len(data) > infoRecordMax || json.Unmarshal(data, &rec) != nil {
		return rec, false
	}
	return rec, rec.Key != ""
}

// writeInfoRecord replaces the record whole (a rename), or leaves it:
// a record not written is asked for again next time.
func writeInfoRecord(file string, rec infoRecord) {
	data, err := json.Marshal(rec)
	if err != nil {
		return
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), ".engine-info-*")
	if err != nil {
		return
	}
	_, werr := tmp.Write(data)
	if cerr := tmp.Close(); werr != nil || cerr != nil || os.Rename(tmp.Name(), file) != nil {
		os.Remove(tmp.Name())
	}
}
