"""Instant publishing on PostgreSQL: a change is built the moment it commits.

In-process first (a real build queue, a real listener, no timers at all),
then ``feeder run`` as a subprocess with ``schedule.poll_interval = 30``, so
that only a notification can explain a change served within seconds: adds
through the CLI and the API, rows another program writes (on SQLite too, where
the poll finds them), the listening connection killed by the server, and a
whole server outage.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from feeder import Site
from jobs import BuildQueue, InlineBuilder
from jobs.watcher import ChangeWatcher
from tests.faults_support import (
    FaultDaemon,
    FaultSite,
    ThrowawayPostgres,
    assert_complete,
    make_site,
    wait_for,
)
from tests.feedcheck import parse_feed

# Far below the poll interval of 30 s the daemons run with, far above a build.
SERVED_WITHIN = 5.0
# Starting a daemon and its first build take a few seconds on a busy machine.
START_DEADLINE = 30.0
POLL_INTERVAL = "30"
#: The in-process listener's session name: this process's own, where test processes
#: share a server.
WATCHER = f"feeder test watcher {os.getpid()}"

# Under pytest-xdist (make test) the daemon tests run one after another in one worker:
# they assert how soon daemons take over, stop or publish, and two at once slow each
# other down.
pytestmark = pytest.mark.xdist_group("daemons")


# -- in-process --------------------------------------------------------------------------


@pytest.fixture
def watching(pg_site: Site) -> Iterator[ChangeWatcher]:
    """A build queue and a watcher, and no timer: only notifications ask for builds."""
    publisher = BuildQueue(pg_site, InlineBuilder(pg_site))
    listener = pg_site.storage.listener(WATCHER)
    assert listener is not None
    watcher = ChangeWatcher(listener, publisher)
    publisher.start()
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()
        assert watcher.join(2.0)
        publisher.stop(2.0)


def feed_titles(site: Site) -> list[str]:
    path = site.config.output_dir / "atom.xml"
    return sorted(e.title for e in parse_feed(path).entries) if path.exists() else []


def terminate(site: Site, application_name: str) -> int:
    """pg_terminate_backend of every session named ``application_name``; how many."""
    with site.storage.engine.connect() as admin:
        killed = admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": application_name},
        ).all()
        admin.commit()
    return len(killed)


@pytest.mark.postgres
def test_a_committed_change_is_built_without_any_poll(
    pg_site: Site, watching: ChangeWatcher
) -> None:
    watcher = watching
    wait_for("the listener", lambda: watcher.connections == 1)
    pg_site.add_article("Heard")
    wait_for("a build of the change", lambda: feed_titles(pg_site) == ["Heard"], SERVED_WITHIN)
    assert watcher.notified >= 1
    with pg_site.storage.engine.begin() as connection:
        connection.execute(text("UPDATE articles SET title = 'Heard, edited elsewhere'"))
    wait_for(
        "a build of another program's change",
        lambda: feed_titles(pg_site) == ["Heard, edited elsewhere"],
        SERVED_WITHIN,
    )


@pytest.mark.postgres
def test_a_dropped_connection_is_logged_once_and_made_again(
    pg_site: Site,
    watching: ChangeWatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = watching
    wait_for("the listener", lambda: watcher.connections == 1)
    caplog.set_level(logging.INFO, logger="feeder.daemon")
    assert terminate(pg_site, WATCHER) == 1
    wait_for("a new connection", lambda: watcher.connections == 2)
    pg_site.add_article("After the drop")
    wait_for(
        "a build after the drop", lambda: feed_titles(pg_site) == ["After the drop"], SERVED_WITHIN
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, warnings
    assert warnings[0].startswith("lost the connection that listens for changes: database: ")
    assert any("listening for changes again" in r.getMessage() for r in caplog.records)


@pytest.mark.postgres
def test_a_connection_that_keeps_dropping_is_logged_once_and_backs_off(
    pg_site: Site,
    watching: ChangeWatcher,
    caplog: pytest.LogCaptureFixture,
) -> None:
    watcher = watching
    caplog.set_level(logging.DEBUG, logger="feeder.daemon")

    def connections(count: int) -> Callable[[], bool]:
        return lambda: watcher.connections == count

    for made in range(1, 4):
        wait_for(f"connection {made}", connections(made))
        dropped = time.monotonic()
        assert terminate(pg_site, WATCHER) == 1
        wait_for("the next connection", connections(made + 1))
        took = time.monotonic() - dropped
    # Each connection lived for less than STABLE_SECONDS: the waits grew (0.25, 0.5, 1 s).
    assert took >= 1.0
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    pg_site.add_article("Still heard")
    wait_for("a build", lambda: feed_titles(pg_site) == ["Still heard"], SERVED_WITHIN)


# -- feeder run --------------------------------------------------------------------------


@pytest.fixture
def pg_live(tmp_path: Path, postgres_url: str) -> Iterator[FaultSite]:
    site = make_site(tmp_path / "site", database_url=postgres_url, poll_interval=POLL_INTERVAL)
    try:
        yield site
    finally:
        site.stop_all()


def listening(daemon: FaultDaemon) -> int:
    """How many times the daemon has said it listens (its first connection, and each new one)."""
    return sum(1 for event in daemon.events() if event.get("event") == "listening")


def lost(daemon: FaultDaemon) -> list[dict[str, Any]]:
    return [event for event in daemon.events() if event.get("event") == "listen-lost"]


def builds(daemon: FaultDaemon) -> list[dict[str, Any]]:
    return [event for event in daemon.events() if event.get("event") == "build"]


def served_after(daemon: FaultDaemon, title: str, started: float) -> float:
    """Seconds from ``started`` until the site's feeds carry ``title``."""
    wait_for(f"{title!r} to be served", daemon.serves(title), SERVED_WITHIN)
    return time.monotonic() - started


