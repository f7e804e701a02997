# The floods of relay-flood's setup.py, aimed at an HTTP proxy. Sends only
# to the proxy it is given (loopback). Run directly it is the positive
# control: python3 flood.py PROXY_URL INDEX_URL OUT.json
import json
import socket
import sys
import threading
import time
import urllib.parse

MiB, GiB = 1 << 20, 1 << 30


def connect(proxy):
    u = urllib.parse.urlsplit(proxy)
    return socket.create_connection((u.hostname, u.port), timeout=20)


def stream(proxy, head, unit, total):
    """Sends head, then unit repeated, total bytes in all; says how far it got."""
    out = {"want": total, "sent": 0}
    start = time.monotonic()
    try:
        s = connect(proxy)
    except OSError as e:
        return {"connect": str(e)}
    block = unit * (MiB // len(unit))
    try:
        s.sendall(head)
        out["sent"] = len(head)
        while out["sent"] < total:
            s.sendall(block)
            out["sent"] += len(block)
        out["ended"] = "sent all"
    except OSError as e:
        out["ended"] = type(e).__name__
    out["seconds"] = round(time.monotonic() - start, 1)
    try:
        s.settimeout(2)
        out["answer"] = s.recv(100).decode("latin-1").split("\r\n")[0]
    except OSError as e:
        out["answer"] = type(e).__name__
    s.close()
    return out


def opens(proxy, n):
    """Opens n connections at once and counts those the other end closes."""
    socks, failed = [], 0
    for _ in range(n):
        try:
            socks.append(connect(proxy))
        except OSError:
            failed += 1
    time.sleep(3)
    closed = 0
    for s in socks:
        s.setblocking(False)
        try:
            if s.recv(1) == b"":
                closed += 1
        except BlockingIOError:
            pass
        except OSError:
            closed += 1
        s.close()
    return {"opened": len(socks), "failed": failed, "closed_by_peer": closed}


def trickle(proxy, target, out, cap=40):
    """A request head a byte a second, until the other end closes or cap seconds."""
    start = time.monotonic()
    try:
        s = connect(proxy)
        s.sendall(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n")
        s.settimeout(1)
        while time.monotonic() - start < cap:
            s.sendall(b"X")
            try:
                if s.recv(100):
                    out["answer"] = "answered"
                    break
                out["answer"] = "closed"
                break
            except socket.timeout:
                pass
        else:
            out["answer"] = "still open after %d s" % cap
    except OSError as e:
        out["answer"] = type(e).__name__
    out["seconds"] = round(time.monotonic() - start, 1)


def run(proxy, index, path, **extra):
    target = (index.rstrip("/") + "/relay-flood/").encode()
    probe = dict(extra, trickle={})
    t = threading.Thread(target=trickle, args=(proxy, target, probe["trickle"]))
    t.start()
    probe["line"] = stream(proxy, b"GET " + target, b"a", 4 * GiB)
    probe["headers"] = stream(proxy, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n", b"X-Flood: yes\r\n", GiB)
    probe["body"] = stream(proxy, b"POST " + target + b" HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (4 * GiB), b"b", 4 * GiB)
    probe["chunked_get"] = stream(proxy, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n", b"100000\r\n", GiB)
    probe["opens"] = opens(proxy, 500)
    t.join()
    with open(path, "w") as f:
        json.dump(probe, f, indent=1)
    print("relay-flood:", json.dumps(probe), file=sys.stderr)


if __name__ == "__main__":
    run(sys.argv[1], sys.argv[2], sys.argv[3])
