"""Real media files for the enclosure and podcast tests: audio bytes, PNG and JPEG artwork."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path


def audio(path: Path, size: int = 50_000) -> bytes:
    """A file of ``size`` bytes that stands in for an episode (content differs per path)."""
    data = (path.name.encode() + os.urandom(64)) * (size // 64 + 1)
    data = data[:size]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return data


def png(path: Path, width: int = 1400, height: int = 1400) -> Path:
    """A valid RGB PNG of ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + b"\x20\x40\x80" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows, 1))
        + chunk(b"IEND", b"")
    )
    return path


def jpeg(path: Path, width: int = 1400, height: int = 1400) -> Path:
    """The head of a baseline JPEG (SOI, APP0, SOF0) saying ``width`` x ``height``."""
    app0 = b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    sof0 = struct.pack(">BHHB", 8, height, width, 3) + b"\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(
        b"\xff\xd8"
        + b"\xff\xe0"
        + struct.pack(">H", len(app0) + 2)
        + app0
        + b"\xff\xc0"
        + struct.pack(">H", len(sof0) + 2)
        + sof0
        + b"\xff\xd9"
    )
    return path
