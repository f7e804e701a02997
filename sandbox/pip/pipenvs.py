# safe-install's build environments, made once per requirement set (issue
# 19). pip makes a fresh isolated build environment for every sdist: a pip
# subprocess that resolves and installs the build requirements (about a
# second each), and for most sdists it is the same one (setuptools and
# wheel). This module has pip, run in this process, install each distinct
# set once, keep a copy, and give later sdists that copy.
#
# Both phases use it. The fetch (network through the relay) needs the
# environments for the metadata hooks pip must run to resolve; it records
# every set it installs, downloads the wheels of each into the wheelhouse,
# and leaves a copy of each environment in the work volume (STORE). The
# build (no network) starts from those copies and installs only a set the
# fetch did not see, offline from the wheelhouse.
#
# Why the fetch does not build the wheels, though it has every sdist and
# environment at hand: invariant 2 (DESIGN.md; the corpus README's
# "No network for scripts") is that builds run with only lo. A wheel built
# in the fetch would come from a build backend, often far more code than
# the metadata hook (compilers, CMake, whatever setup.py's build_ext does),
# that had the network: its content could come from the index rather than
# from the sdist, it could wait on or probe the network (RT-56), and it
# would make authenticated requests through the host's proxy. Only the
# metadata hooks that resolution cannot do without run with the network.
# What the build takes from the fetch is inert: the downloaded wheels and
# sdists, and environments made from those wheels by pip's installer,
# which runs no package code; copied before any hook ran in them. The same
# fetch code could have changed them later, as it could change any file in
# the wheelhouse, so they are trusted no more than the wheelhouse is: the
# build is offline and its wheels are vetted on the host either way.
#
# usage (build phase): python3 pipenvs.py STORE PIP_ARGS...  runs pip there.
import inspect
import json
import os
import shutil
import sys
import tempfile

INDEX = "index.json"


def reuse_build_envs(store, writable, on_new=None):
    """Make pip install each build requirement set once. store is a
    directory of saved environments (index.json names them); writable says
    whether new ones are saved there (the fetch) or in a temporary
    directory (the build). on_new(requirements) runs before a set is
    installed for the first time. False when this pip's internals are not
    the ones this was written against: pip then works as it always does."""
    try:
        from pip._internal.build_env import BuildEnvironment
        orig = BuildEnvironment.install_requirements
        params = list(inspect.signature(orig).parameters)
    except (ImportError, AttributeError, TypeError, ValueError):
        return False
    if params != ["self", "finder", "requirements", "prefix_as_string", "kind"]:
        return False
    saved = load(store)
    scratch = store if writable else tempfile.mkdtemp(prefix="safe-install-envs-")

    def install_requirements(self, finder, requirements, prefix_as_string, *, kind):
        requirements = list(requirements)
        prefix = getattr(self, "_prefixes", {}).get(prefix_as_string)
        if not requirements or prefix is None or not hasattr(prefix, "path"):
            return orig(self, finder, requirements, prefix_as_string, kind=kind)
        key = json.dumps([prefix_as_string, sorted(requirements)])
        if key in saved:
            shutil.copytree(saved[key], prefix.path, symlinks=True, dirs_exist_ok=True)
            prefix.setup = True
            return None
        if on_new:
            on_new(requirements)
        orig(self, finder, requirements, prefix_as_string, kind=kind)
        copy = os.path.join(scratch, str(len(saved)))
        shutil.copytree(prefix.path, copy, symlinks=True)
        saved[key] = copy
        if writable:
            with open(os.path.join(store, INDEX), "w") as f:
                json.dump({k: os.path.basename(v) for k, v in saved.items()}, f)
        return None

    BuildEnvironment.install_requirements = install_requirements
    return True


def load(store):
    """The environments saved in store, by key; none when there is no
    readable index (the fetch found no sdist, or this is the fetch)."""
    try:
        with open(os.path.join(store, INDEX)) as f:
            index = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(index, dict):
        return {}
    saved = {}
    for key, name in index.items():
        d = os.path.join(store, str(name))
        # The index is the fetch's (package code ran there): only the
        # names this module gives (0, 1, ...), never ".." or a path.
        if isinstance(name, str) and name.isdigit() and os.path.isdir(d):
            saved[key] = d
    return saved


def pip_main(args):
    """pip, in this process, so that the patch above applies to it."""
    from pip._internal.cli.main import main
    return main(args)


if __name__ == "__main__":
    store, args = sys.argv[1], sys.argv[2:]
    if not reuse_build_envs(store, writable=False):
        print("safe-install-pip: this pip's build environments cannot be reused; each sdist gets its own", file=sys.stderr, flush=True)
    sys.exit(pip_main(args))
