"""The daemon's single writer: one thread runs every build, one at a time.

Scheduler jobs and signals never build themselves; they *ask* (:meth:`BuildQueue.request`)
and return at once. Asks that arrive while a build runs are merged into one
follow-up build, a full build winning over an incremental one. So two builds
never overlap in one daemon, and a date-triggered job is never skipped because
an earlier instance of it is still building (which APScheduler's
``max_instances=1`` would otherwise do, silently dropping a publication).

After every build, successful or not, the ``next-due`` timer is re-armed for
the earliest article the last build has not covered. A failed build is retried
with a growing delay (poll interval, doubled up to 30 s) until it succeeds.

A queue publishes one output directory (``output``, its id); the builder takes
that directory's publish lock for each build. When a worker died or was
abandoned halfway, the queue takes the lock itself to remove what it left: its
temp files, and its mark (see feeder.publishing.fence), since a worker that is
known to be dead has surely stopped writing.

The feeds a build changed are handed to the WebSub pinger, which tells the hubs
from threads of its own: a slow hub never delays the next build.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from db import Lock, StorageFailure
from feeder import _daemon
from feeder.errors import FeederError
from feeder.publishing import outputs
from feeder.publishing.build import BuildReport
from feeder.publishing.files import sweep_temp
from feeder.publishing.websub import Pinger, changed_topics
from feeder.site import Site
from jobs.build_process import Builder, BuildFailed, WorkerDied, describe_error
from jobs.logs import Throttle

__all__ = ["RETRY_MAX_SECONDS", "BuildQueue"]

log = logging.getLogger("feeder.daemon")

RETRY_MAX_SECONDS = 30.0
Arm = Callable[[datetime | None], None]


class BuildQueue:
    """Builds on request, in its own thread, and keeps the next-due timer armed."""

    def __init__(
        self,
        site: Site,
        builder: Builder,
        *,
        output: str | None = None,
        publish_lock: Lock | None = None,
        writer: str | None = None,
        arm: Arm | None = None,
        pinger: Pinger | None = None,
    ) -> None:
        """``output``: the id of the output directory (default: identify site's one).

        ``publish_lock`` (of that directory) and ``writer`` (how the builder's
        worker describes itself) let the queue clean up after a dead worker.
        """
        self.site = site
        self.arm: Arm = arm or (lambda _when: None)
        self._builder = builder
        self._output = output
        self._pinger = pinger
        self._lock = publish_lock
        self._writer = writer
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._wanted = False
        self._full = False
        self._reasons: set[str] = set()
        self._building = False
        self._armed: datetime | None = None
        self._failures = 0
        self._retry_at = 0.0
        self._sweep = True  # the first build after taking over removes orphaned temp files
        self._built: int | None = None  # the revision the output directory was built to
        self._check_errors = Throttle()
        self._reported: set[str] = set()
        self._thread: threading.Thread | None = None
        #: Builds completed since start.
        self.builds = 0

    # -- asking ------------------------------------------------------------------

    def request(self, *, full: bool = False, reason: str = "request") -> None:
        """Ask for a build; merged with any build already asked for."""
        with self._cond:
            if self._stop.is_set():
                return
            self._wanted = True
            self._full = self._full or full
            self._reasons.add(reason)
            self._cond.notify_all()

    def tick(self) -> None:
        """The poll job: build if the database moved or an armed publication passed.

        With nothing to do this is one primary-key read (the site's revision, beside
        the revision this queue last built, read from the directory's row once);
        nothing is rendered. A build by another process (``feeder build``) can only
        make that remembered revision older: the next build then finds nothing new.
        """
        with self._cond:
            if self._wanted or self._building or self._stop.is_set():
                return  # the coming build re-checks everything when it is done
            armed = self._armed
        if armed is not None and self.site.now() >= armed:
            # The next-due job should have asked already; this covers a lost run.
            self.request(reason="due")
            return
        try:
            if self._built is None:
                self._built = _daemon.built_revision(self.site, self.output)
            changed = self.site.revision() != self._built
        except FeederError as exc:
            line = self._check_errors.failed(describe_error(exc))
            if line:
                log.error("cannot check for changes: %s", line)
            return
        if self._check_errors.recovered():
            log.info("the database answers again")
        if changed:
            self.request(reason="change")

    @property
    def output(self) -> str:
        """The id of the output directory this queue publishes."""
        if self._output is None:
            self._output = outputs.identify(self.site.config.output_dir)
        return self._output

    @property
    def armed(self) -> datetime | None:
        """The publication instant the next-due timer is set for."""
        return self._armed

    # -- running -------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="publisher", daemon=True)
        self._thread.start()

    def stop(self, grace: float) -> bool:
        """Let the running build finish for ``grace`` seconds, then abandon it.

        Returns True when a build was abandoned. Either way no temp file is left:
        the worker is killed, then its temp files are removed, within a second.
        """
        with self._cond:
            self._stop.set()
            self._cond.notify_all()
        abandoned = False
        if self._thread is not None:
            self._thread.join(grace)
            if self._thread.is_alive():
                abandoned = True
                log.warning("stopping: abandoning the running build")
                self._builder.abandon()
                self._thread.join(1.0)
        self._builder.close()
        if abandoned:
            self._clean_up_after_the_worker()
        if self._lock is not None:
            self._lock.close()
        return abandoned

    def wait_idle(self, timeout: float) -> bool:
        """Wait until no build runs or is asked for; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._wanted or self._building:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._stop.is_set():
                    if self._wanted:
                        delay = self._retry_at - time.monotonic()
                        if delay <= 0:
                            break
                        self._cond.wait(delay)
                    else:
                        self._cond.wait()
                if self._stop.is_set():
                    return
                full, reasons = self._full, self._reasons
                self._wanted, self._full, self._reasons = False, False, set()
                self._building = True
            try:
                self._build(full, reasons)
            finally:
                with self._cond:
                    self._building = False
                    self._cond.notify_all()

    def _build(self, full: bool, reasons: set[str]) -> None:
        why = ", ".join(sorted(reasons))
        try:
            try:
                report = self._builder.build(
                    self.site.config, full=full, output=self.output, sweep=self._sweep
                )
            except WorkerDied:
                self._clean_up_after_the_worker()
                self._sweep = True
                raise
            self._sweep = False
        except (BuildFailed, FeederError, StorageFailure, OSError) as exc:
            if self._stop.is_set():
                log.info("build abandoned (%s)", why)
                return
            self._failed(f"{describe_error(exc)} ({why})", full, reasons)
        else:
            self._failures, self._retry_at = 0, 0.0
            self._built = report.revision
            self.builds += 1
            log.info(
                "%s (%s)",
                report.summary(),
                why,
                extra={"fields": _report_fields(report, why)},
            )
            self._report_new(report)
            self._ping(report)
        self._rearm()

    def _ping(self, report: BuildReport) -> None:
        """Hand the feeds the build changed to the pinger (it returns at once)."""
        config = self.site.config
        if self._pinger is not None and config.websub_hub:
            self._pinger.submit(config.websub_hub, changed_topics(config, report.written))

    def _report_new(self, report: BuildReport) -> None:
        """Log each row a build left out once, not on every build that meets it again.

        After a full build (which meets every row), only what it reported is kept
        in mind, so a row that was fixed and breaks again is logged again.
        """
        current = set(report.errors)
        for error in report.errors:
            if error not in self._reported:
                log.error("%s", error, extra={"fields": {"event": "left-out", "error": error}})
        self._reported = current if report.full else self._reported | current

    def _clean_up_after_the_worker(self) -> None:
        """Remove the temp files and the mark of a worker that died halfway.

        Only while holding the publish lock (so any temp file is an orphan), and
        only if it is free now: otherwise its holder cleans up before it writes.
        """
        if self._lock is None:
            return
        try:
            if not self._lock.try_acquire():
                return
        except (StorageFailure, OSError):
            return
        try:
            removed = sweep_temp(self.site.config.output_dir, older_than=0)
            if removed:
                log.info("removed %d temp files left by an interrupted build", removed)
            if self._writer is not None:
                with contextlib.suppress(FeederError):
                    _daemon.release_output(self.site, self.output, self._writer)
        finally:
            self._lock.release()

    def _failed(self, message: str, full: bool, reasons: set[str]) -> None:
        self._failures += 1
        poll = self.site.config.schedule.poll_interval
        delay = min(RETRY_MAX_SECONDS, poll * 2 ** (self._failures - 1))
        log.error(
            "build failed: %s; retrying in %.1f s",
            message,
            delay,
            extra={"fields": {"event": "build-failed", "error": message, "retry_in": delay}},
        )
        with contextlib.suppress(FeederError):  # likely the cause; the log has it
            _daemon.record_error(self.site, self.output, f"build failed: {message}")
        with self._cond:
            self._retry_at = time.monotonic() + delay
            self._wanted = True
            self._full = self._full or full
            self._reasons |= reasons

    def _rearm(self) -> None:
        try:
            due = _daemon.next_unpublished(self.site, self.output)
        except FeederError as exc:
            log.warning("cannot look up the next scheduled article: %s", describe_error(exc))
            return  # keep the old timer; the retry of the failed build re-arms
        with self._cond:
            self._armed = due
        self.arm(due)


def _report_fields(report: BuildReport, reasons: str) -> dict[str, object]:
    return {
        "event": "build",
        "full": report.full,
        "reasons": reasons,
        "written": report.written_count,
        "unchanged": report.unchanged,
        "removed": report.removed_count,
        "entries": report.entries,
        "seconds": round(report.seconds, 4),
        "errors": len(report.errors),
    }
