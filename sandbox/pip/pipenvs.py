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
# fetch did not see, offline from the wheelhouse. The same goes for each
# sdist's dynamic build requirements and metadata (reuse_metadata): the
# fetch's hooks gave them once, and the build's only hook is build_wheel.
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
import hashlib
import inspect
import json
import os
import shutil
import sys
import tempfile
import traceback

INDEX = "index.json"


def reuse_build_envs(store, writable, on_new=None):
    """Make pip install each build requirement set once. store is a
    directory of saved environments (index.json names them); writable says
    whether new ones are saved there (the fetch) or in a temporary
    directory (the build). on_new(requirements) runs before a set is
    installed for the first time and may return a function that the
    install waits on when it is done. False when this pip's internals are not
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
        # on_new may start work that runs beside pip's install (the
        # fetch's download of the same set) and returns what waits for it.
        done = on_new(requirements) if on_new else None
        try:
            orig(self, finder, requirements, prefix_as_string, kind=kind)
        finally:
            if done:
                done()
        copy = os.path.join(scratch, str(len(saved)))
        shutil.copytree(prefix.path, copy, symlinks=True)
        saved[key] = copy
        if writable:
            with open(os.path.join(store, INDEX), "w") as f:
                json.dump({k: os.path.basename(v) for k, v in saved.items()}, f)
        return None

    BuildEnvironment.install_requirements = install_requirements
    return True


def reuse_metadata(store, writable):
    """Make the build take each sdist's build requirements and metadata
    from the fetch instead of running its get_requires_for_build_wheel and
    prepare_metadata_for_build_wheel (or setup.py egg_info) hooks again:
    the fetch (writable) records both in store/meta, keyed by the sdist
    archive's sha256, and the build (not writable) finds them there. An
    sdist the record does not name (a local project directory, one only
    the build meets) runs its hooks as pip always does. False when this
    pip's internals are not the ones this was written against.

    What the build takes is what the fetch's hooks said, which is what the
    fetch resolved and downloaded by, so the build resolves the same set;
    it gives the fetch no power it lacked, since the fetch writes the
    wheelhouse and the environments the build runs the backends in. Only
    the metadata directory itself is copied, into a fresh parent: for a
    backend without prepare_metadata_for_build_wheel the hook caller built
    a whole wheel in the fetch (with the network) and left it beside the
    metadata with a marker, which build_wheel would take instead of
    building; in the build there is no such wheel to take."""
    try:
        from pip._internal.distributions.sdist import SourceDistribution
        from pip._internal.req import req_install
        InstallRequirement = req_install.InstallRequirement
        orig_requires = SourceDistribution._get_build_requires_wheel
        orig_prepare = InstallRequirement.prepare_metadata
        orig_generators = {g: getattr(req_install, g) for g in ("generate_metadata", "generate_metadata_legacy")}
        shapes = [list(inspect.signature(f).parameters) for f in (orig_requires, orig_prepare)]
    except (ImportError, AttributeError, TypeError, ValueError):
        return False
    if shapes != [["self"], ["self"]]:
        return False
    meta = os.path.join(store, "meta")
    record = load_meta(meta)
    current = []  # the key of the sdist whose prepare_metadata is running

    def save():
        os.makedirs(meta, exist_ok=True)
        with open(os.path.join(meta, INDEX), "w") as f:
            json.dump(record, f)

    def get_build_requires_wheel(self):
        key = archive_key(self.req)
        if key in record and isinstance(record[key].get("requires"), list):
            return list(record[key]["requires"])
        got = list(orig_requires(self))
        if writable and key:
            record.setdefault(key, {})["requires"] = got
            save()
        return got

    def prepare_metadata(self):
        current.append(archive_key(self))
        try:
            return orig_prepare(self)
        finally:
            current.pop()

    def generator(orig):
        def generate(*args, **kwargs):
            key = current[-1] if current else None
            saved = record.get(key, {}).get("metadata") if key else None
            if saved:
                into = os.path.join(tempfile.mkdtemp(prefix="safe-install-meta-"), os.path.basename(saved))
                shutil.copytree(os.path.join(meta, saved), into, symlinks=True)
                return into
            path = orig(*args, **kwargs)
            if writable and key:
                name = "%d/%s" % (sum("metadata" in e for e in record.values()), os.path.basename(path))
                shutil.copytree(path, os.path.join(meta, name), symlinks=True)
                record.setdefault(key, {})["metadata"] = name
                save()
            return path
        return generate

    SourceDistribution._get_build_requires_wheel = get_build_requires_wheel
    InstallRequirement.prepare_metadata = prepare_metadata
    for name, orig in orig_generators.items():
        setattr(req_install, name, generator(orig))
    return True


def build_at_once(jobs):
    """Make `pip wheel` (the build phase) build up to jobs sdists at once
    instead of one after another: most of a build is a backend process
    starting and importing setuptools, which keeps one core busy (the
    bench's four sdists: 1.0 s of builds one after another, 0.6 s two at
    once). Each requirement is built in a forked copy of this process by
    pip's own build(), and the copy tells the wheel it made. Threads would
    not do: pip enters a build environment by changing os.environ, which a
    build in another thread would inherit. The builds are the same code in
    the same container either way; only their output lines interleave
    (each is written whole). False when this pip's internals are not the
    ones this was written against, or with one core: pip then builds one
    after another."""
    if jobs < 2:
        return False
    try:
        from pip._internal.commands import wheel as wheel_command
        from pip._internal.models.link import Link
        from pip._internal.utils.urls import path_to_url
        orig = wheel_command.build
        params = list(inspect.signature(orig).parameters)
    except (ImportError, AttributeError, TypeError, ValueError):
        return False
    if params != ["requirements", "wheel_cache", "verify", "build_options", "global_options"]:
        return False

    def build_one(req, *args):
        """Fork; the child builds req and writes the wheel's path (or
        nothing: failed) to a pipe. Returns the child's pid and the read end."""
        r, w = os.pipe()
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            os.close(r)
            code = 1
            try:
                ok, _ = orig([req], *args)
                if ok:
                    os.write(w, os.fsencode(ok[0].local_file_path))
                code = 0
            except BaseException:
                traceback.print_exc()
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                # No atexit, no clean-up of the parent's temporary
                # directories: they are the parent's to remove.
                os._exit(code)
        os.close(w)
        return pid, r

    def finish(req, r):
        """What req's child, which has ended, wrote: the wheel's path, or None."""
        with os.fdopen(r, "rb") as f:
            path = os.fsdecode(f.read())
        if not path or not os.path.isfile(path):
            return None
        # What pip's build does with a built requirement: the wheel
        # command copies it from there into the wheel directory.
        req.link = Link(path_to_url(path))
        req.local_file_path = req.link.file_path
        return path

    def build(requirements, wheel_cache, verify, build_options, global_options):
        requirements = list(requirements)
        if len(requirements) < 2:
            return orig(requirements, wheel_cache, verify, build_options, global_options)
        print("safe-install-pip: building up to %d wheels at once" % jobs, file=sys.stderr, flush=True)
        running, built = [], {}
        pending = list(requirements)
        while pending or running:
            while pending and len(running) < jobs:
                req = pending.pop(0)
                running.append((req,) + build_one(req, wheel_cache, verify, build_options, global_options))
            pid, _ = os.wait()
            for i, (req, child, r) in enumerate(running):
                if child == pid:
                    del running[i]
                    built[id(req)] = finish(req, r)
                    break
        ok = [req for req in requirements if built.get(id(req))]
        failed = [req for req in requirements if not built.get(id(req))]
        return ok, failed

    wheel_command.build = build
    return True


