"""Fencing: a build that lost its publish lock stops writing before the next one starts.

Every build of an output directory holds that directory's publish lock
(db.locks). A lock that dies with its holder is not enough on its own: a
PostgreSQL advisory lock is released the moment the server ends the holder's
session (a dropped connection, ``pg_terminate_backend``, a server restart),
while the process that held it may still be halfway through writing files;
and a SQLite ``flock`` is released the moment the daemon dies, a few
milliseconds before its build worker is killed with it. The next holder could
then write the same directory at the same time. Three rules prevent that:

1. **A lease.** A writer may rename or remove a file in the directory only
   while its lease runs. The lease is renewed every :data:`CONFIRM_SECONDS` by
   confirming the lock (a round trip on the lock's own session: while that
   session lives, the lock is held), and lasts :data:`LEASE_SECONDS` from the
   moment the confirmation *started*. Every rename and removal is checked
   against the lease just before it happens (:meth:`Lease.fenced`); a
   confirmation that fails or hangs simply lets the lease run out.
2. **A mark.** Before its first file operation a build marks the directory as
   being written (``outputs.writer`` in the database, committed before the
   first confirmation that starts its lease) and clears the mark when it ends.
3. **A wait.** A build that takes the lock and finds another build's mark (one
   that did not end cleanly: killed, or cut off from the database) waits
   :data:`FENCE_SECONDS` = lease + :data:`PAUSE_MARGIN_SECONDS` before
   writing anything.

Why that suffices. Let the old writer's lock be released at ``t_lost`` and the
new writer take it at ``t_acq >= t_lost``. A confirmation of the old writer
that succeeded saw its session alive at some instant after it started, so it
started before ``t_lost``; the old lease therefore ends before
``t_lost + LEASE <= t_acq + LEASE``. The old writer marked the directory
before any confirmation that started its lease, so if it ever wrote, the new
writer (which reads the mark after ``t_acq``) sees the mark and makes its
first file operation no earlier than ``t_acq + LEASE + margin``. Each file
operation of the old writer passed the lease check before its lease ended and
happens within the margin after that check. So the last operation of the old
writer comes before the first of the new one. The argument measures
durations, on each side with its own monotonic clock (never wall-clock time),
so it holds across hosts whose clocks disagree; it assumes that no process is
frozen for longer than the margin between a check and the rename right after
it (a virtual machine paused for seconds at that point could still complete
one rename late). A build that was not interrupted leaves no mark, so a
standby taking over from a leader that died idle, and every ordinary build,
start at once.

The daemon's leadership (the *daemon* lock) is confirmed separately, every
second at most; losing it makes the daemon step down, but it is the publish
lock and this fence that keep two writers apart.

For tests and diagnosis, ``FEEDER_WRITE_TRACE=/path/to/file`` appends one JSON
line before and one after each rename or removal in an output directory: the
writer, its build, the path and a ``CLOCK_MONOTONIC`` time, so the windows in
which builds of several processes on one host wrote can be compared.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from db import Lock, StorageFailure
from feeder.errors import LockedError
from feeder.publishing.files import Fence

__all__ = [
    "CONFIRM_SECONDS",
    "FENCE_SECONDS",
    "LEASE_SECONDS",
    "PAUSE_MARGIN_SECONDS",
    "TRACE_ENV",
    "Fence",
    "Keeper",
    "Lease",
    "LockLost",
    "Trace",
    "Turn",
]

#: How often a writer confirms its publish lock.
CONFIRM_SECONDS = 0.25
#: How long one confirmation lets it write (several confirmations fit in, so a slow
#: round trip does not cut a healthy build short).
LEASE_SECONDS = 2.0
#: How long a process may take from the lease check to the rename it guards.
PAUSE_MARGIN_SECONDS = 1.0
#: How long a build that finds an unfinished build's mark waits before writing.
FENCE_SECONDS = LEASE_SECONDS + PAUSE_MARGIN_SECONDS
TRACE_ENV = "FEEDER_WRITE_TRACE"

Clock = Callable[[], float]


class LockLost(LockedError):
    """The publish lock was lost during a build, which stopped writing."""


@dataclass(frozen=True)
class Turn:
    """A build's turn at an output directory.

    ``output`` is the directory's id (feeder.publishing.outputs), ``token``
    the mark the build set (None when the caller did not mark it), ``fence``
    what each rename and removal goes through.
    """

    output: str
    token: str | None = None
    fence: Fence | None = None


class Trace:
    """Appends a JSON line per file operation to the file named by ``FEEDER_WRITE_TRACE``."""

    def __init__(self, path: str, writer: str, token: str | None) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._fields = {"writer": writer, "token": token, "pid": os.getpid()}

    @classmethod
    def from_environment(cls, writer: str, token: str | None) -> Trace | None:
        path = os.environ.get(TRACE_ENV)
        return cls(path, writer, token) if path else None

    def note(self, event: str, path: str) -> None:
        line = {**self._fields, "event": event, "path": path, "at": time.monotonic()}
        os.write(self._fd, (json.dumps(line) + "\n").encode())

    def close(self) -> None:
        os.close(self._fd)


class Lease:
    """The right to write an output directory, for as long as confirmations renew it."""

    def __init__(
        self, directory: Path, *, clock: Clock = time.monotonic, trace: Trace | None = None
    ) -> None:
        self.directory = directory
        self._clock = clock
        self._trace = trace
        self._deadline = -math.inf

    def renew(self, started: float) -> None:
        """A confirmation that started at ``started`` (by this clock) succeeded."""
        self._deadline = max(self._deadline, started + LEASE_SECONDS)

    def revoke(self) -> None:
        """The lock is known to be lost: no more writing, from now on."""
        self._deadline = -math.inf

    def remaining(self) -> float:
        """Seconds left to write (negative once the lease ran out)."""
        return self._deadline - self._clock()

    def check(self) -> None:
        if self.remaining() <= 0:
            raise LockLost(
                f"{self.directory}: the publish lock was lost (database connection closed?); "
                "stopped writing so that the next holder can take over"
            )

    @contextlib.contextmanager
    def fenced(self, path: str) -> Iterator[None]:
        """Around one rename or removal of ``path``: refused once the lease ran out."""
        self.check()
        if self._trace is None:
            yield
            return
        self._trace.note("begin", path)
        try:
            yield
        finally:
            self._trace.note("end", path)


class Keeper:
    """Confirms a lock every :data:`CONFIRM_SECONDS` in a thread, renewing a lease."""

    def __init__(
        self,
        lock: Lock,
        lease: Lease,
        *,
        clock: Clock = time.monotonic,
        interval: float = CONFIRM_SECONDS,
    ) -> None:
        self._lock = lock
        self._lease = lease
        self._clock = clock
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def confirm(self) -> bool:
        """Confirm the lock once; True when it is still held (and the lease renewed)."""
        started = self._clock()
        try:
            held = self._lock.still_held()
        except (StorageFailure, OSError):
            held = False
        if held:
            self._lease.renew(started)
        else:
            self._lease.revoke()
        return held

    def start(self) -> None:
        """Confirm once now (raising :class:`LockLost` if that fails), then keep at it."""
        if not self.confirm():
            self._lease.check()
        self._thread = threading.Thread(target=self._run, name="lease", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            if not self.confirm():
                return  # a lost lock stays lost; the lease runs out and stays out

    def stop(self) -> None:
        """Stop confirming (before the lock is released: the two share a connection)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
