# Malicious (RT-56): its build waits for a network that never comes, as a
# build that downloads a toolchain would: connections to the host listener
# in a retry loop with sleeps, and a urlopen with no timeout. Metadata
# works (the fetch phase succeeds); only the build waits.
import json, os, socket, sys, time, urllib.request

from setuptools import setup

if "bdist_wheel" in sys.argv:
    port = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "target.json")))["port"]
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
            break
        except OSError as e:
            print("net-wait: waiting for the network:", e, file=sys.stderr, flush=True)
        try:
            urllib.request.urlopen("http://127.0.0.1:9/", timeout=None)
        except OSError:
            pass
        time.sleep(1)
setup(name="net-wait", version="1.0", py_modules=[])
