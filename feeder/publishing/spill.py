"""What a full build holds for long, set aside on disk, so that its memory stays flat.

A full build's walk (feeder.publishing.archives) keeps each row's items until
the last archive page that carries the row is rendered: the site's page closes
every ``archive_page_size`` rows, but the page of a tag on one article in a
hundred stays open for thousands of rows, and the rows it holds stay in
memory. The bigger the site, the more of them there are at once.

:class:`Spill` keeps the items of the newest rows, up to :data:`KEEP_BYTES` of
them, in memory as they are (a budget in bytes, not rows: memory stays flat
however long the articles are), and writes those of older rows that are still
held to an unnamed temp file in the output directory (never visible there, and
gone when it is closed or the process dies), reading them back when a page
needs them. A site small enough to fit never touches the file. Where the file
cannot be made or written (a full disk), the items stay in memory: the build is
what matters.
"""

from __future__ import annotations

import logging
import os
import tempfile
import weakref
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from feeder.publishing.files import TEMP_SUFFIX
from feeder.publishing.items import Variant

__all__ = ["KEEP_BYTES", "Spill", "Spillable"]

log = logging.getLogger(__name__)

#: Bytes of the newest rows' items that stay in memory however long they are held
#: (about 1,800 rows of three items of 3 KB).
KEEP_BYTES = 16 << 20
#: Bytes of items written to the file at a time.
CHUNK = 1 << 20


class Spillable:
    """Items that a :class:`Spill` may set aside; :attr:`items` reads them back."""

    __slots__ = ("__weakref__", "_at", "_items", "_layout", "_spill")

    def __init__(self, items: Mapping[Variant, bytes]) -> None:
        self._items: Mapping[Variant, bytes] | None = items
        self._spill: Spill | None = None
        self._at = 0
        self._layout: tuple[tuple[Variant, int], ...] = ()

    @property
    def items(self) -> Mapping[Variant, bytes]:
        if self._items is not None:
            return self._items
        assert self._spill is not None
        return self._spill.read(self._at, self._layout)


class Spill:
    """The spill file of one build, in ``directory``; use as a context manager."""

    def __init__(self, directory: Path, keep_bytes: int = KEEP_BYTES, chunk: int = CHUNK) -> None:
        self.directory = directory
        self.keep_bytes = keep_bytes
        self.chunk = chunk
        # The newest rows, with the bytes of their items when they came.
        self._held: deque[tuple[weakref.ref[Spillable], int]] = deque()
        self._held_bytes = 0
        self._file: IO[bytes] | None = None
        self._end = 0  # the file's size
        self._pending = bytearray()  # items on their way to the file, and their rows
        self._queued: list[tuple[Spillable, tuple[tuple[Variant, int], ...]]] = []
        self._broken = False
        #: Rows whose items were set aside, and their bytes (for tests and benchmarks).
        self.rows = 0
        self.bytes = 0

    def __enter__(self) -> Spill:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._held.clear()
        self._held_bytes = 0
        self._pending, self._queued = bytearray(), []
        if self._file is not None:
            self._file.close()
            self._file = None

    def hold(self, held: Spillable) -> None:
        """``held`` is the newest row: set aside the items of rows older than the newest
        :attr:`keep_bytes` of them that something still holds (the newest row stays)."""
        items = held._items
        size = sum(len(data) for data in items.values()) if items is not None else 0
        queue = self._held
        queue.append((weakref.ref(held), size))
        self._held_bytes += size
        while self._held_bytes > self.keep_bytes and len(queue) > 1:
            ref, size = queue.popleft()
            self._held_bytes -= size
            old = ref()
            if old is not None and old._items is not None and not self._broken:
                self._set_aside(old)

    def _set_aside(self, held: Spillable) -> None:
        """Queue ``held``'s items for the file; they leave memory once it holds them."""
        items = held._items
        assert items is not None
        layout = tuple((variant, len(data)) for variant, data in items.items())
        for data in items.values():
            self._pending += data
        self._queued.append((held, layout))
        if len(self._pending) >= self.chunk:
            self._write_pending()

    def _write_pending(self) -> None:
        """Write the queued items in one go (a write per row waits on the filesystem
        each time), then let their rows read them from the file."""
        data, queued = self._pending, self._queued
        self._pending, self._queued = bytearray(), []
        try:
            if self._file is None:
                # Unnamed where the system allows it (O_TMPFILE); else a hidden temp
                # file that is never served, removed at once.
                self._file = tempfile.TemporaryFile(  # noqa: SIM115 (closed by close())
                    buffering=0, dir=self.directory, prefix=".spill-", suffix=TEMP_SUFFIX
                )
            written = os.pwrite(self._file.fileno(), data, self._end)
            if written != len(data):
                raise OSError(f"wrote {written} of {len(data)} bytes")
        except OSError as exc:
            self._broken = True
            log.warning(
                "%s: cannot set a full build's items aside (%s); they stay in memory",
                self.directory,
                exc,
            )
            return
        at = self._end
        for held, layout in queued:
            held._spill, held._at, held._layout = self, at, layout
            held._items = None
            at += sum(length for _variant, length in layout)
        self._end += len(data)
        self.rows += len(queued)
        self.bytes += len(data)

    def read(self, at: int, layout: tuple[tuple[Variant, int], ...]) -> dict[Variant, bytes]:
        assert self._file is not None, "read after the build ended"
        total = sum(length for _variant, length in layout)
        data = os.pread(self._file.fileno(), total, at)
        if len(data) != total:
            raise OSError(f"{self.directory}: a full build's set-aside items were cut short")
        items: dict[Variant, bytes] = {}
        start = 0
        for variant, length in layout:
            items[variant] = data[start : start + length]
            start += length
        return items
