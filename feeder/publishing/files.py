"""Writing the served directory: atomically, and only when bytes change.

A file is written to a hidden temp file in the same directory, fsynced and
renamed over the old one, so a reader (or a web server) sees either the old
complete file or the new complete file, never a part. Unchanged files are not
touched, so their mtime, ETag and Last-Modified stay put.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from feeder.errors import FeederError, PublishError

__all__ = ["TEMP_SUFFIX", "copy_if_changed", "is_temp", "remove", "sweep_temp", "write_if_changed"]

TEMP_SUFFIX = ".tmp"
#: Wraps each rename into place and each removal (see feeder.publishing.fence).
Fence = Callable[[Path], AbstractContextManager[object]]


def is_temp(name: str) -> bool:
    """Whether ``name`` is one of our in-flight temp files (never to be served)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_if_changed(path: Path, data: bytes, *, fence: Fence | None = None) -> bool:
    """Atomically replace ``path`` with ``data`` unless it already holds exactly that.

    ``fence`` wraps the rename that makes the new bytes visible (it refuses once
    the writer's lease on the directory ran out, see feeder.publishing.fence).
    """
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return False
    except (FileNotFoundError, NotADirectoryError):
        pass  # nothing there yet; creating it below says what is wrong, if anything
    except OSError as exc:
        raise PublishError(f"{path}: cannot be read: {exc.strerror}") from exc
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        with fence(path) if fence is not None else contextlib.nullcontext():
            os.replace(temp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if not isinstance(exc, OSError) or isinstance(exc, FeederError):
            raise  # refused by the fence, or stopped: the temp file is gone either way
        raise PublishError(
            f"{path}: cannot be written: {exc.strerror or exc}; check that the output "
            "directory exists and is writable"
        ) from exc
    return True


def copy_if_changed(path: Path, source: Path, size: int, *, fence: Fence | None = None) -> bool:
    """Atomically make ``path`` a copy of ``source`` unless it already is one of ``size`` bytes.

    For media files, whose names are their contents' hash: a file of that name
    and size holds those bytes, so it is not read again. Big files are copied
    in chunks, never held whole. ``fence`` wraps the rename, as for
    :func:`write_if_changed`.
    """
    try:
        if path.stat().st_size == size:
            return False
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        raise PublishError(f"{path}: cannot be read: {exc.strerror}") from exc
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}{TEMP_SUFFIX}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as reader, open(temp, "xb") as copy:
            while chunk := reader.read(1024 * 1024):
                copy.write(chunk)
            copy.flush()
            os.fsync(copy.fileno())
        os.chmod(temp, 0o644)
        with fence(path) if fence is not None else contextlib.nullcontext():
            os.replace(temp, path)
        _fsync_dir(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            temp.unlink()
        if not isinstance(exc, OSError) or isinstance(exc, FeederError):
            raise  # refused by the fence, or stopped: the temp file is gone either way
        raise PublishError(
            f"{path}: cannot be written from {source}: {exc.strerror or exc}; check that the "
            "output directory is writable"
        ) from exc
    return True


def remove(path: Path, *, fence: Fence | None = None) -> bool:
    """Delete ``path`` if it exists; True when something was removed."""
    try:
        with fence(path) if fence is not None else contextlib.nullcontext():
            path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise PublishError(f"{path}: cannot be removed: {exc.strerror}") from exc
    return True


def sweep_temp(directory: Path, older_than: float = 3600.0) -> int:
    """Remove temp files a killed writer left behind; returns how many."""
    removed = 0
    cutoff = time.time() - older_than
    if not directory.is_dir():
        return 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if is_temp(name):
                path = Path(root, name)
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime <= cutoff:
                        path.unlink()
                        removed += 1
    return removed
