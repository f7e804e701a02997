package seccomp

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

var update = flag.Bool("update", false, "rewrite the golden profiles in testdata")

// The list of calls every phase must refuse.
var mustDeny = []string{
	"unshare", "setns", "clone3", "mount", "umount2", "pivot_root", "open_tree", "move_mount", "fsopen",
	"fsconfig", "fsmount", "fspick", "mount_setattr", "ptrace", "process_vm_readv", "process_vm_writev",
	"kcmp", "bpf", "perf_event_open", "keyctl", "add_key", "request_key", "userfaultfd", "io_uring_setup",
	"io_uring_enter", "io_uring_register", "open_by_handle_at", "name_to_handle_at", "init_module",
	"finit_module", "delete_module", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff", "acct",
	"quotactl", "syslog", "sethostname", "setdomainname", "settimeofday", "clock_settime", "adjtimex",
	"clock_adjtime", "lookup_dcookie", "personality", "chroot",
}

func TestDeniedCallsAreNotAllowed(t *testing.T) {
	t.Parallel()
	denied := Denied()
	for _, name := range mustDeny {
		if Allowed(name) {
			t.Errorf("%s is in the allowlist", name)
		}
		if denied[name] == "" {
			t.Errorf("%s has no reason in the denied table", name)
		}
	}
	for name := range denied {
		if Allowed(name) {
			t.Errorf("%s is both denied and allowed", name)
		}
	}
	for _, ph := range Phases() {
		p := Profile(ph)
		if p.DefaultAction != specs.ActErrno || p.DefaultErrnoRet == nil || *p.DefaultErrnoRet != eperm {
			t.Errorf("%s: default action %s/%v, want EPERM", ph, p.DefaultAction, p.DefaultErrnoRet)
		}
		for _, rule := range p.Syscalls {
			if rule.Action != specs.ActAllow || len(rule.Args) > 0 {
				continue
			}
			for _, n := range rule.Names {
				if _, bad := denied[n]; bad {
					t.Errorf("%s: unconditional allow rule names denied %s", ph, n)
				}
			}
		}
	}
}

// ENOSYS, not EPERM, for io_uring and clone3: libuv and glibc fall back.
func TestENOSYSCalls(t *testing.T) {
	t.Parallel()
	for _, rule := range Profile(Scripts).Syscalls {
		if rule.ErrnoRet != nil && *rule.ErrnoRet == enosys {
			got := map[string]bool{}
			for _, n := range rule.Names {
				got[n] = true
			}
			for _, want := range []string{"clone3", "io_uring_setup", "io_uring_enter", "io_uring_register"} {
				if !got[want] {
					t.Errorf("%s does not answer ENOSYS", want)
				}
			}
			return
		}
	}
	t.Fatal("no ENOSYS rule")
}

// The profile is strictly narrower than Podman's default: every name it
// allows, Podman's allows too, and Podman's allows more.
func TestNarrowerThanPodmanDefault(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile("/usr/share/containers/seccomp.json")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("Podman's default profile is missing in CI: %v", err)
		}
		t.Skipf("Podman's default profile is not installed (fails in CI): %v", err)
	}
	var podman struct {
		Syscalls []struct {
			Names  []string
			Action string
		}
	}
	if err := json.Unmarshal(data, &podman); err != nil {
		t.Fatal(err)
	}
	theirs := map[string]bool{}
	for _, r := range podman.Syscalls {
		if r.Action == "SCMP_ACT_ALLOW" {
			for _, n := range r.Names {
				theirs[n] = true
			}
		}
	}
	ours := map[string]bool{}
	for _, r := range Profile(Scripts).Syscalls {
		if r.Action == specs.ActAllow {
			for _, n := range r.Names {
				ours[n] = true
			}
		}
	}
	t.Logf("syscall names allowed (any condition): safe-install %d, Podman default %d", len(ours), len(theirs))
	for n := range ours {
		if !theirs[n] && n != "futex_waitv" && n != "fchmodat2" {
			t.Errorf("%s is allowed here but not by Podman's default", n)
		}
	}
	if len(ours) >= len(theirs) {
		t.Errorf("allows %d names, Podman's default %d: not narrower", len(ours), len(theirs))
	}
}

func TestGolden(t *testing.T) {
	t.Parallel()
	for _, ph := range Phases() {
		got, err := JSON(Profile(ph))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join("testdata", string(ph)+".json")
		if *update {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run go test ./seccomp -update)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s profile differs from %s; review the change and run go test ./seccomp -update", ph, path)
		}
	}
}
