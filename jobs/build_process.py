"""Where builds run: in this process, or in a child process that can be stopped.

The daemon builds in a child process. SIGTERM must stop it within seconds, but
a full rebuild of a large site takes minutes, and a thread cannot be stopped
safely halfway through writing a file. A process can: the daemon kills it, then
takes the publish lock and removes the temp file the worker may have left. The
files in the output directory are each the old or the new complete version
throughout (see feeder.publishing.files). As a bonus, a crash inside a renderer
cannot take the daemon down.

The worker holds the output directory's publish lock for each build itself
(on a connection it keeps between builds) and follows the fencing rules of
feeder.publishing.fence: it confirms the lock while it writes and stops
writing on its own when it is lost. Its lock session is named after the
daemon's (``feeder run pid N on host (build worker)``).

The worker dies with the thread that started it (Linux ``PR_SET_PDEATHSIG``),
so a daemon killed with ``kill -9`` leaves no orphan that keeps writing while
a standby daemon takes over.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any, Protocol

from db import Lock, StorageFailure, owner
from feeder import _daemon
from feeder.config import Config
from feeder.errors import FeederError
from feeder.publishing.build import BuildReport
from feeder.site import Site
from jobs.logs import LogSettings, configure

__all__ = [
    "BuildFailed",
    "Builder",
    "InlineBuilder",
    "ProcessBuilder",
    "WorkerDied",
    "describe_error",
]

log = logging.getLogger("feeder.worker")

_PR_SET_PDEATHSIG = 1


class BuildFailed(Exception):
    """A build did not complete; ``str()`` is one line saying why."""


class WorkerDied(BuildFailed):
    """The worker process ended halfway through a build (killed, or crashed)."""


class Builder(Protocol):
    """Runs one build at a time for the publisher."""

    def build(self, config: Config, *, full: bool, output: str, sweep: bool = False) -> BuildReport:
        """Build the output directory ``output`` of ``config``; raises BuildFailed.

        ``sweep``: first remove temp files an interrupted build left there.
        """

    def abandon(self) -> None:
        """Stop a build that is running now, from another thread, at once."""

    def close(self) -> None:
        """Release what the builder holds (called when no build runs)."""


def describe_error(exc: BaseException) -> str:
    """One line for the log and ``feeder status``, naming the cause."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    if isinstance(exc, StorageFailure) and not line.startswith("database: "):
        return f"database: {line}"
    return line


class InlineBuilder:
    """Builds in the calling thread (tests, benchmarks): nothing to abandon."""

    def __init__(self, site: Site, writer: str | None = None) -> None:
        self._site = site
        self._writer = writer or owner("feeder run")
        self._locks = _Locks()

    def build(self, config: Config, *, full: bool, output: str, sweep: bool = False) -> BuildReport:
        if config != self._site.config:
            self._site = self._site.with_config(config)
        try:
            return _daemon.build(
                self._site,
                self._locks.get(self._site, self._writer, output),
                writer=self._writer,
                output=output,
                full=full,
                sweep=sweep,
            )
        except (FeederError, StorageFailure, OSError) as exc:
            raise BuildFailed(describe_error(exc)) from exc

    def abandon(self) -> None:
        return None

    def close(self) -> None:
        self._locks.close()


class _Locks:
    """The publish lock of each output directory built, kept open between builds."""

    def __init__(self) -> None:
        self._locks: dict[str, Lock] = {}

    def get(self, site: Site, writer: str, output: str) -> Lock:
        lock = self._locks.get(output)
        if lock is None:
            from feeder.publishing.exclusive import publish_lock

            lock = self._locks[output] = publish_lock(site.storage, site.config, writer, output)
        return lock

    def close(self) -> None:
        for lock in self._locks.values():
            with contextlib.suppress(StorageFailure):
                lock.close()
        self._locks.clear()


class ProcessBuilder:
    """Builds in a child process that is started on first use and after a crash.

    Call :meth:`build` from one long-lived thread (the publisher's): the worker
    is killed when the thread that started it ends.
    """

    def __init__(self, logs: LogSettings, writer: str | None = None) -> None:
        self._logs = logs
        self._writer = writer or owner("feeder run")
        self._process: BaseProcess | None = None
        self._connection: Connection | None = None

    def _start(self) -> Connection:
        if self._process is not None and self._process.is_alive() and self._connection:
            return self._connection
        self._reap()
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=_serve,
            args=(theirs, self._logs, os.getpid(), self._writer),
            name="feeder-build",
            daemon=True,
        )
        process.start()
        theirs.close()
        self._process, self._connection = process, ours
        return ours

    def build(self, config: Config, *, full: bool, output: str, sweep: bool = False) -> BuildReport:
        connection = self._start()
        try:
            connection.send(("build", config, full, output, sweep))
            kind, payload = connection.recv()
        except (EOFError, OSError):
            code = self._reap()
            raise WorkerDied(f"the build worker stopped (exit code {code})") from None
        if kind == "ok":
            assert isinstance(payload, BuildReport)
            return payload
        raise BuildFailed(str(payload))

    def abandon(self) -> None:
        process = self._process
        if process is not None and process.is_alive():
            process.kill()

    def close(self) -> None:
        if self._connection is not None and self._process is not None:
            with contextlib.suppress(OSError):
                self._connection.send(("stop",))
            self._process.join(1.0)
        self._reap()

    def _reap(self) -> int | None:
        """Make sure the worker is gone; its exit code, if it had one."""
        process, self._process = self._process, None
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if process is None:
            return None
        if process.is_alive():
            process.kill()
        process.join()
        code = process.exitcode
        process.close()
        return code


def _die_with_parent(parent: int) -> None:
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the line above took effect
        os._exit(0)


def _serve(connection: Connection, logs: LogSettings, parent: int, writer: str) -> None:
    """The worker's main loop: one build per request, one reply per build."""
    _die_with_parent(parent)
    # The daemon decides when the worker stops; Ctrl-C reaches the whole process
    # group, and systemd may signal every process of the unit.
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    configure(logs)
    site: Site | None = None
    locks = _Locks()
    try:
        while True:
            try:
                message: Any = connection.recv()
            except EOFError:
                return
            if message[0] != "build":
                return
            _, config, full, output, sweep = message
            try:
                if site is None or site.config.database_url != config.database_url:
                    locks.close()
                    if site is not None:
                        site.close()
                    site = Site.open(config)
                elif site.config != config:
                    site = site.with_config(config)
                report = _daemon.build(
                    site,
                    locks.get(site, writer, output),
                    writer=writer,
                    output=output,
                    full=full,
                    sweep=sweep,
                )
                reply: tuple[str, Any] = ("ok", report)
            except (FeederError, StorageFailure, OSError) as exc:
                reply = ("error", describe_error(exc))
            except Exception as exc:  # a bug: keep the traceback, keep the daemon
                log.exception("the build crashed")
                reply = ("error", f"{type(exc).__name__}: {describe_error(exc)}")
            connection.send(reply)
    finally:
        locks.close()
        if site is not None:
            site.close()
