# safe-install's pip fetch, run inside the fetch container (no network but
# the relay to the host's egress proxy). pip cannot learn an sdist's
# dependencies without running its build backend, so this is already
# untrusted code and runs under the same seccomp profile, user and limits
# as the build; only its egress differs.
#
# It downloads the requirements and, into the same wheelhouse, every build
# requirement: pip, run in this process (pipenvs.py), installs the build
# environments the metadata hooks need once per requirement set, and each
# set's wheels are downloaded the first time it is installed, the static
# [build-system] requires and what get_requires_for_build_wheel asks for
# alike. The environments stay in STORE for the build phase, which then
# runs `pip wheel --no-index` with no network at all. Where pip's internals
# are not the ones pipenvs.py knows, and for sdists that are themselves
# build requirements, this reads each sdist's build requirements itself.
#
# usage: python3 pipfetch.py --expect-python=TAG WHEELHOUSE STORE [LOCAL_DIR ...] -- PIP_DOWNLOAD_ARGS...
# Where pip fetches from is set in the environment (PIP_INDEX_URL and the
# like), so that every pip started here, the backends' included, uses it.
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib

import pipenvs
from pip._internal.utils.unpacking import unpack_file
from pip._vendor.pyproject_hooks import BuildBackendHookCaller

# PEP 517's fallback for a project without [build-system].
LEGACY = {"requires": ["setuptools>=40.8.0", "wheel"], "build-backend": "setuptools.build_meta:__legacy__"}


def say(msg):
    print("safe-install-pip: " + msg, file=sys.stderr, flush=True)


def pip(*args):
    subprocess.run([sys.executable, "-m", "pip", *args], check=True)


# pip's build tracker: the directory where a pip process notes each link it
# is preparing, to refuse a build that needs itself. A pip sets it in its
# environment, so every pip it starts, the build environment's install
# among them, shares its notes.
TRACKER_VARS = ("PIP_BUILD_TRACKER", "PIP_REQ_TRACKER")  # pip >= 22.1, before


def own_build_tracker(environ):
    """environ for a pip that runs beside the build environment's install
    of the same requirements: without the tracker the two would share, both
    note the same links at once, and one finds the other's note
    ("is already being built") or removes it first (FileNotFoundError),
    failing the fetch with exit 1 or 2 now and then (c48e9ee, reverted).
    Its own tracker still catches a build that needs itself: the pips it
    starts share that one."""
    return {k: v for k, v in environ.items() if k not in TRACKER_VARS}


def sdists(wheelhouse):
    return sorted(f for f in os.listdir(wheelhouse) if f.endswith((".tar.gz", ".zip", ".tar.bz2")))


def unpack(archive, into):
    # pip's own unpacker (what pip itself would use on this sdist) refuses
    # members that leave the directory.
    unpack_file(archive, into)
    entries = os.listdir(into)
    if len(entries) == 1 and os.path.isdir(os.path.join(into, entries[0])):
        return os.path.join(into, entries[0])
    return into


def build_system(src):
    try:
        with open(os.path.join(src, "pyproject.toml"), "rb") as f:
            table = tomllib.load(f).get("build-system")
    except FileNotFoundError:
        table = None
    if not table:
        return LEGACY["requires"], LEGACY["build-backend"], None
    backend = table.get("build-backend", LEGACY["build-backend"])
    return list(table.get("requires", [])), backend, table.get("backend-path")


# Build environments by their static requirements: most sdists share one
# (setuptools), and each pip run costs about a second.
build_envs = {}


def build_env(requires, wheelhouse, scratch):
    key = tuple(sorted(requires))
    if key not in build_envs:
        env_dir = tempfile.mkdtemp(dir=scratch)
        if requires:
            pip("download", "--quiet", "-d", wheelhouse, *requires)
            pip("install", "--quiet", "--target", env_dir, "--no-index", "--find-links", wheelhouse, *requires)
        build_envs[key] = env_dir
    return build_envs[key]


def build_requirements(label, src, wheelhouse, scratch):
    requires, backend, backend_path = build_system(src)
    say("build requirements of %s: %s" % (label, ", ".join(requires) or "none"))
    env_dir = build_env(requires, wheelhouse, scratch)

    def runner(cmd, cwd=None, extra_environ=None):
        env = dict(os.environ)
        env.update(extra_environ or {})
        env["PYTHONPATH"] = env_dir
        # The backend's chatter goes to the log; pip's own lines stay readable.
        subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=sys.stderr)

    caller = BuildBackendHookCaller(src, backend, backend_path=backend_path, runner=runner)
    dynamic = [r for r in caller.get_requires_for_build_wheel({}) if r not in requires]
    if dynamic:
        say("dynamic build requirements of %s: %s" % (label, ", ".join(dynamic)))
        pip("download", "--quiet", "-d", wheelhouse, *dynamic)


def main(argv):
    expect = argv.pop(0).split("=", 1)[1]
    if sys.implementation.cache_tag != expect:
        say("ERROR the sandbox's Python is %s but the host's is %s: wheels built here would not load there. "
            "Use an image whose Python matches the host's (Debian bookworm has 3.11, trixie 3.13) with --image, "
            "or point --python at a %s interpreter" % (sys.implementation.cache_tag, expect, sys.implementation.cache_tag))
        sys.exit(2)
    split = argv.index("--")
    wheelhouse, store, local_dirs, download_args = argv[0], argv[1], argv[2:split], argv[split + 1:]
    os.makedirs(wheelhouse, exist_ok=True)
    os.makedirs(store, exist_ok=True)
    # The sdists that arrive as build requirements: pip builds them inside
    # a build environment's own pip, out of pipenvs.py's sight.
    nested = set()

    # Each new set's wheels download into the wheelhouse while pip installs
    # the same set from the index: two pip processes at once instead of one
    # after the other (both wait mostly on the index and on starting up).
    def on_new(requirements):
        say("build requirements: " + ", ".join(requirements))
        before = set(sdists(wheelhouse))
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "-d", wheelhouse, "--", *requirements]
        proc = subprocess.Popen(cmd, env=own_build_tracker(os.environ))

        def done():
            if proc.wait():
                raise subprocess.CalledProcessError(proc.returncode, cmd)
            nested.update(set(sdists(wheelhouse)) - before)
        return done

    reused = pipenvs.reuse_build_envs(store, writable=True, on_new=on_new)
    pipenvs.reuse_metadata(store, writable=True)
    say("downloading " + " ".join(download_args))
    status = pipenvs.pip_main(["download", "-d", wheelhouse, *download_args])
    if status:
        raise subprocess.CalledProcessError(status, [sys.executable, "-m", "pip", "download", *download_args])
    scratch = tempfile.mkdtemp()
    done = set()
    if reused:
        done = set(sdists(wheelhouse)) - nested
    else:
        for d in local_dirs:
            build_requirements(d, d, wheelhouse, scratch)
    while True:
        todo = [s for s in sdists(wheelhouse) if s not in done]
        if not todo:
            break
        for s in todo:
            done.add(s)
            src = unpack(os.path.join(wheelhouse, s), tempfile.mkdtemp(dir=scratch))
            build_requirements(s, src, wheelhouse, scratch)
    shutil.rmtree(scratch, ignore_errors=True)
    say("wheelhouse ready: %d files" % len(os.listdir(wheelhouse)))


if __name__ == "__main__":
    try:
        main(sys.argv[1:])
    except subprocess.CalledProcessError as e:
        say("ERROR a pip step failed (exit code %d): %s" % (e.returncode, " ".join(e.cmd[3:])))
        sys.exit(e.returncode or 1)
