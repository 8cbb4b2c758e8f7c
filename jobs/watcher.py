"""Instant publishing: a thread that hears each committed change and asks for a build.

On PostgreSQL every transaction that changes what is published (feeder's
own writes, and through triggers any other program's) sends a ``NOTIFY`` when
it commits (db.changes). :class:`ChangeWatcher` listens on a connection of its
own (db.notify) and asks the build queue for a build the moment one arrives,
so a change is served within a build's time instead of within a poll
interval. The poll job keeps running beside it: it is the fallback whenever
the listening connection is down, and the only way on SQLite.

A dropped connection (a server restart, ``pg_terminate_backend``, a network
fault) is logged once, with its cause, and made again: at once, then with a
delay that doubles while attempts fail (or connections drop again soon after
they are made); each new connection is followed by one check of the revision
counter, which catches whatever changed while nobody listened. Getting it back
is logged once too. A connection that keeps dropping is logged once a minute.
"""

from __future__ import annotations

import logging
import threading
import time

from db import ChangeListener, StorageFailure
from jobs.build_process import describe_error
from jobs.build_queue import BuildQueue
from jobs.logs import Throttle

__all__ = ["RECONNECT_FIRST_SECONDS", "RECONNECT_MAX_SECONDS", "ChangeWatcher"]

log = logging.getLogger("feeder.daemon")

# The first new connection is tried at once; after that, waits double from here...
RECONNECT_FIRST_SECONDS = 0.25
# ...up to this (the poll job publishes changes meanwhile).
RECONNECT_MAX_SECONDS = 15.0
# A connection that lasted less than this before it dropped does not reset the delay.
STABLE_SECONDS = 30.0
# How long one wait for a notification lasts: how soon stop() is noticed.
WAIT_SECONDS = 0.25


class ChangeWatcher:
    """Listens for changes to the site and asks ``publisher`` for a build on each."""

    def __init__(self, listener: ChangeListener, publisher: BuildQueue) -> None:
        self._listener = listener
        self._publisher = publisher
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._errors = Throttle()
        #: Connections made since start (the first one included).
        self.connections = 0
        #: Notifications that led to a build request.
        self.notified = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="listener", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop: it closes its connection within ``WAIT_SECONDS``."""
        self._stop.set()

    def join(self, timeout: float) -> bool:
        """Wait for the thread to end; False if it still runs (stuck connecting)."""
        if self._thread is not None:
            self._thread.join(timeout)
        return not self.running

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._listen()
        finally:
            self._listener.close()

    def _listen(self) -> None:
        delay = 0.0  # before the next attempt to connect
        down_since: float | None = None  # when the current outage began
        reported = False  # whether the current outage was logged
        up_since = 0.0
        while not self._stop.is_set():
            if not self._listener.connected:
                if delay and self._stop.wait(delay):
                    return
                try:
                    self._listener.connect()
                except StorageFailure as exc:
                    if down_since is None:
                        down_since = time.monotonic()
                        reported = self._lost("cannot listen for changes", exc)
                    else:  # the outage goes on; it was said when it began
                        log.debug("listening for changes: %s", describe_error(exc))
                    delay = _longer(delay)
                    continue
                self.connections += 1
                up_since = time.monotonic()
                self._connected(down_since, reported)
                down_since, reported = None, False
                # Whatever was committed while nobody listened was notified to no one.
                self._publisher.tick()
            try:
                heard = self._listener.wait(WAIT_SECONDS)
            except StorageFailure as exc:
                down_since = time.monotonic()
                reported = self._lost("lost the connection that listens for changes", exc)
                # A connection that drops soon after it was made backs off like a failed one.
                stable = down_since - up_since >= STABLE_SECONDS
                delay = 0.0 if stable else _longer(delay)
                continue
            if heard and not self._stop.is_set():
                self.notified += 1
                self._publisher.request(reason="notify")

    def _connected(self, down_since: float | None, reported: bool) -> None:
        fields = {"event": "listening", "channel": self._listener.channel}
        if down_since is None:
            log.info(
                "listening for changes (PostgreSQL channel %s); polling stays on as the fallback",
                self._listener.channel,
                extra={"fields": fields},
            )
        elif reported:
            log.info(
                "listening for changes again (after %.1f s)",
                time.monotonic() - down_since,
                extra={"fields": fields},
            )
        else:
            log.debug("listening for changes again")

    def _lost(self, what: str, exc: StorageFailure) -> bool:
        """Log the start of an outage (once a minute at most); whether it was logged."""
        error = describe_error(exc)
        line = self._errors.failed(f"{what}: {error}")
        if line is None:
            return False
        log.warning(
            "%s; reconnecting, and polling meanwhile",
            line,
            extra={"fields": {"event": "listen-lost", "error": error}},
        )
        return True


def _longer(delay: float) -> float:
    return min(max(delay * 2, RECONNECT_FIRST_SECONDS), RECONNECT_MAX_SECONDS)
