"""Locks that die with their holder: one daemon leads, one build writes at a time.

Each lock has a *scope*: the id of the output directory it is about (see
feeder.publishing.outputs), so daemons that publish different directories from
one database do not exclude each other, and daemons that share a directory do.

- The *daemon* lock is held by the leading ``feeder run`` of a directory for as
  long as it leads. Another daemon for the same directory waits for it as a
  standby and takes over when the first one dies, however it dies.
- The *publish* lock is held for the length of each build, by the daemon and by
  ``feeder build``, so a build started by hand or from cron never writes the
  output directory at the same time as the daemon. Holding it also means that
  any temp file in the output directory was left by a writer that died.

Both are released by the operating system or the database server when their
holder dies, so a crash never leaves a stale lock behind:

- SQLite: ``fcntl.flock`` on a file next to the database
  (``feeder.db-daemon-<scope>.lock``, ``feeder.db-publish-<scope>.lock``). The
  file holds the holder's description, for error messages; it is never deleted,
  because deleting a lock file is how two processes end up locking two
  different files. Next to the database rather than in the output directory:
  a SQLite database is only ever used from one host (its locking does not work
  over network file systems), so every daemon of a SQLite site runs there,
  where ``flock`` is exact and released the moment its holder dies; in an
  output directory on a network volume it would be emulated (NFS: released
  only when the server's lease runs out, 90 s by default) or not shared at all.
- PostgreSQL: a session-level advisory lock on a connection of its own, keyed
  by database, schema and scope. The holder's description is its
  ``application_name``. The session asks the server to probe the client with
  TCP keepalives, so a holder whose host vanishes loses the lock in about
  ten seconds instead of the system's default two hours.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import socket
import threading
import time
from abc import ABC, abstractmethod
from pathlib import Path

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import SQLAlchemyError

from db.engine import database_file
from db.errors import StorageFailure, one_line

__all__ = ["AdvisoryLock", "FileLock", "Lock", "LockUnavailable", "lock_for", "owner"]


class LockUnavailable(OSError):
    """The lock cannot be taken at all (its file cannot be created); ``str()`` says why."""


def owner(command: str) -> str:
    """How a lock holder describes itself, e.g. ``feeder run pid 41 on web1``."""
    return f"{command} pid {os.getpid()} on {socket.gethostname()}"


class Lock(ABC):
    """An exclusive lock that dies with its holder."""

    #: Where the lock lives, for messages.
    where: str

    @abstractmethod
    def try_acquire(self) -> bool:
        """Take the lock if it is free; True when this object holds it afterwards."""

    @abstractmethod
    def release(self) -> None:
        """Let go of the lock (does nothing if it is not held)."""

    @abstractmethod
    def still_held(self) -> bool:
        """Whether the lock is still ours (a database connection can drop under it)."""

    @abstractmethod
    def holder(self) -> str | None:
        """Who holds the lock, as far as can be told."""

    def close(self) -> None:
        """Release the lock and whatever keeps it (a database connection)."""
        self.release()

    def acquire(
        self,
        *,
        timeout: float | None = None,
        interval: float = 0.25,
        stop: threading.Event | None = None,
    ) -> bool:
        """Wait for the lock until ``timeout`` seconds pass or ``stop`` is set."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.try_acquire():
            left = interval if deadline is None else min(interval, deadline - time.monotonic())
            if left <= 0:
                return False
            if stop is not None:
                if stop.wait(left):
                    return False
            else:
                time.sleep(left)
        return True


class FileLock(Lock):
    """``flock`` on ``path``: per open file, released by the kernel on exit."""

    def __init__(self, path: Path, owner: str) -> None:
        self.path = path
        self.where = str(path)
        self._owner = owner
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError as exc:
            raise LockUnavailable(
                f"{self.path}: cannot create the lock file: {exc.strerror}; "
                "the database directory must be writable"
            ) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        except OSError:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{self._owner}\n".encode(), 0)
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock

    def still_held(self) -> bool:
        if self._fd is None:
            return False
        try:
            mine, there = os.fstat(self._fd), os.stat(self.path)
        except OSError:
            return False
        # If someone deleted the file, a newcomer locks a new file: we no longer exclude it.
        return (mine.st_dev, mine.st_ino) == (there.st_dev, there.st_ino)

    def holder(self) -> str | None:
        try:
            return self.path.read_text(encoding="utf-8", errors="replace").strip() or None
        except OSError:
            return None