def archive_key(req):
    """The sha256 of the archive req was unpacked from, or None (a
    directory, a requirement pip has not fetched)."""
    path = getattr(req, "local_file_path", None)
    if not path or not path.endswith((".tar.gz", ".zip", ".tar.bz2")) or not os.path.isfile(path):
        return None
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_meta(meta):
    """The fetch's record in meta: {sha256: {"requires": [...], "metadata":
    "N/NAME.dist-info"}}, with every entry that is not of that shape left
    out (the fetch ran package code: a metadata name is a digit directory
    and one plain name under it, never '..' or an absolute path)."""
    try:
        with open(os.path.join(meta, INDEX)) as f:
            raw = json.load(f)
    except (OSError, ValueError):
        return {}
    record = {}
    for key, entry in raw.items() if isinstance(raw, dict) else ():
        if not isinstance(entry, dict):
            continue
        good = {}
        requires = entry.get("requires")
        if isinstance(requires, list) and all(isinstance(r, str) for r in requires):
            good["requires"] = requires
        name = entry.get("metadata")
        if isinstance(name, str) and name.count("/") == 1:
            n, base = name.split("/")
            if n.isdigit() and base.endswith((".dist-info", ".egg-info")) and base not in (".dist-info", ".egg-info") \
                    and not base.startswith(".") and os.path.isdir(os.path.join(meta, name)) and not os.path.islink(os.path.join(meta, n)) \
                    and not os.path.islink(os.path.join(meta, name)):
                good["metadata"] = name
        record[key] = good
    return record


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
    # As many builds at once as this container may use cores, at most 8
    # (a build may run its own compilers at once too).
    try:
        cores = len(os.sched_getaffinity(0))
    except OSError:
        cores = os.cpu_count() or 1
    build_at_once(min(cores, 8))
    if not reuse_build_envs(store, writable=False):
        print("safe-install-pip: this pip's build environments cannot be reused; each sdist gets its own", file=sys.stderr, flush=True)
    if not reuse_metadata(store, writable=False):
        print("safe-install-pip: this pip's metadata cannot be reused; each sdist's metadata hooks run again", file=sys.stderr, flush=True)
    sys.exit(pip_main(args))
