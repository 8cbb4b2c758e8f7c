"""Serving the output directory over HTTP: Starlette's StaticFiles on uvicorn.

StaticFiles finds the file and refuses paths that leave the directory;
:class:`OutputFiles` adds what a feed server needs on top:

- hidden names (feeder's in-flight temp files ``.name.xxxx.tmp`` among them)
  are never served, and there is no directory listing;
- each response is read from one open file, so its body, length and ETag
  always belong together, even when a build renames a new version over the
  file halfway through the request;
- the feeds get their registered media types (from :func:`feeder.feeds.site_feeds`);
- ``ETag`` (a hash of the bytes) and ``Last-Modified``, with ``304 Not Modified``;
- gzip for clients that accept it. A gzipped body is a different representation,
  so it gets a different ETag (``"<hash>-gzip"``): a cache must never answer a
  client that cannot decode gzip with bytes it stored for one that can.

Production sites can serve the directory with nginx instead (``--no-serve``);
see examples/nginx.conf.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import os
import socket
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import URL, Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from feeder.config import Config
from feeder.errors import ConfigError
from feeder.feeds import site_feeds

if TYPE_CHECKING:
    import uvicorn

__all__ = ["OutputFiles", "Server", "create_app", "media_types"]

INDEX = "index.html"
# Below this, gzip saves too little to be worth a header and the CPU.
GZIP_MIN_BYTES = 256
_COMPRESSIBLE = ("text/", "application/xml", "application/json", "application/javascript")
_CACHE_ENTRIES = 64


def media_types(config: Config) -> dict[str, str]:
    """The media type of each feed the site publishes, by path in the output directory."""
    return {spec.path: spec.format.media_type for spec in site_feeds(config)}


class _Variant:
    """One file read from one open descriptor: the bytes and their validators."""

    def __init__(self, data: bytes, mtime: float) -> None:
        self.data = data
        self.mtime = mtime
        self.tag = hashlib.blake2b(data, digest_size=12).hexdigest()
        self._gzipped: bytes | None = None

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            # mtime=0: the same bytes always compress to the same bytes.
            self._gzipped = gzip.compress(self.data, compresslevel=6, mtime=0)
        return self._gzipped


class OutputFiles(StaticFiles):
    """The output directory, read-only, over GET and HEAD."""

    def __init__(self, directory: Path, types: Mapping[str, str] | None = None) -> None:
        super().__init__(directory=directory, check_dir=False)
        self._types: dict[str, str] = dict(types or {})
        self._cache: OrderedDict[tuple[int, int, int, int], _Variant] = OrderedDict()
        self._cache_lock = threading.Lock()

    def configure(self, directory: Path, types: Mapping[str, str]) -> None:
        """Serve another directory or media types from now on (a reloaded config)."""
        self.directory = directory
        self.all_directories = [directory]
        self._types = dict(types)

    async def check_config(self) -> None:
        # The directory appears with the first build; until then every path is a 404.
        return None

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            return PlainTextResponse(
                "Method Not Allowed", status_code=405, headers={"Allow": "GET, HEAD"}
            )
        return await anyio.to_thread.run_sync(self._respond, path, scope)

    def _respond(self, path: str, scope: Scope) -> Response:
        if any(part.startswith(".") for part in PurePosixPath(path).parts):
            return _not_found()
        try:
            full_path, found = self.lookup_path(path)
        except (OSError, ValueError):  # a name too long, a NUL byte
            return _not_found()
        if found is not None and stat.S_ISDIR(found.st_mode):
            index_path, index = self.lookup_path(os.path.join(path, INDEX))
            if index is None or not stat.S_ISREG(index.st_mode):
                return _not_found()  # no listings
            if not scope["path"].endswith("/"):
                url = URL(scope=scope)
                return RedirectResponse(url.replace(path=url.path + "/"), status_code=301)
            full_path, found, path = index_path, index, os.path.join(path, INDEX)
        if found is None or not stat.S_ISREG(found.st_mode):
            return _not_found()
        variant = self._read(full_path)
        if variant is None:
            return _not_found()
        return self._file_response(PurePosixPath(path).as_posix(), variant, Headers(scope=scope))

    def _read(self, full_path: str) -> _Variant | None:
        try:
            fd = os.open(full_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None  # renamed away or removed since the lookup
        with os.fdopen(fd, "rb") as file:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                return None
            key = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)
            with self._cache_lock:
                cached = self._cache.get(key)
                if cached is not None:
                    self._cache.move_to_end(key)
                    return cached
            variant = _Variant(file.read(), info.st_mtime)
        with self._cache_lock:
            self._cache[key] = variant
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return variant

    def _media_type(self, path: str) -> str:
        media_type = self._types.get(path) or mimetypes.guess_type(path)[0]
        media_type = media_type or "application/octet-stream"
        if media_type.startswith("text/") or media_type.endswith("xml"):
            media_type += "; charset=utf-8"
        return media_type

    def _file_response(self, path: str, variant: _Variant, request: Headers) -> Response:
        media_type = self._media_type(path)
        compressible = media_type.startswith(_COMPRESSIBLE) or "+xml" in media_type
        use_gzip = (
            compressible
            and len(variant.data) >= GZIP_MIN_BYTES
            and accepts_gzip(request.get("accept-encoding", ""))
        )
        etag = f'"{variant.tag}-gzip"' if use_gzip else f'"{variant.tag}"'
        headers = {
            "ETag": etag,
            "Last-Modified": formatdate(variant.mtime, usegmt=True),
            # Feeds change without notice: caches may keep a copy but must revalidate.
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        if compressible:
            headers["Vary"] = "Accept-Encoding"
        if not_modified(request, etag, variant.mtime):
            return Response(status_code=304, headers=headers)
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        body = variant.gzipped if use_gzip else variant.data
        return Response(body, media_type=media_type, headers=headers)


def _not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404)


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether an ``Accept-Encoding`` header allows gzip (``q=0`` refuses it)."""
    qualities: dict[str, float] = {}
    for item in accept_encoding.split(","):
        coding, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if coding:
            qualities[coding.strip().lower()] = quality
    for name in ("gzip", "x-gzip"):
        if name in qualities:
            return qualities[name] > 0
    return qualities.get("*", 0.0) > 0


