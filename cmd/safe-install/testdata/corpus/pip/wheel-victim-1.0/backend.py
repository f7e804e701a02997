# The victim of overwrite-other: a benign distribution with one module.
# An in-tree PEP 517 backend writes the wheel by hand, as for the cases.
import base64
import hashlib
import os
import zipfile

NAME, VERSION = "wheel_victim", "1.0"
DIST = "%s-%s.dist-info" % (NAME, VERSION)
FILES = {
    NAME + "/__init__.py": "NAME = 'wheel-victim'\n",
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
