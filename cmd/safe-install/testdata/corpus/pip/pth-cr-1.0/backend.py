# Issue 15, class 6: a .pth file whose import line hides behind a carriage
# return. Python reads .pth files with universal newlines, so "\r" ends a
# line and the import line runs at every Python start; a reader that
# splits on "\n" sees one path line. An in-tree PEP 517 backend writes the
# wheel by hand, so that it holds exactly these bytes; it runs nothing else.
import base64
import hashlib
import os
import zipfile

NAME, VERSION = "pth_cr", "1.0"
DIST = "%s-%s.dist-info" % (NAME, VERSION)
# The payload only leaves a marker: it writes ~/.cache/pth-cr-ran when it runs.
PAYLOAD = "import os; d = os.path.expanduser('~/.cache'); os.makedirs(d, exist_ok=True); open(os.path.join(d, 'pth-cr-ran'), 'w').write('ran')"
FILES = {
    NAME + "/__init__.py": "",
    NAME + ".pth": "/nonexistent/pth-cr\r" + PAYLOAD + "\n",
}
EXECUTABLE = ()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = dict(FILES)
    files[DIST + "/METADATA"] = "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (NAME, VERSION)
    files[DIST + "/WHEEL"] = "Wheel-Version: 1.0\nGenerator: corpus\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    record = []
    for name, body in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(body.encode())))
    record.append(DIST + "/RECORD,,")
    files[DIST + "/RECORD"] = "\n".join(record) + "\n"
    whl = "%s-%s-py3-none-any.whl" % (NAME, VERSION)
    with zipfile.ZipFile(os.path.join(wheel_directory, whl), "w") as z:
        for name, body in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = (0o100755 if name in EXECUTABLE else 0o100644) << 16
            z.writestr(info, body)
    return whl
