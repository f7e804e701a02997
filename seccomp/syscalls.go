package seccomp

// allowlist is every syscall allowed without conditions, by what needs it.
// Names of either architecture (x86-64, arm64) are listed; the runtime skips
// names its architecture lacks.
var allowlist = set(
	// Files and directories: npm extracting tarballs, node-gyp, make, gcc.
	"open", "openat", "openat2", "creat", "close", "close_range", "read", "readv", "pread64", "preadv", "preadv2",
	"write", "writev", "pwrite64", "pwritev", "pwritev2", "lseek", "stat", "fstat", "lstat", "newfstatat", "statx",
	"statfs", "fstatfs", "access", "faccessat", "faccessat2", "readlink", "readlinkat", "getdents", "getdents64",
	"mkdir", "mkdirat", "rmdir", "unlink", "unlinkat", "rename", "renameat", "renameat2", "link", "linkat",
	"symlink", "symlinkat", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "fchownat", "lchown", "umask",
	"truncate", "ftruncate", "fallocate", "fsync", "fdatasync", "sync", "syncfs", "sync_file_range", "flock",
	"fcntl", "dup", "dup2", "dup3", "pipe", "pipe2", "utime", "utimes", "utimensat", "futimesat", "chdir", "fchdir",
	"getcwd", "copy_file_range", "sendfile", "splice", "tee", "readahead", "fadvise64", "mknod", "mknodat",
	"getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr", "flistxattr",
	"setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr", "fremovexattr",
	"inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch", "ioctl",
	// Memory: V8's heap and JIT, glibc malloc, gcc.
	"brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock", "mlock2", "munlock",
	"mlockall", "munlockall", "membarrier", "memfd_create", "pkey_alloc", "pkey_free", "pkey_mprotect",
	"get_mempolicy", "set_mempolicy", "mbind",
	// Processes and threads: npm spawning scripts, make -j, libuv's pool.
	"fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "kill", "tkill", "tgkill",
	"getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp", "getsid", "setsid", "set_tid_address",
	"futex", "futex_waitv", "set_robust_list", "get_robust_list", "rseq", "sched_yield", "sched_getaffinity",
	"sched_setaffinity", "sched_getparam", "sched_setparam", "sched_getscheduler", "sched_setscheduler",
	"sched_get_priority_max", "sched_get_priority_min", "sched_rr_get_interval", "sched_getattr", "sched_setattr",
	"getpriority", "setpriority", "ioprio_get", "ioprio_set", "prctl", "arch_prctl", "getrlimit", "setrlimit",
	"prlimit64", "getrusage", "times", "pidfd_open", "pidfd_send_signal", "capget", "seccomp",
	"landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
	// Identity: reading it, and the no-op changes shells and npm make.
	"getuid", "geteuid", "getgid", "getegid", "getgroups", "getresuid", "getresgid",
	"setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid", "setgroups", "setfsuid", "setfsgid",
	// Signals and timers.
	"rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack", "signalfd", "signalfd4", "pause", "alarm",
	"nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres", "gettimeofday", "time", "getitimer",
	"setitimer", "timer_create", "timer_settime", "timer_gettime", "timer_getoverrun", "timer_delete",
	"timerfd_create", "timerfd_settime", "timerfd_gettime", "restart_syscall",
	// Event loops: libuv's epoll, python's selectors.
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd",
	"eventfd2", "poll", "ppoll", "select", "pselect6",
	// Sockets (socket itself is conditional on the address family).
	"socketpair", "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername",
	"setsockopt", "getsockopt", "sendto", "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown",
	// System information and randomness.
	"uname", "sysinfo", "getrandom", "getcpu",
	// SysV and POSIX IPC within the container's own IPC namespace.
	"shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl",
	"msgget", "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
	"mq_notify", "mq_getsetattr",
	// Asynchronous I/O of the old kind (no io_uring).
	"io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents",
)

type denial struct {
	why   string
	errno uint
}