def start_listening(site: FaultSite, *args: str) -> FaultDaemon:
    daemon = site.start(*args)
    wait_for("the first build", lambda: builds(daemon), START_DEADLINE)
    wait_for("the daemon to listen", lambda: listening(daemon), START_DEADLINE)
    return daemon


def failed_reconnections(daemon: FaultDaemon) -> int:
    return sum(
        1
        for event in daemon.events()
        if event.get("level") == "debug"
        and str(event.get("message")).startswith("listening for changes: database: ")
    )


def listener_name(daemon: FaultDaemon) -> str:
    return f"feeder run listener pid {daemon.process.pid} on {socket.gethostname()}"[:63]


@pytest.mark.slow
@pytest.mark.postgres
def test_adds_through_the_cli_and_the_api_are_served_long_before_a_poll(
    pg_live: FaultSite,
) -> None:
    site = pg_live
    daemon = start_listening(site)
    started = time.monotonic()
    site.feeder("add", "--title", "By the CLI")
    assert served_after(daemon, "By the CLI", time.monotonic()) < SERVED_WITHIN
    site.add("By the API")
    assert served_after(daemon, "By the API", time.monotonic()) < SERVED_WITHIN
    assert time.monotonic() - started < float(POLL_INTERVAL) / 2

    def reasons() -> list[str]:
        return [str(build.get("reasons")) for build in builds(daemon)]

    # A build's log line follows its files by a moment.
    wait_for("the builds' log lines", lambda: sum("notify" in r for r in reasons()) >= 2)
    assert not any("change" in reason for reason in reasons()), "the poll found nothing to do"

    # schedule.listen = false, reloaded: the listening connection goes, polling goes on.
    site.set_config("schedule", "listen", "false")
    daemon.process.send_signal(signal.SIGHUP)
    wait_for("polling only", lambda: "no longer listening" in daemon.log())
    wait_for("the listener's session to end", lambda: not sessions(site, listener_name(daemon)))
    assert lost(daemon) == []
    assert daemon.stop() == 0


def sessions(site: FaultSite, application_name: str) -> list[Any]:
    engine = create_engine(site.database_url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                    {"name": application_name},
                ).all()
            )
    finally:
        engine.dispose()


@pytest.fixture
def live_on_each(tmp_path: Path, database_url: str) -> Iterator[FaultSite]:
    """SQLite polls (0.2 s); PostgreSQL listens, its poll interval 30 s."""
    sqlite = database_url.startswith("sqlite")
    site = make_site(
        tmp_path / "site",
        database_url=None if sqlite else database_url,
        poll_interval="0.2" if sqlite else POLL_INTERVAL,
    )
    try:
        yield site
    finally:
        site.stop_all()


