"""The daemon's scheduling logic in-process, with the fake clock and real APScheduler.

The publisher builds with :class:`InlineBuilder` (in this process, on the test's
clock). The scheduler is started paused, so nothing fires by itself: a test
fires a job the way APScheduler would (by calling its function), or resumes the
scheduler where APScheduler's own handling of late runs is the subject.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MISSED, JobExecutionEvent

from db import Storage, create_engine
from feeder import Site
from feeder.config import Config, ScheduleConfig
from feeder.publishing.build import BuildReport
from jobs import (
    NEXT_DUE,
    POLL,
    REBUILD,
    BuildQueue,
    InlineBuilder,
    Schedule,
    schedule_publisher,
)
from tests.conftest import START, FakeClock
from tests.feedcheck import parse_feed

WAIT = 10.0  # seconds; a deadline, never a sleep


@dataclass
class Daemon:
    """A publisher and its timers, wired as ``feeder run`` wires them."""

    site: Site
    publisher: BuildQueue
    schedule: Schedule

    def fire(self, job_id: str) -> None:
        """Run a job's function, as APScheduler does when its time comes."""
        job = self.schedule.job(job_id)
        assert job is not None, f"{job_id} is not scheduled"
        job.func()

    def settle(self) -> None:
        assert self.publisher.wait_idle(WAIT), "the publisher did not finish in time"

    def titles(self) -> list[str]:
        feed = parse_feed(self.site.config.output_dir / "rss.xml")
        return sorted(entry.title for entry in feed.entries)

    @property
    def next_due(self) -> datetime | None:
        return self.schedule.next_run(NEXT_DUE)


def start_daemon(site: Site, builder: InlineBuilder | None = None) -> Daemon:
    publisher = BuildQueue(site, builder or InlineBuilder(site))
    schedule = schedule_publisher(publisher)
    schedule.start(poll_interval=3600, rebuild_interval=7200, paused=True)
    publisher.start()
    return Daemon(site, publisher, schedule)


@pytest.fixture
def daemon(site: Site) -> Iterator[Daemon]:
    running = start_daemon(site)
    yield running
    running.schedule.shutdown()
    running.publisher.stop(WAIT)


def at(**delta: float) -> datetime:
    return START + timedelta(**delta)


def test_next_due_is_armed_for_the_earliest_scheduled_article(site: Site, daemon: Daemon) -> None:
    site.add_article("Later", published=at(hours=2))
    site.add_article("Sooner", published=at(hours=1))
    site.add_article("Now")
    daemon.publisher.request(reason="start")
    daemon.settle()
    assert daemon.titles() == ["Now"]
    assert daemon.next_due == at(hours=1)


def test_the_due_job_publishes_and_rearms_for_the_next(
    site: Site, clock: FakeClock, daemon: Daemon
) -> None:
    site.add_article("First", published=at(hours=1))
    site.add_article("Second", published=at(hours=2))
    daemon.publisher.request(reason="start")
    daemon.settle()

    clock.advance(hours=1)
    daemon.fire(NEXT_DUE)
    daemon.settle()
    assert daemon.titles() == ["First"]
    assert daemon.next_due == at(hours=2)

    clock.advance(hours=1)
    daemon.fire(NEXT_DUE)
    daemon.settle()
    assert daemon.titles() == ["First", "Second"]
    assert daemon.next_due is None


def test_the_timer_follows_every_change_to_the_schedule(
    site: Site, clock: FakeClock, daemon: Daemon
) -> None:
    article = site.add_article("Moving", published=at(hours=2))
    daemon.publisher.request(reason="start")
    daemon.settle()
    assert daemon.next_due == at(hours=2)

    def after_tick() -> datetime | None:
        daemon.publisher.tick()
        daemon.settle()
        return daemon.next_due

    site.edit_article(article.slug, published=at(minutes=30))
    assert after_tick() == at(minutes=30)
    early = site.add_article("Early", published=at(minutes=10))
    assert after_tick() == at(minutes=10)
    site.delete_article(early.slug)
    assert after_tick() == at(minutes=30)
    site.edit_article(article.slug, published=at(minutes=-1))
    assert after_tick() is None
    assert daemon.titles() == ["Moving"]


def test_what_came_due_while_no_daemon_ran_is_published_on_start(
    site: Site, clock: FakeClock
) -> None:
    site.add_article("Due during downtime", published=at(hours=1))
    site.add_article("Also due", published=at(hours=2))
    site.add_article("Still scheduled", published=at(hours=3))
    site.build()  # what the last daemon did before it stopped
    clock.advance(hours=2, minutes=30)

    daemon = start_daemon(site)
    try:
        daemon.publisher.request(reason="start")
        daemon.settle()
        assert daemon.titles() == ["Also due", "Due during downtime"]
        assert daemon.next_due == at(hours=3)
    finally:
        daemon.schedule.shutdown()
        daemon.publisher.stop(WAIT)


