# What safe-install asks the host's Python, once per plan, run with -I -S:
# isolated from PYTHON* variables and the user's site-packages, and without
# the site module, so that no .pth file of the target environment runs for
# it. Without site a virtual environment's prefix is not set, so this does
# site.venv()'s part first: a pyvenv.cfg beside the executable or one level
# up makes that directory the prefix.
import json
import os
import sys

exe_dir = os.path.dirname(os.path.abspath(sys.executable))
if any(os.path.isfile(os.path.join(d, "pyvenv.cfg")) for d in (exe_dir, os.path.dirname(exe_dir))):
    sys.prefix = sys.exec_prefix = os.path.dirname(exe_dir)

import importlib.machinery  # noqa: E402
import sysconfig  # noqa: E402 (after the prefix: it reads sys.prefix on import)


def scheme(kind):
    """The paths of the scheme pip installs into, by default or with --user."""
    preferred = getattr(sysconfig, "get_preferred_scheme", None)  # 3.10+
    if preferred:
        return sysconfig.get_paths(preferred(kind))
    return sysconfig.get_paths(os.name + "_user" if kind == "user" else sysconfig._get_default_scheme())


prefix = scheme("prefix")
print(json.dumps({
    "version": "%d.%d" % sys.version_info[:2],
    "tag": sys.implementation.cache_tag,
    "prefix": prefix,
    "user": scheme("user"),
    "lib": [p for p in sys.path if p and os.path.isdir(p)] + [prefix["stdlib"], prefix["platstdlib"]],
    # The suffixes under which an import finds a compiled extension module.
    "ext": importlib.machinery.EXTENSION_SUFFIXES,
}))
