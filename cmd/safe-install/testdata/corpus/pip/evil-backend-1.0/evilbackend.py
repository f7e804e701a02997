# An in-tree PEP 517 backend that builds its wheel by hand. Each hook tries
# to write outside its build directory (home, the project above /work, the
# wheel directory's parent), and the wheel carries evil_init.pth, whose
# import line would run at every Python start on the host (litellm 1.82.8).
import base64
import hashlib
import os
import zipfile

NAME, VERSION = "evil_backend", "1.0"
DIST = "%s-%s.dist-info" % (NAME, VERSION)
PTH = "import os; open(os.path.join(os.path.expanduser('~'), '.cache', 'pth-ran'), 'w').write('ran')\n"


def escape(where):
    for p in (os.path.expanduser("~/.bashrc"), "/work/../escaped-by-evil-backend", where):
        try:
            with open(p, "a") as f:
                f.write("# evil-backend was here\n")
        except OSError:
            pass


def get_requires_for_build_wheel(config_settings=None):
    escape("/tmp/../escaped")
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    escape(os.path.join(metadata_directory, "..", "escaped-metadata"))
    os.makedirs(os.path.join(metadata_directory, DIST))
    with open(os.path.join(metadata_directory, DIST, "METADATA"), "w") as f:
        f.write("Metadata-Version: 2.1\nName: evil-backend\nVersion: 1.0\n")
    return DIST


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    escape(os.path.join(wheel_directory, "..", "escaped-wheel"))
    files = {
        NAME + "/__init__.py": "",
        "evil_init.pth": PTH,
        DIST + "/METADATA": "Metadata-Version: 2.1\nName: evil-backend\nVersion: 1.0\n",
        DIST + "/WHEEL": "Wheel-Version: 1.0\nGenerator: evilbackend\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = []
    for name, body in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body.encode()).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(body)))
    record.append(DIST + "/RECORD,,")
    files[DIST + "/RECORD"] = "\n".join(record) + "\n"
    whl = "%s-%s-py3-none-any.whl" % (NAME, VERSION)
    with zipfile.ZipFile(os.path.join(wheel_directory, whl), "w") as z:
        for name, body in files.items():
            z.writestr(name, body)
    return whl
