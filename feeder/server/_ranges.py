"""Byte ranges (RFC 9110 section 14) for the media files the server serves.

Podcast apps and browsers seek in audio and video, and resume downloads, by
asking for part of a file: ``Range: bytes=1000-`` gets ``206 Partial
Content`` with ``Content-Range: bytes 1000-4999/5000``. What this server
does:

- ranges are offered (``Accept-Ranges: bytes``) for audio, video, images and
  PDF, which are served as they are, never gzipped (a range of a gzipped
  body would be a range of other bytes);
- one range is answered with 206; several are answered with the whole file
  (200), which RFC 9110 allows and every client handles, instead of a
  multipart body nobody asks for;
- a range that starts at or beyond the end of the file gets ``416 Range Not
  Satisfiable`` with ``Content-Range: bytes */<size>``;
- a ``Range`` header that does not parse, or names another unit, is ignored
  (200), as RFC 9110 says;
- ``If-Range`` with the current ETag (or exactly the current Last-Modified)
  keeps the range; any other value gets the whole, changed, file;
- a range is only answered to GET (HEAD gets the headers of the whole file).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import formatdate

from starlette.datastructures import Headers

__all__ = ["UNSATISFIABLE", "ByteRange", "is_ranged", "requested_range"]

_RANGED = ("audio/", "video/", "image/", "application/pdf")
_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass(frozen=True)
class ByteRange:
    """Bytes ``start`` to ``end`` inclusive of a file of ``size`` bytes."""

    start: int
    end: int
    size: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1

    @property
    def content_range(self) -> str:
        return f"bytes {self.start}-{self.end}/{self.size}"


#: A Range that no byte of the file satisfies (answered with 416).
UNSATISFIABLE = ByteRange(0, -1, 0)


def is_ranged(media_type: str) -> bool:
    """Whether files of ``media_type`` are served with byte ranges (and without gzip)."""
    return media_type.split(";")[0].strip().lower().startswith(_RANGED)


def _if_range_holds(request: Headers, etag: str, mtime: float) -> bool:
    condition = request.get("if-range")
    if condition is None:
        return True
    condition = condition.strip()
    if condition.startswith(('"', "W/")):
        # A strong comparison: a weak tag never matches (RFC 9110 section 13.1.5).
        return not condition.startswith("W/") and condition == etag
    return condition == formatdate(mtime, usegmt=True)


def requested_range(
    request: Headers, method: str, size: int, etag: str, mtime: float
) -> ByteRange | None:
    """The one range to answer, :data:`UNSATISFIABLE`, or None for the whole file."""
    header = request.get("range")
    if header is None or method != "GET":
        return None
    unit, _, specs = header.partition("=")
    if unit.strip().lower() != "bytes" or not specs.strip():
        return None
    ranges: list[tuple[int, int]] = []
    for spec in specs.split(","):
        found = _SPEC.match(spec)
        if found is None:
            return None
        first, last = found.groups()
        if first:
            start = int(first)
            end = int(last) if last else size - 1
            if last and end < start:
                return None  # invalid: the whole header is ignored
            if start < size:
                ranges.append((start, min(end, size - 1)))
        elif last:
            suffix = int(last)
            if suffix > 0 and size > 0:
                ranges.append((max(0, size - suffix), size - 1))
        else:
            return None
    if not _if_range_holds(request, etag, mtime):
        return None
    if not ranges:
        return UNSATISFIABLE
    if len(ranges) > 1:
        return None
    (start, end), *_ = ranges
    return ByteRange(start, end, size)