@pytest.mark.slow
def test_rows_another_program_writes_are_published_without_a_full_build(
    live_on_each: FaultSite,
) -> None:
    site = live_on_each
    site.add("Kept", tags=["news"])
    site.add("Edited", tags=["news"])
    site.add("Deleted", tags=["news", "gone"])
    daemon = site.start()
    wait_for("the first build", lambda: builds(daemon), START_DEADLINE)
    assert daemon.serves("Kept", "Edited", "Deleted")()
    first = len(builds(daemon))
    when = site.when(datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1))
    with site.raw() as execute:
        execute(
            "INSERT INTO articles (uid, slug, title, summary, content, published_at, "
            "updated_at, created_at) VALUES ('tag:example.org,2026:/x/inserted', 'inserted', "
            "'Inserted elsewhere', '', '<p>New.</p>', :w, :w, :w)",
            w=when,
        )
    wait_for("the insert", daemon.serves("Inserted elsewhere"), SERVED_WITHIN)
    with site.raw() as execute:
        execute("UPDATE articles SET title = 'Edited elsewhere' WHERE slug = 'edited'")
    wait_for("the update", daemon.serves("Edited elsewhere"), SERVED_WITHIN)
    with site.raw() as execute:
        execute("DELETE FROM articles WHERE slug = 'deleted'")

    def deleted() -> bool:
        titles = daemon.titles()
        page = daemon.get("articles/deleted.html")
        return titles == ["Edited elsewhere", "Inserted elsewhere", "Kept"] and (
            page is not None and page.status_code == 404
        )

    wait_for("the deletion", deleted, SERVED_WITHIN)
    wait_for("the tag's feed to go", lambda: _gone(daemon, "tags/gone/atom.xml"), SERVED_WITHIN)
    news = daemon.body("tags/news/atom.xml")
    assert news is not None
    assert sorted(e.title for e in parse_feed(news).entries) == ["Edited elsewhere", "Kept"]
    later = builds(daemon)[first:]
    assert later and not any(build["full"] for build in later), later
    assert_complete(site.public)
    assert daemon.stop() == 0


def _gone(daemon: FaultDaemon, path: str) -> bool:
    response = daemon.get(path)
    return response is not None and response.status_code == 404


@pytest.mark.slow
@pytest.mark.postgres
def test_a_dropped_listening_connection_is_made_again_and_logged_once(
    pg_live: FaultSite,
) -> None:
    site = pg_live
    daemon = start_listening(site)
    name = listener_name(daemon)
    killed = kill_sessions(site, name)
    assert killed == 1, "the listener names its session after the daemon"
    wait_for("a new listening connection", lambda: listening(daemon) == 2, SERVED_WITHIN)
    site.feeder("add", "--title", "After the drop")
    assert served_after(daemon, "After the drop", time.monotonic()) < SERVED_WITHIN
    (line,) = lost(daemon)
    assert line["level"] == "warning"
    assert "terminating connection" in line["error"] or "server closed" in line["error"]
    assert len(sessions(site, name)) == 1
    assert daemon.stop() == 0


def kill_sessions(site: FaultSite, application_name: str) -> int:
    engine = create_engine(site.database_url)
    try:
        with engine.begin() as connection:
            return len(
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": application_name},
                ).all()
            )
    finally:
        engine.dispose()


@pytest.mark.slow
def test_a_server_outage_is_survived_and_changes_are_instant_again(
    throwaway_postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    server = throwaway_postgres
    site = make_site(
        tmp_path / "site", database_url=server.url, via_cli=True, poll_interval=POLL_INTERVAL
    )
    try:
        site.add("Before")
        daemon = start_listening(site, "--log-level", "debug")
        wait_for("the first build", daemon.serves("Before"), START_DEADLINE)
        server.stop()
        wait_for("the outage to be noticed", lambda: lost(daemon), SERVED_WITHIN)
        # Reconnections that fail while it lasts say so at debug level only.
        wait_for("two reconnections to fail", lambda: failed_reconnections(daemon) >= 2)
        server.start()
        # Reconnections back off up to 15 s apart.
        wait_for("the listener to come back", lambda: listening(daemon) == 2, 40)
        site.add("After")
        assert served_after(daemon, "After", time.monotonic()) < SERVED_WITHIN
        assert len(lost(daemon)) == 1, lost(daemon)
        assert daemon.alive()
        assert daemon.log().count("Traceback") == 0
        assert daemon.stop() == 0
    finally:
        site.stop_all()
