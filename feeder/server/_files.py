"""The output directory as an ASGI app: Starlette's StaticFiles, made fit to serve feeds.

StaticFiles finds the file and refuses paths that leave the directory;
:class:`OutputFiles` adds what a feed server needs on top:

- only what a site publishes is served: a file whose extension names a web
  media type (feeds, pages, styles, images, media). Hidden names (feeder's
  in-flight temp files ``.name.xxxx.tmp`` among them), editor and backup
  files (``rss.xml~``, ``index.html.bak``, ``.swp``) and anything else are
  not, and there is no directory listing;
- media types by rule: ``rss.xml``, ``atom.xml`` and ``feed.json`` anywhere
  in the tree are feeds, everything else goes by its extension;
- each response is read from one open file, so its body, length and ETag
  always belong together, even when a build renames a new version over the
  file halfway through the request;
- ``ETag`` (a hash of the bytes) and ``Last-Modified``, with ``304 Not Modified``;
  an unreadable ``If-Modified-Since`` is ignored, as RFC 9110 says;
- feeds (by their media type, wherever they are) carry WebSub discovery links when
  the site has hubs: ``Link: <hub>; rel="hub", <feed URL>; rel="self"``, the feed
  URL being its public address (``base_url`` and its path), as in the feed itself;
- gzip for clients that accept it. A gzipped body is a different representation,
  so it gets a different ETag (``"<hash>-gzip"``): a cache must never answer a
  client that cannot decode gzip with bytes it stored for one that can;
- byte ranges (``Range``, ``206``, ``416``, ``If-Range``) for audio, video,
  images and PDF, which are never gzipped: :mod:`feeder.server._ranges`;
- memory bounded in bytes, whatever the files weigh: small files are cached
  (with their gzipped form) up to ``CACHE_BYTES`` in all; bigger ones are
  streamed from their open file and never held whole.

uvicorn runs with :mod:`feeder.server._guard`'s limits on connections and request
time, so idle and half-sent connections cannot lock readers out.

Production sites can serve the directory with nginx instead (``--no-serve``);
see examples/nginx.conf.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path, PurePosixPath
from typing import IO
from urllib.parse import quote

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import URL, Headers
from starlette.responses import PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from feeder._media import SERVED_MEDIA_TYPES
from feeder.server._ranges import UNSATISFIABLE, ByteRange, is_ranged, requested_range

__all__ = [
    "FEED_NAMES",
    "SERVED_TYPES",
    "OutputFiles",
    "accepts_gzip",
    "create_app",
    "media_type_of",
    "not_modified",
]

INDEX = "index.html"
# Below this, gzip saves too little to be worth a header and the CPU.
GZIP_MIN_BYTES = 256
_COMPRESSIBLE = ("text/", "application/xml", "application/json", "application/javascript")
# What the cache may hold in all, and the biggest file it takes (bigger ones are streamed).
CACHE_BYTES = 64 * 1024 * 1024
CACHE_FILE_MAX = 8 * 1024 * 1024
STREAM_CHUNK = 256 * 1024
# Feeds, by file name, wherever they are in the tree.
FEED_NAMES = {
    "rss.xml": "application/rss+xml",
    "atom.xml": "application/atom+xml",
    "feed.json": "application/feed+json",
}
# Everything else that is served, by extension. A fixed table, not the system's
# mime.types: the same file is served (or not) the same way on every machine.
SERVED_TYPES = {
    ".xml": "application/xml",
    ".rss": "application/rss+xml",
    ".atom": "application/atom+xml",
    ".opml": "text/x-opml",
    ".xsl": "text/xsl",
    ".css": "text/css",
    ".js": "text/javascript",
    ".ico": "image/x-icon",
    ".svg": "image/svg+xml",
    ".woff2": "font/woff2",
    ".woff": "font/woff",
    # Pages (.html), media files, transcripts (.vtt, .srt, .txt) and chapters (.json).
    **SERVED_MEDIA_TYPES,
}


def media_type_of(path: str) -> str | None:
    """The media type ``path`` is served with, or None if it is not served at all."""
    name = PurePosixPath(path).name
    if name in FEED_NAMES:
        return FEED_NAMES[name]
    return SERVED_TYPES.get(PurePosixPath(name).suffix.lower())


class _Variant:
    """One small file read from one open descriptor: the bytes and their validators."""

    def __init__(self, data: bytes, mtime: float) -> None:
        self.data = data
        self.mtime = mtime
        self.tag = hashlib.blake2b(data, digest_size=12).hexdigest()
        self._gzipped: bytes | None = None

    @property
    def size(self) -> int:
        return len(self.data) + (len(self._gzipped) if self._gzipped is not None else 0)

    @property
    def gzipped(self) -> bytes:
        if self._gzipped is None:
            # mtime=0: the same bytes always compress to the same bytes.
            self._gzipped = gzip.compress(self.data, compresslevel=6, mtime=0)
        return self._gzipped


class _Stream(Response):
    """A big file sent from its open descriptor in chunks; the file is closed at the end.

    ``offset``: where the bytes sent start (a byte range), ``length`` how many.
    """

    def __init__(
        self,
        file: IO[bytes],
        length: int,
        headers: Mapping[str, str],
        media: str,
        *,
        offset: int = 0,
        status_code: int = 200,
    ):
        super().__init__(None, status_code=status_code, media_type=media, headers=dict(headers))
        self.headers["content-length"] = str(length)
        self._file = file
        self._length = length
        self._offset = offset

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            if scope["method"] == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                return
            if self._offset:
                await anyio.to_thread.run_sync(self._file.seek, self._offset)
            left = self._length
            while left > 0:
                chunk = await anyio.to_thread.run_sync(self._file.read, min(STREAM_CHUNK, left))
                if not chunk:
                    break  # cannot happen with an open, renamed-over file; never hang
                left -= len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": left > 0})
            if left > 0:
                await send({"type": "http.response.body", "body": b""})
        finally:
            self._file.close()


class OutputFiles(StaticFiles):
    """The output directory, read-only, over GET and HEAD.

    ``hubs`` (WebSub hub URLs) and ``base_url`` (where the directory is published)
    make the Link headers of feeds; without hubs there are none.
    """

    def __init__(self, directory: Path, *, hubs: Sequence[str] = (), base_url: str = "") -> None:
        super().__init__(directory=directory, check_dir=False)
        self._cache: OrderedDict[tuple[int, int, int, int], _Variant] = OrderedDict()
        self._sizes: dict[tuple[int, int, int, int], int] = {}
        self._cached_bytes = 0
        self._cache_lock = threading.Lock()
        self._links = _Links(tuple(hubs), base_url)

    def configure(self, directory: Path, *, hubs: Sequence[str] = (), base_url: str = "") -> None:
        """Serve another directory from now on (a reloaded config)."""
        self.directory = directory
        self.all_directories = [directory]
        self._links = _Links(tuple(hubs), base_url)

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes

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
        path = PurePosixPath(path).as_posix()
        media_type = self._media_type(path)
        if media_type is None:
            return _not_found()  # not something a site publishes: a backup, a swap file
        request = Headers(scope=scope)
        link = self._links.header(path) if media_type.split(";")[0] in _FEED_TYPES else None
        served = _Served(media_type, link=link)
        if media_type.split(";")[0] in _XML_FEEDS:
            served = _Served(media_type, vary=("Accept",), link=link)
            if wants_a_page(request.get("accept", "")):
                # Browsers show application/rss+xml and application/atom+xml as text and
                # apply no stylesheet; as XML, they render the feed's readable page.
                served = _Served("application/xml; charset=utf-8", "-page", ("Accept",), link)
        return self._serve(full_path, served, request, scope["method"])

    def _serve(
        self, full_path: str, served: _Served, request: Headers, method: str = "GET"
    ) -> Response:
        try:
            fd = os.open(full_path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return _not_found()  # renamed away or removed since the lookup
        file = os.fdopen(fd, "rb")
        handed_over = False
        try:
            info = os.fstat(file.fileno())
            if not stat.S_ISREG(info.st_mode):
                return _not_found()
            if info.st_size > CACHE_FILE_MAX:
                handed_over = True  # the response closes it when the body is sent
                return self._stream(file, info, served, request, method)
            key = (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)
            with self._cache_lock:
                variant = self._cache.get(key)
                if variant is not None:
                    self._cache.move_to_end(key)
            if variant is None:
                variant = _Variant(file.read(), info.st_mtime)
        finally:
            if not handed_over:
                file.close()
        response = self._file_response(served, variant, request, method)
        self._remember(key, variant)
        return response

    def _remember(self, key: tuple[int, int, int, int], variant: _Variant) -> None:
        with self._cache_lock:
            self._sizes[key] = self._sizes.get(key, 0)
            self._cache[key] = variant
            self._cache.move_to_end(key)
            # The gzipped form may have been made since the variant was counted.
            self._cached_bytes += variant.size - self._sizes[key]
            self._sizes[key] = variant.size
            while self._cached_bytes > CACHE_BYTES and self._cache:
                dropped, _variant = self._cache.popitem(last=False)
                self._cached_bytes -= self._sizes.pop(dropped)

    def _media_type(self, path: str) -> str | None:
        media_type = media_type_of(path)
        if media_type is None:
            return None
        if media_type.startswith("text/") or media_type.endswith(("xml", "json")):
            media_type += "; charset=utf-8"
        return media_type

    @staticmethod
    def _validators(
        tag: str, mtime: float, compressible: bool, served: _Served | None = None
    ) -> dict[str, str]:
        headers = {
            "ETag": tag,
            "Last-Modified": formatdate(mtime, usegmt=True),
            # Feeds change without notice: caches may keep a copy but must revalidate.
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
        }
        vary = served.vary if served is not None else ()
        varies = (*vary, "Accept-Encoding") if compressible else vary
        if varies:
            headers["Vary"] = ", ".join(varies)
        if served is not None and served.link:
            headers["Link"] = served.link
        return headers

    def _stream(
        self,
        file: IO[bytes],
        info: os.stat_result,
        served: _Served,
        request: Headers,
        method: str = "GET",
    ) -> Response:
        # Too big to hash on every request: the tag names this version of the file,
        # which a build only ever replaces by renaming a new file over it.
        identity = f"{info.st_dev}:{info.st_ino}:{info.st_mtime_ns}:{info.st_size}".encode()
        tag = f'"f-{hashlib.blake2b(identity, digest_size=12).hexdigest()}{served.tag}"'
        headers = self._validators(tag, info.st_mtime, False, served)
        ranged = is_ranged(served.media_type)
        if ranged:
            headers["Accept-Ranges"] = "bytes"
        if not_modified(request, tag, info.st_mtime):
            file.close()
            return Response(status_code=304, headers=headers)
        size = info.st_size
        part = requested_range(request, method, size, tag, info.st_mtime) if ranged else None
        if part is UNSATISFIABLE:
            file.close()
            return _unsatisfiable(info.st_size, headers)
        if part is not None:
            headers["Content-Range"] = part.content_range
            return _Stream(
                file,
                part.length,
                headers,
                served.media_type,
                offset=part.start,
                status_code=206,
            )
        return _Stream(file, info.st_size, headers, served.media_type)

    def _file_response(
        self, served: _Served, variant: _Variant, request: Headers, method: str = "GET"
    ) -> Response:
        media_type = served.media_type
        ranged = is_ranged(media_type)
        compressible = not ranged and (
            media_type.startswith(_COMPRESSIBLE) or "+xml" in media_type or ("+json" in media_type)
        )
        use_gzip = (
            compressible
            and len(variant.data) >= GZIP_MIN_BYTES
            and accepts_gzip(request.get("accept-encoding", ""))
        )
        etag = f'"{variant.tag}{served.tag}{"-gzip" if use_gzip else ""}"'
        headers = self._validators(etag, variant.mtime, compressible, served)
        if ranged:
            headers["Accept-Ranges"] = "bytes"
        if not_modified(request, etag, variant.mtime):
            return Response(status_code=304, headers=headers)
        if ranged:
            size = len(variant.data)
            part = requested_range(request, method, size, etag, variant.mtime)
            if part is UNSATISFIABLE:
                return _unsatisfiable(size, headers)
            if part is not None:
                return _partial(variant.data, part, media_type, headers)
        if use_gzip:
            headers["Content-Encoding"] = "gzip"
        body = variant.gzipped if use_gzip else variant.data
        return Response(body, media_type=media_type, headers=headers)


_XML_FEEDS = ("application/rss+xml", "application/atom+xml")
# What is a feed, by the media type it is served with (feeds of every kind, archives too).
_FEED_TYPES = frozenset((*FEED_NAMES.values(), *_XML_FEEDS))


@dataclass(frozen=True)
class _Served:
    """How one request gets a file: its media type, what that adds to the ETag and Vary,
    and its Link header."""

    media_type: str
    tag: str = ""
    vary: tuple[str, ...] = ()
    link: str | None = None


# What a URL keeps as it is in a Link header's <...>; anything else is percent-encoded.
_URI_SAFE = ":/?#[]@!$&'()*+,;=%~"


@dataclass(frozen=True)
class _Links:
    """WebSub discovery (section 4): a feed's hubs and its own public URL, in one header."""

    hubs: tuple[str, ...]
    base_url: str

    def header(self, path: str) -> str | None:
        if not self.hubs:
            return None
        links = [f'<{quote(hub, safe=_URI_SAFE)}>; rel="hub"' for hub in self.hubs]
        own = quote(self.base_url + path.lstrip("/"), safe=_URI_SAFE)
        return ", ".join([*links, f'<{own}>; rel="self"'])


def wants_a_page(accept: str) -> bool:
    """Whether a request is a browser loading a page (it asks for HTML first)."""
    first = accept.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return first == "text/html"


def _not_found() -> Response:
    return PlainTextResponse("Not Found", status_code=404)


def _partial(data: bytes, part: ByteRange, media_type: str, headers: dict[str, str]) -> Response:
    headers = {**headers, "Content-Range": part.content_range}
    return Response(
        data[part.start : part.end + 1], status_code=206, media_type=media_type, headers=headers
    )


def _unsatisfiable(size: int, headers: dict[str, str]) -> Response:
    """416: no byte of the file is in the range asked for; says how big the file is."""
    return PlainTextResponse(
        "Range Not Satisfiable\n",
        status_code=416,
        headers={**headers, "Content-Range": f"bytes */{size}"},
    )


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
        except (TypeError, ValueError, IndexError, OverflowError, OSError):
            return False  # RFC 9110 section 13.1.3: an invalid date is ignored
        return int(mtime) <= since
    return False


def create_app(files: OutputFiles) -> Starlette:
    """The ASGI application: the output directory at the root, nothing else."""
    return Starlette(routes=[Mount("/", app=files)])
