"""The daemon's timers: an APScheduler 3 BackgroundScheduler with five jobs.

========== ============================= ============================================
job id     trigger                       what it does
========== ============================= ============================================
poll       every ``poll_interval``       build if the database moved (cheap check)
rebuild    every ``rebuild_interval``    full build: restores deleted or edited files
next-due   date: next scheduled article  build, so the article is live on the second
heartbeat  every ``HEARTBEAT_SECONDS``   tell ``feeder status`` the daemon is alive
confirm    every ``poll_interval``,      the daemon lock and the output directory are
           at most ``CONFIRM_SECONDS``   still this daemon's; step down if not
========== ============================= ============================================

Every job has an explicit id and is added with ``replace_existing=True``, so
re-arming replaces instead of piling up. Every job runs with ``coalesce=True``
(runs missed while the process was stopped or busy collapse into one),
``max_instances=1`` and ``misfire_grace_time=None``: APScheduler's default grace
of one second silently *skips* a run that starts late, and a publication that
is skipped because the machine was busy is exactly what must never happen.

The jobs themselves only ask the publisher for a build, so they take
microseconds and ``max_instances`` never drops a due run (see jobs/publisher.py).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from apscheduler.executors.base import BaseExecutor, run_job
from apscheduler.job import Job
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from jobs.build_queue import BuildQueue

__all__ = [
    "CONFIRM",
    "CONFIRM_SECONDS",
    "HEARTBEAT",
    "HEARTBEAT_SECONDS",
    "JOB_DEFAULTS",
    "NEXT_DUE",
    "POLL",
    "REBUILD",
    "Schedule",
    "schedule_publisher",
]

POLL = "poll"
REBUILD = "rebuild"
NEXT_DUE = "next-due"
HEARTBEAT = "heartbeat"
HEARTBEAT_SECONDS = 5.0
CONFIRM = "confirm"
CONFIRM_SECONDS = 1.0

JOB_DEFAULTS: dict[str, Any] = {"coalesce": True, "max_instances": 1, "misfire_grace_time": None}

Task = Callable[[], None]


class _DaemonThreads(BaseExecutor):  # type: ignore[misc]  # apscheduler is untyped
    """Runs each job in a thread of its own that never holds up the process's exit.

    APScheduler's ThreadPoolExecutor uses concurrent.futures, whose threads the
    interpreter joins at exit: a poll stuck on a locked database would then delay
    the exit that SIGTERM promises within seconds. Job runs are rare (one per
    poll interval) and short, so a thread per run costs nothing that matters.
    """

    def _do_submit_job(self, job: Job, run_times: list[datetime]) -> None:
        def target() -> None:
            try:
                events = run_job(job, job._jobstore_alias, run_times, self._logger.name)
            except BaseException as exc:
                self._run_job_error(job.id, exc, exc.__traceback__)
            else:
                self._run_job_success(job.id, events)

        threading.Thread(target=target, name=f"job {job.id}", daemon=True).start()


class Schedule:
    """The jobs on one scheduler, in UTC."""

    def __init__(
        self,
        *,
        poll: Task,
        rebuild: Task,
        due: Task,
        heartbeat: Task | None = None,
        confirm: Task | None = None,
    ) -> None:
        self._tasks = {POLL: poll, REBUILD: rebuild, NEXT_DUE: due}
        if heartbeat is not None:
            self._tasks[HEARTBEAT] = heartbeat
        if confirm is not None:
            self._tasks[CONFIRM] = confirm
        self._intervals: dict[str, float] = {}
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            job_defaults=JOB_DEFAULTS,
            # Jobs run side by side: a poll stuck on a locked database never delays next-due.
            executors={"default": _DaemonThreads()},
        )

    def start(
        self,
        *,
        poll_interval: float,
        rebuild_interval: float,
        paused: bool = False,
    ) -> None:
        self.set_intervals(poll_interval=poll_interval, rebuild_interval=rebuild_interval)
        if HEARTBEAT in self._tasks:
            self._every(HEARTBEAT, HEARTBEAT_SECONDS)
        self.scheduler.start(paused=paused)

    def shutdown(self) -> None:
        """Stop the timers; a job that is running finishes (they take microseconds)."""
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)

    def set_intervals(self, *, poll_interval: float, rebuild_interval: float) -> None:
        """(Re)set the poll and rebuild periods; unchanged periods keep their phase."""
        self._every(POLL, poll_interval)
        self._every(REBUILD, rebuild_interval)
        if CONFIRM in self._tasks:
            self._every(CONFIRM, min(poll_interval, CONFIRM_SECONDS))

    def _every(self, job_id: str, seconds: float) -> None:
        if self._intervals.get(job_id) == seconds:
            return
        self.scheduler.add_job(
            self._tasks[job_id],
            IntervalTrigger(seconds=seconds, timezone=UTC),
            id=job_id,
            name=job_id,
            replace_existing=True,
        )
        self._intervals[job_id] = seconds

    def arm_next_due(self, when: datetime | None) -> None:
        """Fire ``next-due`` at ``when`` (at once if it has passed), or never if None."""
        if when is None:
            with contextlib.suppress(JobLookupError):  # it may have fired just now
                self.scheduler.remove_job(NEXT_DUE)
            return
        self.scheduler.add_job(
            self._tasks[NEXT_DUE],
            DateTrigger(run_date=when, timezone=UTC),
            id=NEXT_DUE,
            name=NEXT_DUE,
            replace_existing=True,
        )

    def job(self, job_id: str) -> Job | None:
        """The job with ``job_id``, if it is scheduled."""
        job: Job | None = self.scheduler.get_job(job_id)
        return job

    def next_run(self, job_id: str) -> datetime | None:
        """When ``job_id`` runs next (None when it is not scheduled or not started)."""
        job = self.job(job_id)
        when = getattr(job, "next_run_time", None) if job is not None else None
        return when if isinstance(when, datetime) else None


def schedule_publisher(
    publisher: BuildQueue, *, heartbeat: Task | None = None, confirm: Task | None = None
) -> Schedule:
    """The daemon's timers for ``publisher``; it arms ``next-due`` through them."""
    schedule = Schedule(
        poll=publisher.tick,
        rebuild=lambda: publisher.request(full=True, reason="rebuild"),
        due=lambda: publisher.request(reason="due"),
        heartbeat=heartbeat,
        confirm=confirm,
    )
    publisher.arm = schedule.arm_next_due
    return schedule