def test_a_publication_whose_timer_never_fired_is_caught_by_the_poll(
    site: Site, clock: FakeClock, daemon: Daemon
) -> None:
    site.add_article("Due", published=at(hours=1))
    daemon.publisher.request(reason="start")
    daemon.settle()
    clock.advance(hours=1, seconds=1)
    daemon.publisher.tick()  # the next-due run was lost; the poll notices the instant passed
    daemon.settle()
    assert daemon.titles() == ["Due"]


class ClockMovingBuilder(InlineBuilder):
    """Builds, then lets a second pass: the time a real build takes."""

    def __init__(self, site: Site, clock: FakeClock) -> None:
        super().__init__(site)
        self._clock = clock

    def build(self, config: Config, *, full: bool, output: str, sweep: bool = False) -> BuildReport:
        report = super().build(config, full=full, output=output, sweep=sweep)
        self._clock.advance(seconds=1)
        return report


def test_an_article_that_comes_due_during_a_build_is_not_missed(
    site: Site, clock: FakeClock
) -> None:
    site.add_article("Due mid-build", published=at(seconds=1))
    daemon = start_daemon(site, ClockMovingBuilder(site, clock))
    try:
        daemon.publisher.request(reason="start")
        daemon.settle()
        # The build saw the site at START; the article came due while it ran.
        assert daemon.titles() == []
        assert daemon.next_due == at(seconds=1)
        daemon.fire(NEXT_DUE)
        daemon.settle()
        assert daemon.titles() == ["Due mid-build"]
    finally:
        daemon.schedule.shutdown()
        daemon.publisher.stop(WAIT)


def test_the_rebuild_job_restores_deleted_and_tampered_files(site: Site, daemon: Daemon) -> None:
    site.add_article("Kept")
    daemon.publisher.request(reason="start")
    daemon.settle()
    public = site.config.output_dir
    feed, page = public / "rss.xml", public / "articles" / "kept.html"
    good_feed, good_page = feed.read_bytes(), page.read_bytes()
    feed.write_bytes(good_feed.replace(b"Kept", b"Defaced"))
    page.unlink()

    daemon.publisher.tick()  # nothing changed in the database: the poll does not see it
    daemon.settle()
    assert b"Defaced" in feed.read_bytes()
    daemon.fire(REBUILD)
    daemon.settle()
    assert feed.read_bytes() == good_feed
    assert page.read_bytes() == good_page


def test_a_tick_with_no_change_builds_nothing(site: Site, daemon: Daemon) -> None:
    site.add_article("Only")
    daemon.publisher.request(reason="start")
    daemon.settle()
    builds = daemon.publisher.builds
    for _ in range(20):
        daemon.publisher.tick()
    daemon.settle()
    assert daemon.publisher.builds == builds
    site.edit_article("only", title="Only, edited")
    daemon.publisher.tick()
    daemon.settle()
    assert daemon.publisher.builds == builds + 1
    assert daemon.titles() == ["Only, edited"]


class GatedBuilder(InlineBuilder):
    """Holds every build until the test opens the gate."""

    def __init__(self, site: Site) -> None:
        super().__init__(site)
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.fulls: list[bool] = []

    def build(self, config: Config, *, full: bool, output: str, sweep: bool = False) -> BuildReport:
        self.entered.set()
        assert self.gate.wait(WAIT)
        self.fulls.append(full)
        return super().build(config, full=full, output=output, sweep=sweep)


def test_requests_during_a_build_merge_into_one_more_build(site: Site) -> None:
    builder = GatedBuilder(site)
    daemon = start_daemon(site, builder)
    try:
        daemon.publisher.request(reason="start")
        assert builder.entered.wait(WAIT)
        site.add_article("Added during the build")
        for reason in ("change", "due", "change"):
            daemon.publisher.request(reason=reason)
        daemon.publisher.request(full=True, reason="rebuild")
        daemon.publisher.tick()  # sees a build running: asks for nothing more
        builder.gate.set()
        daemon.settle()
        # Five requests, one follow-up build: full, because one of them asked for that.
        assert builder.fulls == [False, True]
        assert daemon.titles() == ["Added during the build"]
    finally:
        daemon.schedule.shutdown()
        daemon.publisher.stop(WAIT)


