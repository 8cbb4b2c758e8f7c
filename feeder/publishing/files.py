"""Writing the served directory: atomically, durably, only when bytes change, in batches.

A file is written to a hidden temp file in the same directory and renamed over
the old one, so a reader (or a web server) sees either the old complete file
or the new complete file, never a part. Unchanged files are not touched, so
their mtime, ETag and Last-Modified stay put.

Durability is paid per batch, not per file. A :class:`FileBatch` writes each
changed file to its temp file (complete, closed), then makes the whole batch
durable at once (one ``syncfs`` of the filesystem where Linux has it and the
batch is big, else an ``fsync`` per temp file), then renames each temp file
into place in the order it was written, then syncs
each directory it renamed into once. A crash at any point leaves every served
file whole: before the renames only hidden temp files exist (a later build
sweeps them), and a rename only ever puts a complete, durable file in place.
A full build of a big site commits a batch every thousand files in a
background thread while the next batch is rendered; a build that changes a
handful of files commits them together at the end, at no more syncs than
writing them one by one.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import itertools
import os
import secrets
import stat
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Literal, NamedTuple

from feeder.errors import FeederError, PublishError

__all__ = [
    "BATCH_BYTES",
    "BATCH_FILES",
    "SYNCFS_FROM",
    "TEMP_SUFFIX",
    "Fence",
    "FileBatch",
    "copy_if_changed",
    "is_temp",
    "remove",
    "sweep_temp",
    "write_if_changed",
]

TEMP_SUFFIX = ".tmp"
#: A batch is committed when it holds this many changed files or bytes.
BATCH_FILES = 1000
BATCH_BYTES = 8 * 1024 * 1024
#: From this many files on, one syncfs() replaces an fsync() per file: for a thousand
#: files it is many times faster (bench/bench_build.py measures both). Below it (a tick
#: writes a dozen files), syncing only our own files costs a few milliseconds and never
#: waits for what other programs are writing to the same filesystem.
SYNCFS_FROM = 64

Sync = Literal["auto", "fsync", "syncfs"]
#: Wraps each rename into place and each removal (see feeder.publishing.fence): it
#: refuses once the writer's lease on the directory ran out.
Fence = Callable[[str], AbstractContextManager[object]]


def _fenced(fence: Fence | None, path: str | Path) -> AbstractContextManager[object]:
    return fence(os.fspath(path)) if fence is not None else contextlib.nullcontext()


def is_temp(name: str) -> bool:
    """Whether ``name`` is one of our in-flight temp files (never to be served)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def _fsync_path(path: Path | str, flags: int = os.O_RDONLY) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _load_syncfs() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int
    return function


_SYNCFS = _load_syncfs()
_syncfs_works = _SYNCFS is not None
# What syncfs() says where a sandbox (seccomp, some containers) does not allow it.
_NO_SYNCFS = frozenset({errno.ENOSYS, errno.EPERM, errno.EACCES, errno.EINVAL, errno.EOPNOTSUPP})


def _syncfs_unavailable() -> None:
    global _syncfs_works
    _syncfs_works = False


def _syncfs(directory: str) -> None:
    """Flush every file of the filesystem that holds ``directory`` to disk."""
    assert _SYNCFS is not None
    fd = os.open(directory, os.O_RDONLY)
    try:
        if _SYNCFS(fd) != 0:
            error = ctypes.get_errno()
            raise OSError(error, os.strerror(error))
    finally:
        os.close(fd)


def _holds(path: str, data: bytes) -> bool:
    """Whether ``path`` is a regular file holding exactly ``data`` (size first, then bytes)."""
    try:
        info = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False  # nothing there yet; creating it says what is wrong, if anything
    except OSError as exc:
        raise PublishError(f"{path}: cannot be read: {exc.strerror}") from exc
    if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
        return False
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            held = os.read(fd, len(data) + 1)
            while len(held) < len(data) + 1 and (more := os.read(fd, len(data) + 1 - len(held))):
                held += more
        finally:
            os.close(fd)
    except OSError as exc:
        raise PublishError(f"{path}: cannot be read: {exc.strerror}") from exc
    return held == data