class AdvisoryLock(Lock):
    """A PostgreSQL session-level advisory lock on a dedicated connection."""

    def __init__(self, engine: Engine, name: str, owner: str, scope: str = "") -> None:
        self._engine = engine
        self._name = name
        self._scope = scope
        self._owner = owner
        self._connection: Connection | None = None
        self._key: int | None = None
        self._held = False
        self.where = f"PostgreSQL advisory lock 'feeder {name}'"

    def _connect(self) -> tuple[Connection, int]:
        if self._connection is None or self._key is None:
            connection = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            try:
                scope = connection.execute(
                    text("SELECT current_database() || '.' || current_schema()")
                ).scalar_one()
                connection.execute(
                    text("SELECT set_config('application_name', :name, false)"),
                    {"name": self._owner[:63]},
                )
                # A client that vanishes (power cut, lost network) is noticed by the
                # server after 5 + 3 * 2 seconds of silence, and its locks released.
                connection.execute(
                    text(
                        "SELECT set_config('tcp_keepalives_idle', '5', false), "
                        "set_config('tcp_keepalives_interval', '2', false), "
                        "set_config('tcp_keepalives_count', '3', false)"
                    )
                )
            except BaseException:
                connection.close()
                raise
            self._connection = connection
            self._key = _key(self._name, _scoped(str(scope), self._scope))
        return self._connection, self._key

    def _drop_connection(self) -> None:
        connection, self._connection, self._held = self._connection, None, False
        if connection is not None:
            with contextlib.suppress(SQLAlchemyError):
                connection.close()

    def try_acquire(self) -> bool:
        if self._held:
            return True
        # The connection kept since the last release may have died with a server restart:
        # one new connection is tried before the database is declared unavailable.
        kept = self._connection is not None
        while True:
            try:
                connection, key = self._connect()
                self._held = bool(
                    connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar()
                )
            except SQLAlchemyError as exc:
                self._drop_connection()
                if kept:
                    kept = False
                    continue
                raise StorageFailure(f"database: {one_line(exc)}") from exc
            return self._held

    def release(self) -> None:
        # The connection stays open for the next acquire (the daemon takes the publish
        # lock for every build); close() drops it.
        if not self._held or self._connection is None:
            return
        try:
            self._connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
            self._held = False
        except SQLAlchemyError:
            self._drop_connection()  # the session is gone, and the lock with it

    def close(self) -> None:
        self.release()
        self._drop_connection()

    def still_held(self) -> bool:
        if not self._held or self._connection is None:
            return False
        try:
            self._connection.execute(text("SELECT 1"))
        except SQLAlchemyError:
            self._drop_connection()
            return False
        return True

    def holder(self) -> str | None:
        try:
            with self._engine.connect() as connection:
                scope = connection.execute(
                    text("SELECT current_database() || '.' || current_schema()")
                ).scalar_one()
                key = _key(self._name, _scoped(str(scope), self._scope)) & 0xFFFF_FFFF_FFFF_FFFF
                name = connection.execute(
                    text(
                        "SELECT a.application_name FROM pg_locks l "
                        "JOIN pg_stat_activity a ON a.pid = l.pid "
                        "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
                        "AND l.classid = :high AND l.objid = :low "
                        "AND l.database = (SELECT oid FROM pg_database "
                        "WHERE datname = current_database())"
                    ),
                    {"high": key >> 32, "low": key & 0xFFFF_FFFF},
                ).scalar()
        except SQLAlchemyError:
            return None
        return str(name) if name else None


def _key(name: str, scope: str) -> int:
    """A stable signed 64-bit advisory lock key for one lock of one site."""
    digest = hashlib.blake2b(f"feeder:{name}:{scope}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def _scoped(site: str, scope: str) -> str:
    """The database and schema of a site, and the scope of a lock in it."""
    return f"{site}:{scope}" if scope else site


_SCOPE = re.compile(r"[0-9A-Za-z_-]{1,64}")


def lock_for(engine: Engine, name: str, owner: str, fallback_dir: Path, *, scope: str = "") -> Lock:
    """The lock ``name`` of the site stored behind ``engine``, for ``scope``.

    PostgreSQL: an advisory lock. SQLite: a file next to the database (in
    ``fallback_dir`` for an in-memory one). ``scope`` (letters, digits, ``-``
    and ``_``) makes it one lock of many: one per output directory.
    """
    if scope and not _SCOPE.fullmatch(scope):
        raise ValueError(f"lock scope {scope!r}: letters, digits, '-' and '_' only")
    if engine.dialect.name == "postgresql":
        return AdvisoryLock(engine, name, owner, scope)
    suffix = f"{name}-{scope}" if scope else name
    path = database_file(engine.url.render_as_string(hide_password=False))
    if path is not None:
        return FileLock(path.with_name(f"{path.name}-{suffix}.lock"), owner)
    return FileLock(fallback_dir / f".feeder-{suffix}.lock", owner)
