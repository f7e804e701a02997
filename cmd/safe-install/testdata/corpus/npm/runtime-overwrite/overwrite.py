# RT-43: runtime and binary overwrite. Each write is attempted once (and
# /proc/self/exe a few times); nothing is written if the open fails. The
# results go to probe.json.
import errno, json, os, shutil

here = os.path.dirname(os.path.abspath(__file__))
probe = {"writes": {}, "fds": {}}

def err(e):
    return errno.errorcode.get(e.errno, str(e.errno))

targets = ["/proc/self/exe"] * 3 + ["/proc/1/exe", shutil.which("node") or "/usr/local/bin/node",
    "/usr/local/lib/node_modules/npm/bin/npm-cli.js", "/bin/sh", "/etc/ld.so.preload", "/etc/profile.d/x.sh",
    "/proc/sys/kernel/core_pattern", "/proc/sysrq-trigger", "/sys/fs/cgroup/cgroup.procs", "/sys/kernel/uevent_helper"]
for t in targets:
    try:
        fd = os.open(t, os.O_WRONLY | os.O_APPEND | (os.O_CREAT if t.startswith("/etc/") else 0), 0o644)
        try:
            os.write(fd, b"#!/bin/sh\n# RT-43 was here\n")
            probe["writes"][t] = "WROTE"
        except OSError as e:
            probe["writes"][t] = "opened, write " + err(e)
        finally:
            os.close(fd)
    except OSError as e:
        probe["writes"][t] = err(e)

for n in os.listdir("/proc/self/fd"):
    p = "/proc/self/fd/" + n
    try:
        probe["fds"][n] = {"link": os.readlink(p), "dir": os.path.isdir(p)}
    except OSError as e:
        probe["fds"][n] = {"link": "!" + err(e), "dir": False}

with open(os.path.join(here, "probe.json"), "w") as f:
    json.dump(probe, f, indent=1)