def _unwritable(path: str | Path, exc: OSError) -> PublishError:
    return PublishError(
        f"{path}: cannot be written: {exc.strerror or exc}; check that the output "
        "directory exists and is writable"
    )


class _Item(NamedTuple):
    path: str
    data: bytes
    done: Callable[[bool], None] | None


class FileBatch:
    """Files replaced together: each complete before any is renamed, durable before served.

    ``write`` queues a file; every ``files`` files (or ``size`` bytes) the queued
    ones are committed in a background thread while the caller goes on: each
    is compared with what is in place (size first, then bytes), the changed
    ones are written to temp files, made durable, renamed into place in the
    order they were queued, and their directories synced. ``done(changed)``
    is called for each file once its commit succeeded. :meth:`flush` commits
    the rest and waits. A failed commit stops the batch: the next ``write`` or
    :meth:`flush` raises its error. Leaving the ``with`` block flushes, or,
    after an exception, drops what was not committed yet.

    ``after_sync`` runs between making a batch durable and renaming it (tests
    crash a build there). ``fence`` wraps each rename into place (a build whose
    lease on the directory ran out is refused there, and its batch dropped).
    ``sync`` chooses how a batch is made durable:
    ``"auto"`` (one syncfs from :data:`SYNCFS_FROM` files on, where the system
    has it, else an fsync per file), ``"fsync"`` or ``"syncfs"``
    (bench/bench_build.py compares them).
    """

    def __init__(
        self,
        *,
        files: int = BATCH_FILES,
        size: int = BATCH_BYTES,
        sync: Sync = "auto",
        after_sync: Callable[[], None] | None = None,
        fence: Fence | None = None,
    ) -> None:
        if sync == "syncfs" and _SYNCFS is None:
            raise ValueError("syncfs() is not available on this system")
        self._files = files
        self._size = size
        self._sync = sync
        self._after_sync = after_sync
        self._fence = fence
        self._queued: list[_Item] = []
        self._queued_bytes = 0
        self._made: set[str] = set()  # directories known to exist (the committing thread's)
        self._fresh: set[str] = set()  # of those, the ones this batch made (empty but for ours)
        self._committing: Future[None] | None = None
        self._committer: ThreadPoolExecutor | None = None

    def write(
        self, path: str | Path, data: bytes, done: Callable[[bool], None] | None = None
    ) -> None:
        """Queue ``data`` for ``path``; ``done(changed)`` follows once it is committed."""
        self._raise_failure()
        self._queued.append(_Item(os.fspath(path), data, done))
        self._queued_bytes += len(data)
        if len(self._queued) >= self._files or self._queued_bytes >= self._size:
            self._hand_over(background=True)

    def flush(self) -> None:
        """Commit every queued file and wait: afterwards each one is served and durable."""
        self._hand_over(background=False)

    # -- committing ----------------------------------------------------------------

    def _hand_over(self, *, background: bool) -> None:
        self._wait()  # one commit at a time, in order; a failed one stops the batch here
        items, self._queued, self._queued_bytes = self._queued, [], 0
        if not items:
            return
        if background:
            if self._committer is None:
                self._committer = ThreadPoolExecutor(1, thread_name_prefix="feeder-files")
            self._committing = self._committer.submit(self._commit, items)
        else:
            self._commit(items)

    def _wait(self) -> None:
        committing, self._committing = self._committing, None
        if committing is not None:
            committing.result()  # raises what the commit raised

    def _raise_failure(self) -> None:
        committing = self._committing
        if committing is not None and committing.done():
            self._wait()

    def _commit(self, items: list[_Item]) -> None:
        """Commit ``items`` (the list is emptied once their bytes are in temp files)."""
        directories: set[str] = set()
        fresh = [self._directory(item.path, directories) for item in items]
        staged = self._stage(items, fresh)
        changed = [(temp, item.path) for temp, item in zip(staged, items, strict=True) if temp]
        dones = [item.done for item in items]
        items.clear()  # the bytes are in the temp files: not held while they reach the disk
        try:
            self._make_durable(changed)
        except OSError as exc:
            self._discard(changed)
            raise PublishError(
                f"{os.path.dirname(changed[0][1])}: cannot be written to disk: "
                f"{exc.strerror or exc}"
            ) from exc
        if self._after_sync is not None:
            try:
                self._after_sync()
            except BaseException:
                self._discard(changed)
                raise
        for n, (temp, path) in enumerate(changed):
            try:
                with _fenced(self._fence, path):
                    os.replace(temp, path)
            except OSError as exc:
                self._discard(changed[n:])
                if isinstance(exc, FeederError):
                    raise  # refused by the fence
                raise _unwritable(path, exc) from exc
            except BaseException:
                self._discard(changed[n:])
                raise
            directories.add(os.path.dirname(path))
        for directory in sorted(directories):
            try:
                _fsync_path(directory)
            except OSError as exc:
                raise PublishError(
                    f"{directory}: cannot be written to disk: {exc.strerror or exc}"
                ) from exc
        for written, done in zip(staged, dones, strict=True):
            if done is not None:
                done(written is not None)

    def _directory(self, path: str, to_sync: set[str]) -> bool:
        """Make ``path``'s folder if it is missing, with each new folder's name synced in
        its parent; whether this batch made it (then only this batch's files are in it)."""
        folder = os.path.dirname(path)
        if folder in self._made:
            return folder in self._fresh
        if len(self._made) > _FOLDERS_KEPT:  # a big site's archive folders
            self._made.clear()
            self._fresh.clear()
        missing: list[str] = []
        current = folder
        while current not in self._made and not os.path.isdir(current):
            missing.append(current)
            parent = os.path.dirname(current)
            if parent == current:
                break
            current = parent
        for new in reversed(missing):
            try:
                os.mkdir(new)
            except FileExistsError as exc:  # made meanwhile, or a file in the way
                if not os.path.isdir(new):
                    raise _unwritable(path, exc) from exc
                continue  # someone else's: not known to be empty
            except OSError as exc:
                raise _unwritable(path, exc) from exc
            self._fresh.add(new)
            to_sync.add(os.path.dirname(new))
        self._made.update(missing)
        self._made.add(folder)
        return folder in self._fresh

    def _stage(self, items: list[_Item], fresh: list[bool]) -> list[str | None]:
        """Each item's temp file, complete and closed (None: the file holds it already);
        ``fresh``: whether each goes into a folder this batch made.

        One thread does it: more would take turns on the interpreter lock and on
        each folder's lock in the kernel, costing more CPU for no sooner an end.
        """
        outcomes = [_staged(item, new) for item, new in zip(items, fresh, strict=True)]
        failed = next((outcome for outcome in outcomes if isinstance(outcome, Exception)), None)
        if failed is not None:
            self._discard([(o, o) for o in outcomes if isinstance(o, str)])
            raise failed
        return [outcome for outcome in outcomes if not isinstance(outcome, Exception)]

    def _make_durable(self, changed: list[tuple[str, str]]) -> None:
        if not changed:
            return
        use_syncfs = self._sync == "syncfs" or (
            self._sync == "auto" and _syncfs_works and len(changed) >= SYNCFS_FROM
        )
        if use_syncfs:
            # One syncfs per filesystem the batch touches (a folder may be a mount point).
            devices: dict[int, str] = {}
            for parent in {os.path.dirname(path) for _temp, path in changed}:
                devices.setdefault(os.stat(parent).st_dev, parent)
            try:
                for directory in devices.values():
                    _syncfs(directory)
                return
            except OSError as exc:
                if exc.errno not in _NO_SYNCFS or self._sync == "syncfs":
                    raise  # a write that failed (EIO, ENOSPC): the batch fails
                _syncfs_unavailable()  # a sandbox that forbids it: fsync each from now on
        for temp, _path in changed:
            _fsync_path(temp)

    def _discard(self, staged: list[tuple[str, str]]) -> None:
        for temp, _path in staged:
            with contextlib.suppress(OSError):
                os.unlink(temp)

    # -- the with block ------------------------------------------------------------

    def __enter__(self) -> FileBatch:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_rest: object) -> None:
        try:
            if kind is None:
                self.flush()
            else:
                self._queued = []
                with contextlib.suppress(Exception):
                    self._wait()
        finally:
            if self._committer is not None:
                self._committer.shutdown(wait=True)
            self._committer = None