// denied is every syscall refused on purpose, with why. Most fall to the
// default action (EPERM); those with ENOSYS get an explicit rule so callers
// take their fallback path.
var denied = map[string]denial{
	"unshare":           {"creates namespaces: the way to nested user namespaces and their root", eperm},
	"setns":             {"joins other namespaces", eperm},
	"clone3":            {"its flags sit in memory seccomp cannot read; ENOSYS makes glibc fall back to clone", enosys},
	"mount":             {"mounts filesystems", eperm},
	"umount":            {"unmounts filesystems", eperm},
	"umount2":           {"unmounts filesystems", eperm},
	"pivot_root":        {"changes the root filesystem", eperm},
	"chroot":            {"changes the root directory", eperm},
	"open_tree":         {"new mount API: clones mounts", eperm},
	"move_mount":        {"new mount API: attaches mounts", eperm},
	"fsopen":            {"new mount API: creates a filesystem context", eperm},
	"fsconfig":          {"new mount API: configures a filesystem", eperm},
	"fsmount":           {"new mount API: creates a mount", eperm},
	"fspick":            {"new mount API: reconfigures a mount", eperm},
	"mount_setattr":     {"changes mount properties", eperm},
	"ptrace":            {"reads and controls other processes", eperm},
	"process_vm_readv":  {"reads another process's memory", eperm},
	"process_vm_writev": {"writes another process's memory", eperm},
	"process_madvise":   {"acts on another process's memory", eperm},
	"kcmp":              {"compares other processes' kernel objects", eperm},
	"pidfd_getfd":       {"steals a file descriptor from another process", eperm},
	"bpf":               {"loads programs into the kernel", eperm},
	"perf_event_open":   {"kernel profiling: a large attack surface and a side channel", eperm},
	"keyctl":            {"kernel keyrings are not namespaced: other users' keys", eperm},
	"add_key":           {"kernel keyrings are not namespaced", eperm},
	"request_key":       {"kernel keyrings are not namespaced", eperm},
	"userfaultfd":       {"stalls kernel page faults at will: a staple of kernel exploits", eperm},
	"io_uring_setup":    {"io_uring runs syscalls seccomp never sees; ENOSYS makes libuv fall back", enosys},
	"io_uring_enter":    {"io_uring runs syscalls seccomp never sees", enosys},
	"io_uring_register": {"io_uring runs syscalls seccomp never sees", enosys},
	"open_by_handle_at": {"opens files by handle, around path checks (the 'shocker' escape)", eperm},
	"name_to_handle_at": {"makes the handles open_by_handle_at uses", eperm},
	"init_module":       {"loads kernel modules", eperm},
	"finit_module":      {"loads kernel modules", eperm},
	"delete_module":     {"unloads kernel modules", eperm},
	"kexec_load":        {"replaces the running kernel", eperm},
	"kexec_file_load":   {"replaces the running kernel", eperm},
	"reboot":            {"reboots the machine", eperm},
	"swapon":            {"changes swap", eperm},
	"swapoff":           {"changes swap", eperm},
	"acct":              {"switches process accounting", eperm},
	"quotactl":          {"changes disk quotas", eperm},
	"syslog":            {"reads the kernel log (addresses, other containers' messages)", eperm},
	"sethostname":       {"changes the host name", eperm},
	"setdomainname":     {"changes the domain name", eperm},
	"settimeofday":      {"sets the clock", eperm},
	"clock_settime":     {"sets the clock", eperm},
	"clock_adjtime":     {"adjusts the clock", eperm},
	"adjtimex":          {"adjusts the clock", eperm},
	"lookup_dcookie":    {"kernel profiling interface", eperm},
	"fanotify_init":     {"watches the whole filesystem", eperm},
	"fanotify_mark":     {"watches the whole filesystem", eperm},
	"iopl":              {"raw I/O port access", eperm},
	"ioperm":            {"raw I/O port access", eperm},
	"vhangup":           {"hangs up the terminal", eperm},
	"memfd_secret":      {"memory the kernel hides even from itself; no build needs it", eperm},
	"move_pages":        {"moves other processes' pages between NUMA nodes", eperm},
	"migrate_pages":     {"moves other processes' pages between NUMA nodes", eperm},
	"remap_file_pages":  {"deprecated; a history of kernel bugs", eperm},
	"personality":       {"other execution domains weaken ASLR; only PER_LINUX (0) is allowed", eperm},
	"modify_ldt":        {"16-bit segments: a history of kernel bugs", eperm},
	"uselib":            {"loads a.out libraries: obsolete", eperm},
}

func set(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}
