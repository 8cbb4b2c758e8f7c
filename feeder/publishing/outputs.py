"""Which output directory is which: an id kept in the directory itself.

Daemons that share an output directory (a network volume) must agree that it
is one directory, and daemons on hosts that each have a ``/srv/public`` of
their own must not: a path names neither. So each output directory carries a
small file, ``.feeder-output``, holding a random id made the first time feeder
publishes there. The locks, the build state and ``feeder status`` are keyed by
it. The embedded server serves no dotfiles, so readers never see it.

The file is made atomically, so that two daemons starting at once on an empty
shared directory agree on one id: the id is written to a temp file, which is
then hard-linked to the final name. ``link`` fails when the name exists, also
over NFS (it is one operation on the server), so exactly one process wins and
every other one reads what the winner wrote, complete. Where hard links are
not supported (some FUSE and SMB mounts) the file is created with
``O_CREAT | O_EXCL`` instead, and a reader that finds it still empty reads again.

A directory whose file is deleted (``rm -rf public``) gets a new id on its next
build, and with it a full build: it is a new directory as far as anyone can
tell. A copy of the file in another directory (``rsync`` of a whole output
directory to a new host) makes the two look like one shared directory, so only
one of them would be built: leave the file out of such copies.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import time
from datetime import timedelta
from pathlib import Path

from feeder.errors import PublishError

__all__ = ["FORGET_AFTER", "OUTPUT_FILE", "OutputChanged", "ensure", "identify", "read"]

OUTPUT_FILE = ".feeder-output"
#: An output directory that no build has started in for this long stops holding back
#: the bookkeeping incremental builds need (it gets a full build if it comes back).
FORGET_AFTER = timedelta(days=30)

_ID = re.compile(r"[0-9a-f]{32}")
_NOTE = (
    "# The identity of this feeder output directory: daemons that publish this\n"
    "# directory share it. Do not copy this file into another output directory.\n"
)
# Errors of link() that mean "no hard links here", not "the name exists".
_NO_LINKS = {errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EMLINK, errno.ENOSYS}
_REREAD_SECONDS = 2.0


class OutputChanged(PublishError):
    """The output directory's identity is not the one a daemon holds the locks for."""


def _file(directory: Path) -> Path:
    return directory / OUTPUT_FILE


def _damaged(path: Path, why: str) -> PublishError:
    return PublishError(
        f"{path}: {why}; delete it and the directory gets a new identity (and a full build)"
    )


def read(directory: Path) -> str | None:
    """The id of ``directory``, or None when it has none yet (or does not exist)."""
    path = _file(directory)
    deadline = time.monotonic() + _REREAD_SECONDS
    while True:
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise PublishError(f"{path}: cannot be read: {exc.strerror}") from exc
        first = data.split(b"\n", 1)[0].strip().decode("ascii", "replace")
        if _ID.fullmatch(first):
            return first
        if data and data.endswith(b"\n"):
            raise _damaged(path, "holds no output id")
        if time.monotonic() > deadline:
            raise _damaged(path, "is empty or cut short")
        time.sleep(0.05)  # being written by a process that could not hard-link it


def identify(directory: Path) -> str:
    """The id of ``directory``, made (with the directory) if it has none yet."""
    found = read(directory)
    if found is not None:
        return found
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"{directory}: cannot be created: {exc.strerror}") from exc
    _create(directory, secrets.token_hex(16))
    made = read(directory)
    assert made is not None
    return made


def ensure(directory: Path, expected: str) -> bool:
    """Check that ``directory`` is still the output ``expected``; True if it was re-made.

    For a holder of that output's locks: a directory that lost its file (it was
    wiped) gets it back with the same id. Another id means another directory is
    mounted there now, or the file was replaced: :class:`OutputChanged`.
    """
    found = read(directory)
    if found is None:
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise PublishError(f"{directory}: cannot be created: {exc.strerror}") from exc
        _create(directory, expected)
        found = read(directory)
        if found == expected:
            return True
    if found != expected:
        raise OutputChanged(
            f"{_file(directory)}: names output {found}, not {expected} that this process "
            "publishes: another directory is there now; stopped writing"
        )
    return False


def _create(directory: Path, output: str) -> None:
    """Make the identity file holding ``output`` unless the directory has one already."""
    path = _file(directory)
    content = f"{output}\n{_NOTE}".encode()
    for attempt in range(3):
        temp = directory / f".{OUTPUT_FILE}.{secrets.token_hex(4)}.tmp"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                os.write(fd, content)
                os.fsync(fd)
            finally:
                os.close(fd)
            try:
                os.link(temp, path)
            except FileExistsError:
                return  # another process made it first: its id is the one
            except FileNotFoundError:
                if attempt < 2:
                    continue  # a build's sweep took the temp file for an orphan: again
                raise
            except OSError as exc:
                if exc.errno not in _NO_LINKS:
                    raise
                _create_exclusively(path, content)
            return
        except OSError as exc:
            raise PublishError(
                f"{path}: cannot be created: {exc.strerror or exc}; the output directory "
                "must be writable"
            ) from exc
        finally:
            with contextlib.suppress(OSError):
                temp.unlink()


def _create_exclusively(path: Path, content: bytes) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except FileExistsError:
        return
    try:
        os.write(fd, content)
        os.fsync(fd)
    finally:
        os.close(fd)