# Folders a batch remembers it made or found (then it starts over).
_FOLDERS_KEPT = 4096


# Temp names: a random part drawn once per process, then a count (a draw per file is a
# system call). Other processes writing the same folder draw other parts; a forked child
# draws its own.
_drawn = ""
_counted = itertools.count()


def _draw_again() -> None:
    global _drawn
    _drawn = ""


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_draw_again)


def _temp_for(path: str) -> str:
    """A fresh name for ``path``'s temp file, in its folder, hidden and never served."""
    global _drawn
    if not _drawn:
        _drawn = secrets.token_hex(4)
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name}.{_drawn}{next(_counted):x}{TEMP_SUFFIX}")


def _staged(item: _Item, fresh: bool) -> str | Exception | None:
    """``item``'s temp file, None when ``item.path`` holds its bytes already, or the error.
    ``fresh``: its folder is one this batch made, so nothing is there to compare with."""
    path, data = item.path, item.data
    try:
        if not fresh and _holds(path, data):
            return None
    except PublishError as exc:
        return exc
    temp = _temp_for(path)
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        error = _unwritable(path, exc)
        error.__cause__ = exc
        return error
    return temp


def write_if_changed(path: Path, data: bytes, *, fence: Fence | None = None) -> bool:
    """Atomically and durably replace ``path`` with ``data`` unless it already holds exactly
    that; a batch of one file (a temp file, its fsync, the rename, the directory's fsync).
    ``fence`` wraps the rename, as in :class:`FileBatch`."""
    changed: list[bool] = []
    with FileBatch(fence=fence) as batch:
        batch.write(path, data, changed.append)
    return changed[0]