def not_modified(request: Headers, etag: str, mtime: float) -> bool:
    """RFC 9110 section 13.2.2: If-None-Match decides; If-Modified-Since only without it."""
    if_none_match = request.get("if-none-match")
    if if_none_match is not None:
        if if_none_match.strip() == "*":
            return True
        mine = etag.removeprefix("W/")
        return any(tag.strip().removeprefix("W/") == mine for tag in if_none_match.split(","))
    if_modified_since = request.get("if-modified-since")
    if if_modified_since:
        try:
            since = parsedate_to_datetime(if_modified_since).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
        return int(mtime) <= since
    return False


def create_app(files: OutputFiles) -> Starlette:
    """The ASGI application: the output directory at the root, nothing else."""
    return Starlette(routes=[Mount("/", app=files)])


class Server:
    """uvicorn on a socket bound here, so that a busy port is an error on the spot."""

    def __init__(self, files: OutputFiles, host: str, port: int) -> None:
        self.files = files
        self._host = host
        self._port = port
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """The host and port actually listened on (the port may have been 0)."""
        assert self._socket is not None, "the server is not started"
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def url(self, path: str = "") -> str:
        host, port = self.address
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{port}/{path.lstrip('/')}"

    def start(self, timeout: float = 10.0) -> None:
        # uvicorn pulls in click for its own command line: load it only to serve.
        import uvicorn

        self._socket = _bind(self._host, self._port)
        config = uvicorn.Config(
            create_app(self.files),
            log_config=None,
            access_log=True,
            lifespan="off",
            timeout_graceful_shutdown=1,
            server_header=False,
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(
            target=server.run, kwargs={"sockets": [self._socket]}, name="http", daemon=True
        )
        thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                self._socket.close()
                raise ConfigError(f"server: could not start on {self._host}:{self._port}")
            time.sleep(0.01)
        self._server, self._thread = server, thread

    def begin_stop(self) -> None:
        """Stop accepting connections; requests in flight get up to a second to finish."""
        if self._server is not None:
            self._server.should_exit = True

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the server and wait for its thread (forcing it after ``timeout``)."""
        self.begin_stop()
        if self._thread is not None:
            self._thread.join(timeout)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True  # drop the connections still open
                self._thread.join(0.5)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = None


def _bind(host: str, port: int) -> socket.socket:
    try:
        family, kind, proto, _name, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind, proto)
    except OSError as exc:
        raise ConfigError(
            f"server.host: cannot listen on {host!r}: {exc.strerror or exc}; use --host"
        ) from None
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"server.port: cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "choose another with --port, or publish only with --no-serve"
        ) from None
    sock.set_inheritable(False)
    return sock