def test_a_due_run_that_starts_hours_late_still_runs(
    site: Site, clock: FakeClock, daemon: Daemon
) -> None:
    site.add_article("Late but published", published=at(hours=1))
    daemon.publisher.request(reason="start")
    daemon.settle()
    clock.advance(hours=1)
    # The machine was suspended: the timer's instant is long gone when the scheduler runs.
    scheduler = daemon.schedule.scheduler
    scheduler.modify_job(NEXT_DUE, next_run_time=datetime.now(UTC) - timedelta(hours=3))
    done = threading.Event()
    scheduler.add_listener(lambda _event: done.set(), EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
    scheduler.resume()
    assert done.wait(WAIT)
    daemon.settle()
    assert daemon.titles() == ["Late but published"]


def test_missed_poll_ticks_coalesce_into_one_run() -> None:
    ticks: list[int] = []
    schedule = Schedule(poll=lambda: ticks.append(1), rebuild=lambda: None, due=lambda: None)
    schedule.start(poll_interval=10, rebuild_interval=3600, paused=True)
    try:
        # Seven ticks were missed (the process was stopped for a minute).
        schedule.scheduler.modify_job(POLL, next_run_time=datetime.now(UTC) - timedelta(seconds=65))
        finished: list[JobExecutionEvent] = []
        done = threading.Event()

        def listen(event: JobExecutionEvent) -> None:
            finished.append(event)
            done.set()

        schedule.scheduler.add_listener(listen, EVENT_JOB_EXECUTED | EVENT_JOB_MISSED)
        schedule.scheduler.resume()
        assert done.wait(WAIT)
        schedule.scheduler.pause()
    finally:
        schedule.shutdown()
    assert [event.code for event in finished] == [EVENT_JOB_EXECUTED]
    assert ticks == [1]


def test_a_failed_build_is_logged_recorded_and_retried_until_it_works(
    site: Site, caplog: pytest.LogCaptureFixture
) -> None:
    site.add_article("Waiting for a disk")
    fast = site.with_config(
        dataclasses.replace(site.config, schedule=ScheduleConfig(poll_interval=0.05))
    )
    blocker = fast.config.output_dir / "rss.xml"
    blocker.mkdir(parents=True)  # a directory where the feed goes
    daemon = start_daemon(fast)
    try:
        with caplog.at_level(logging.ERROR, logger="feeder.daemon"):
            daemon.publisher.request(reason="start")
            deadline = time.monotonic() + WAIT
            while "build failed" not in caplog.text and time.monotonic() < deadline:
                time.sleep(0.01)  # polling for the log line, with a deadline
        assert f"build failed: {blocker}: cannot be written" in caplog.text
        assert "retrying in" in caplog.text
        status = site.status()  # the output directory's own record, written after the log
        while status.last_error is None and time.monotonic() < deadline:
            time.sleep(0.01)
            status = site.status()
        assert status.last_error is not None and "cannot be written" in status.last_error
        assert status.built_at is None
        assert [o.last_error for o in status.outputs] == [status.last_error]

        blocker.rmdir()  # the operator fixed it
        daemon.settle()
        assert daemon.publisher.builds == 1
        assert daemon.titles() == ["Waiting for a disk"]
        assert site.status().built_at is not None
    finally:
        daemon.schedule.shutdown()
        daemon.publisher.stop(WAIT)


def test_an_unreachable_database_is_logged_once_then_its_recovery(
    site: Site, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # A database whose directory went away (an unmounted volume, say).
    gone = Site(site.config, Storage(create_engine(f"sqlite:///{tmp_path / 'unmounted' / 'x.db'}")))
    daemon = start_daemon(site)
    try:
        daemon.publisher.site = gone
        with caplog.at_level(logging.INFO, logger="feeder.daemon"):
            for _ in range(5):
                daemon.publisher.tick()
            daemon.publisher.site = site
            daemon.publisher.tick()
        errors = [r for r in caplog.records if "cannot check for changes" in r.getMessage()]
        assert len(errors) == 1
        assert "database:" in errors[0].getMessage()
        assert "the database answers again" in caplog.text
    finally:
        gone.close()
        daemon.schedule.shutdown()
        daemon.publisher.stop(WAIT)


def test_a_bad_row_is_logged_once_however_many_builds_meet_it(
    site: Site, clock: FakeClock, daemon: Daemon, caplog: pytest.LogCaptureFixture
) -> None:
    site.add_article("Good")
    site.add_article("Bad")
    with site.storage.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE articles SET link = 'javascript:1' WHERE slug = 'bad'")
    caplog.set_level(logging.ERROR, logger="feeder.daemon")
    for n in range(4):
        clock.advance(minutes=1)
        site.add_article(f"More {n}")  # each build meets the bad row again in the feed query
        daemon.publisher.request(reason="change", full=n == 2)
        daemon.settle()
    left_out = [r for r in caplog.records if "was left out" in r.getMessage()]
    assert len(left_out) == 1, [r.getMessage() for r in left_out]
    assert "#2 ('bad')" in left_out[0].getMessage()
    assert "Good" in daemon.titles() and "Bad" not in daemon.titles()
    # Fixed, then broken again: that is news, and logged again.
    with site.storage.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE articles SET link = NULL WHERE slug = 'bad'")
    daemon.publisher.request(reason="rebuild", full=True)
    daemon.settle()
    with site.storage.engine.begin() as connection:
        connection.exec_driver_sql("UPDATE articles SET link = 'javascript:2' WHERE slug = 'bad'")
    daemon.publisher.request(reason="rebuild", full=True)
    daemon.settle()
    assert len([r for r in caplog.records if "was left out" in r.getMessage()]) == 2