def copy_if_changed(path: Path, source: Path, size: int, *, fence: Fence | None = None) -> bool:
    """Atomically make ``path`` a copy of ``source`` unless it already is one of ``size`` bytes.

    For media files, whose names are their contents' hash: a file of that name
    and size holds those bytes, so it is not read again. Big files are copied
    in chunks, never held whole. ``fence`` wraps the rename, as in :class:`FileBatch`.
    """
    try:
        if path.stat().st_size == size:
            return False
    except (FileNotFoundError, NotADirectoryError):
        pass
    except OSError as exc:
        raise PublishError(f"{path}: cannot be read: {exc.strerror}") from exc
    temp = _temp_for(os.fspath(path))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with source.open("rb") as reader, open(temp, "xb") as copy:
            while chunk := reader.read(1024 * 1024):
                copy.write(chunk)
            copy.flush()
            os.fsync(copy.fileno())
        os.chmod(temp, 0o644)
        with _fenced(fence, path):
            os.replace(temp, path)
        _fsync_path(path.parent)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
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
        with _fenced(fence, path):
            path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise PublishError(f"{path}: cannot be removed: {exc.strerror}") from exc
    return True


def _walk_files(directory: str) -> Iterator[os.DirEntry[str]]:
    """Every file under ``directory``, one directory entry at a time (no lists of names:
    a folder of a million pages is read as a stream)."""
    pending = [directory]
    while pending:
        current = pending.pop()
        try:
            with os.scandir(current) as entries:
                for entry in entries:
                    try:
                        if entry.is_dir(follow_symlinks=False):
                            pending.append(entry.path)
                        else:
                            yield entry
                    except OSError:
                        continue
        except OSError:
            continue


def sweep_temp(directory: Path, older_than: float = 3600.0) -> int:
    """Remove temp files a killed writer left behind; returns how many."""
    removed = 0
    cutoff = time.time() - older_than
    if not directory.is_dir():
        return 0
    for entry in _walk_files(str(directory)):
        if is_temp(entry.name):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime <= cutoff:
                    os.unlink(entry.path)
                    removed += 1
    return removed
