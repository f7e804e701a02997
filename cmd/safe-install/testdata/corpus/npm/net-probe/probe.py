# RT-30: loopback and host-loopback reachability. TCP connections go only to
# loopback addresses (the host listener's port: a --network=host mistake
# would reach it); every other address gets a UDP connect(), which picks a
# route and sends nothing. Results go to probe.json.
import errno, json, os, socket

here = os.path.dirname(os.path.abspath(__file__))
port = json.load(open(os.path.join(here, "target.json")))["port"]
probe = {"tcp": {}, "udp": {}, "files": {}}

def err(e):
    return errno.errorcode.get(e.errno, str(e.errno)) if isinstance(e, OSError) and e.errno else type(e).__name__

for host, fam in (("127.0.0.1", socket.AF_INET), ("127.0.0.2", socket.AF_INET), ("::1", socket.AF_INET6)):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.settimeout(3)
    try:
        s.connect((host, port))
        s.sendall(b"RT-30 reached the host listener\n")
        probe["tcp"][host] = "connected"
    except OSError as e:
        probe["tcp"][host] = err(e)
    finally:
        s.close()

def read(p):
    try:
        with open(p) as f:
            return f.read()
    except OSError as e:
        return "!" + err(e)

for p in ("/proc/net/dev", "/proc/net/route", "/proc/net/if_inet6", "/etc/hosts"):
    probe["files"][p] = read(p)

targets = ["10.0.2.2", "169.254.1.1", "169.254.169.254", "fe80::1%eth0"]
# The default gateway, if the route table has one.
for line in read("/proc/net/route").splitlines()[1:]:
    f = line.split()
    if len(f) > 2 and f[1] == "00000000":
        targets.append(socket.inet_ntoa(bytes.fromhex(f[2])[::-1]))
# Host aliases, only if /etc/hosts names them (no DNS).
for line in read("/etc/hosts").splitlines():
    f = line.split()
    if len(f) > 1 and any(n in ("host.containers.internal", "host.docker.internal") for n in f[1:]):
        targets.append(f[0])
for t in targets:
    fam = socket.AF_INET6 if ":" in t else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    try:
        s.connect((t, 80))
        probe["udp"][t] = "route"
    except OSError as e:
        probe["udp"][t] = err(e)
    finally:
        s.close()

with open(os.path.join(here, "probe.json"), "w") as f:
    json.dump(probe, f, indent=1)
