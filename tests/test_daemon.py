"""``feeder run`` as operators meet it: real processes, real HTTP, real signals.

The slow tests start the daemon as a subprocess on a temp site and a free
port, change the site with ``feeder`` commands in other processes, and poll
the served files with a deadline (never a fixed sleep). The fast tests at the
end cover the locks and ``feeder build``/``feeder status`` in-process.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import insert, text, update

import jobs
from db import DaemonRecord, Lock
from db.models import Article as ArticleRow
from db.models import State
from feeder import Site, _daemon
from feeder.cli import cli
from feeder.publishing import outputs
from feeder.publishing.exclusive import publish_lock
from feeder.publishing.files import BATCH_FILES, is_temp
from tests.conftest import FakeClock
from tests.feedcheck import parse_feed

# Under pytest-xdist (make test) the daemon tests run one after another in one worker:
# they assert how soon daemons take over, stop or publish, and two at once slow each
# other down.
pytestmark = pytest.mark.xdist_group("daemons")

FEEDER = shutil.which("feeder", path=str(Path(sys.executable).parent)) or "feeder"
DEADLINE = 10.0
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T | None], timeout: float = DEADLINE) -> T:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.02)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Daemon:
    """One ``feeder run`` subprocess, its output in files (pipes could fill up)."""

    process: subprocess.Popen[bytes]
    port: int
    logs: Path
    out: Path

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def log(self) -> str:
        return self.logs.read_text(encoding="utf-8", errors="replace")

    def stop(self, number: int = signal.SIGTERM, timeout: float = 5.0) -> int:
        self.process.send_signal(number)
        return self.process.wait(timeout)


@dataclass
class SiteUnderTest:
    root: Path
    env: dict[str, str]
    daemons: list[Daemon] = field(default_factory=list)

    @property
    def public(self) -> Path:
        return self.root / "public"

    def feeder(self, *args: str) -> str:
        done = subprocess.run(
            [FEEDER, *args], cwd=self.root, env=self.env, capture_output=True, text=True
        )
        assert done.returncode == 0, f"feeder {' '.join(args)}: {done.stderr}"
        return done.stdout

    def start(self, *args: str, port: int | None = None) -> Daemon:
        port = port or free_port()
        n = len(self.daemons)
        logs, out = self.root / f"daemon-{n}.log", self.root / f"daemon-{n}.out"
        with logs.open("wb") as err, out.open("wb") as std:
            process = subprocess.Popen(
                [FEEDER, "run", "--port", str(port), *args],
                cwd=self.root,
                env=self.env,
                stdout=std,
                stderr=err,
            )
        daemon = Daemon(process, port, logs, out)
        self.daemons.append(daemon)
        return daemon

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.feeder("status", "--json"))
        return data


def _live(root: Path, database_url: str | None) -> Iterator[SiteUnderTest]:
    with Site.init(
        root, title="Live Site", base_url="https://example.org/live/", database_url=database_url
    ):
        pass
    env = {
        **os.environ,
        "FEEDER_CONFIG": str(root / "feeder.toml"),
        "FEEDER_SCHEDULE_POLL_INTERVAL": "0.2",
    }
    env.pop("FEEDER_DATABASE_URL", None)
    if database_url:
        env["FEEDER_DATABASE_URL"] = database_url
    site = SiteUnderTest(root, env)
    yield site
    for daemon in site.daemons:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait(5)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[SiteUnderTest]:
    """A site on SQLite, for the daemon subprocesses."""
    yield from _live(tmp_path / "site", None)


@pytest.fixture
def live_on_each(tmp_path: Path, database_url: str) -> Iterator[SiteUnderTest]:
    """A site on each backend (PostgreSQL where configured)."""
    yield from _live(tmp_path / "site", database_url)


def get(daemon: Daemon, path: str, **headers: str) -> httpx.Response:
    # One representation throughout: the gzipped one has an ETag of its own.
    return httpx.get(daemon.url(path), headers={"Accept-Encoding": "identity", **headers})


def served(daemon: Daemon, path: str = "rss.xml") -> httpx.Response | None:
    try:
        response = get(daemon, path)
    except httpx.TransportError:
        return None
    return response if response.status_code == 200 else None


def titles(daemon: Daemon) -> list[str] | None:
    response = served(daemon)
    if response is None:
        return None
    return sorted(entry.title for entry in parse_feed(response.content).entries)


def shows(daemon: Daemon, expected: list[str]) -> Callable[[], bool]:
    return lambda: titles(daemon) == sorted(expected)


def temp_files(directory: Path) -> list[str]:
    return [name for _root, _dirs, files in os.walk(directory) for name in files if is_temp(name)]


def assert_complete(directory: Path) -> int:
    """Every file a reader can get is a whole feed or page; returns how many there are."""
    count = 0
    for root, _dirs, files in os.walk(directory):
        for name in files:
            if is_temp(name) or name == outputs.OUTPUT_FILE:  # neither is ever served
                continue
            path = Path(root, name)
            if name.endswith(".xml"):
                parse_feed(path)
            elif name.endswith(".json"):
                assert "items" in json.loads(path.read_bytes()), f"{path} is no feed"
            elif name.endswith((".opml", ".xsl")):
                etree.parse(str(path))  # whole XML, or it raises
            elif name.endswith(".css"):
                assert path.read_bytes().rstrip().endswith(b"}"), f"{path} is cut short"
            else:
                assert path.read_bytes().endswith(b"</html>\n"), f"{path} is cut short"
            count += 1
    return count


def archive_files(published: int, max_items: int = 50, page_size: int = 50) -> int:
    """How many archive files (three formats a page) the site's own feeds have."""
    return 3 * -(-published // page_size) if published > max_items else 0


def bulk_load(root: Path, count: int, database_url: str | None = None) -> None:
    """``count`` published articles, inserted in one statement (the API is one by one)."""
    with Site.open(root / "feeder.toml", database_url=database_url) as site:
        now = site.now()
        with site.storage.engine.begin() as connection:
            revision = connection.execute(
                update(State).values(revision=State.revision + 1).returning(State.revision)
            ).scalar_one()
            rows = [
                {
                    "uid": f"tag:example.org,2026:/bulk/{i}",
                    "slug": f"bulk-{i}",
                    "title": f"Bulk article {i}",
                    "summary": "One of many.",
                    "content": f"<p>Bulk article {i}.</p>" * 20,
                    "published_at": now - timedelta(minutes=count - i),
                    "updated_at": now - timedelta(minutes=count - i),
                    "created_at": now,
                    "revision": revision,
                }
                for i in range(count)
            ]
            connection.execute(insert(ArticleRow), rows)


def worker_of(daemon: Daemon) -> int | None:
    """The pid of the daemon's build worker (a child process), once it is running."""
    for task in Path(f"/proc/{daemon.process.pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            command = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in command:  # not multiprocessing's resource tracker
                return int(child)
    return None


def page_workers(pid: int) -> set[int]:
    """The worker processes that render a full build's pages for the process ``pid``."""
    found = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in children:
            with contextlib.suppress(OSError):
                if b"feeder._processes" in Path(f"/proc/{child}/cmdline").read_bytes():
                    found.add(int(child))
    return found


def process_gone(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.split(")")[-1].split()[0] == "Z"  # a zombie has stopped running


@pytest.mark.slow
def test_changes_from_other_processes_are_served(live_on_each: SiteUnderTest) -> None:
    live = live_on_each
    live.feeder("add", "--title", "First")
    daemon = live.start("--log-format", "json")
    wait_for("the first build to be served", shows(daemon, ["First"]))
    announced = daemon.out.read_text()
    # One feed a line, each URL in one column after its format's label.
    lines = [line for line in announced.splitlines() if "://127.0.0.1:" in line][1:]
    assert [line.split()[-1] for line in lines] == [
        f"http://127.0.0.1:{daemon.port}/{name}" for name in ("rss.xml", "atom.xml", "feed.json")
    ]
    assert len({line.index("http") for line in lines}) == 1, announced

    first = served(daemon)
    assert first is not None
    etag = first.headers["etag"]
    unchanged = get(daemon, "rss.xml", **{"If-None-Match": etag})
    assert unchanged.status_code == 304

    live.feeder("add", "--title", "Second")
    wait_for("an added article", shows(daemon, ["First", "Second"]))
    changed = get(daemon, "rss.xml", **{"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["etag"] != etag

    live.feeder("edit", "second", "--title", "Second, edited")
    wait_for("an edit", shows(daemon, ["First", "Second, edited"]))
    live.feeder("delete", "first")
    wait_for("a deletion", shows(daemon, ["Second, edited"]))
    wait_for("the deleted page to go", lambda: served(daemon, "articles/first.html") is None)
    atom = served(daemon, "atom.xml")
    assert atom is not None and atom.headers["content-type"].startswith("application/atom+xml")

    status = live.status()
    assert status["daemon_running"] is True
    assert status["daemon_pid"] == daemon.process.pid
    builds = [json.loads(line) for line in daemon.log().splitlines()]
    build = next(line for line in builds if line.get("event") == "build")
    assert {"written", "unchanged", "entries", "seconds"} <= build.keys()

    assert daemon.stop(signal.SIGTERM) == 0
    assert temp_files(live.public) == []
    assert live.status()["daemon_running"] is False


@pytest.mark.slow
def test_a_scheduled_article_goes_live_on_its_second(live: SiteUnderTest) -> None:
    daemon = live.start()
    wait_for("the daemon to serve", lambda: titles(daemon) == [])
    instant = (utc_now() + timedelta(seconds=2.5)).replace(microsecond=0)
    live.feeder("add", "--title", "On time", "--published", instant.isoformat())
    early: list[float] = []

    def published() -> datetime | None:
        current = titles(daemon) or []
        answered = utc_now()
        if "On time" not in current:
            return None
        if answered < instant:
            early.append((instant - answered).total_seconds())
        return answered

    late_by = (wait_for("the scheduled article", published) - instant).total_seconds()
    assert early == [], "served before its time"
    assert late_by < 1.0, f"served {late_by:.3f} s after its instant"
    assert daemon.stop(signal.SIGINT) == 0  # Ctrl-C


@pytest.mark.slow
def test_what_came_due_while_stopped_is_published_on_start(live: SiteUnderTest) -> None:
    daemon = live.start()
    wait_for("the daemon to serve", lambda: titles(daemon) == [])
    assert daemon.stop() == 0
    instant = (utc_now() + timedelta(seconds=1)).replace(microsecond=0)
    live.feeder("add", "--title", "Due while stopped", "--published", instant.isoformat())
    live.feeder("add", "--title", "Still scheduled", "--published", "2099-01-01T00:00:00Z")
    wait_for("the instant to pass", lambda: utc_now() > instant)

    again = live.start()
    wait_for("the missed article", shows(again, ["Due while stopped"]))
    assert live.status()["next_scheduled"] == "2099-01-01 00:00:00Z"
    assert again.stop() == 0


@pytest.mark.slow
def test_kill_9_during_a_build_leaves_only_complete_files(live: SiteUnderTest) -> None:
    # Pages go live a batch (BATCH_FILES) at a time, and beyond the first WORKERS_FROM
    # they are rendered by worker processes of the build worker: enough of them that
    # the kill lands while those run, after the first batch and before the last.
    count = 5 * BATCH_FILES
    bulk_load(live.root, count)
    daemon = live.start("--no-serve")
    articles = live.public / "articles"

    def served_pages() -> int:
        names = os.listdir(articles) if articles.is_dir() else []
        return len([name for name in names if not is_temp(name)])

    wait_for("the build to be under way", lambda: served_pages() > 20)
    worker = wait_for("the build worker", lambda: worker_of(daemon))
    renderers: set[int] = set()
    if (os.cpu_count() or 1) > 1:
        renderers = wait_for("its page workers", lambda: page_workers(worker))
    daemon.process.kill()
    daemon.process.wait(5)
    wait_for("the worker to die with the daemon", lambda: process_gone(worker))
    for pid in renderers:
        wait_for("the page workers to die with it", lambda pid=pid: process_gone(pid))

    written = assert_complete(live.public)
    assert 20 < written < count + 7 + archive_files(count), "the kill should have interrupted"

    again = live.start("--no-serve")
    # A full build fsyncs every file it writes: slow on a busy disk, hence the deadline.
    wait_for("the rebuild", lambda: "full build:" in again.log(), timeout=60)
    assert again.stop() == 0
    assert temp_files(live.public) == []
    # Pages, three feeds, the index, the OPML list and two stylesheets, and the archive.
    assert assert_complete(live.public) == count + 7 + archive_files(count)


@pytest.mark.slow
def test_sigterm_during_a_long_build_exits_0_within_5_s_without_temp_files(
    live: SiteUnderTest,
) -> None:
    bulk_load(live.root, 6000)
    daemon = live.start("--no-serve")
    articles = live.public / "articles"
    wait_for(
        "the build to be under way", lambda: articles.is_dir() and len(os.listdir(articles)) > 20
    )
    started = time.monotonic()
    daemon.process.send_signal(signal.SIGTERM)
    assert daemon.process.wait(5) == 0
    assert time.monotonic() - started < 5
    assert temp_files(live.public) == []
    assert_complete(live.public)


@pytest.mark.slow
def test_a_second_daemon_waits_and_takes_over_when_the_first_dies(
    live_on_each: SiteUnderTest,
) -> None:
    live = live_on_each
    port = free_port()
    first = live.start(port=port)
    wait_for("the first daemon to serve", lambda: titles(first) == [])
    second = live.start(port=port)
    wait_for("the second daemon to stand by", lambda: "standby" in second.log())
    assert f"pid {first.process.pid}" in second.log()
    live.feeder("add", "--title", "Built by the first")
    wait_for("the first daemon's build", shows(first, ["Built by the first"]))
    assert "build:" not in second.log()
    assert live.status()["daemon_pid"] == first.process.pid

    first.process.kill()
    killed = time.monotonic()
    first.process.wait(5)
    live.feeder("add", "--title", "Built by the second")
    wait_for("the takeover", shows(second, ["Built by the first", "Built by the second"]))
    assert time.monotonic() - killed < 5
    assert live.status()["daemon_pid"] == second.process.pid
    assert second.stop() == 0


@pytest.mark.slow
def test_sighup_reloads_the_config_and_keeps_it_when_the_new_one_is_broken(
    live: SiteUnderTest,
) -> None:
    daemon = live.start()
    wait_for("the daemon to serve", lambda: titles(daemon) == [])
    config = live.root / "feeder.toml"
    good = config.read_text()

    def feed_title() -> str | None:
        response = served(daemon)
        return parse_feed(response.content).feed.title if response else None

    config.write_text(good.replace('title = "Live Site"', 'title = "Renamed Site"'))
    daemon.process.send_signal(signal.SIGHUP)
    wait_for("the new title", lambda: feed_title() == "Renamed Site")

    config.write_text(good + "\nthis is not toml = = =\n")
    daemon.process.send_signal(signal.SIGHUP)
    wait_for("the reload error", lambda: "reload failed" in daemon.log())
    assert daemon.process.poll() is None
    config.write_text(good)  # for the command below; the daemon is not told
    live.feeder("add", "--title", "Still publishing")
    wait_for("a build with the kept settings", shows(daemon, ["Still publishing"]))
    assert feed_title() == "Renamed Site"
    assert daemon.stop() == 0


# -- fast: locks, feeder build, feeder status ------------------------------------------


def test_one_holder_at_a_time_and_the_holder_is_named(site: Site) -> None:
    mine = site.storage.lock("publish", "feeder run pid 1 on test", site.config.root)
    theirs = site.storage.lock("publish", "feeder build pid 2 on test", site.config.root)
    daemon = site.storage.lock("daemon", "feeder run pid 1 on test", site.config.root)
    try:
        assert mine.try_acquire()
        assert not theirs.try_acquire()
        assert theirs.holder() == "feeder run pid 1 on test"
        assert daemon.try_acquire(), "the daemon lock is a separate lock"
        mine.release()
        assert theirs.try_acquire()
        assert not mine.try_acquire()
    finally:
        for lock in (mine, theirs, daemon):
            lock.close()


@pytest.mark.postgres
def test_an_advisory_lock_lost_with_its_connection_is_noticed(
    postgres_url: str, tmp_path: Path
) -> None:
    with Site.init(tmp_path, database_url=postgres_url) as site:
        lock = site.storage.lock("daemon", "feeder run pid 1 on test", site.config.root)
        other = site.storage.lock("daemon", "feeder run pid 2 on test", site.config.root)
        try:
            assert lock.try_acquire()
            assert lock.still_held()
            with site.storage.engine.connect() as admin:
                admin.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'feeder run pid 1 on test'"
                    )
                )
                admin.commit()
            assert not lock.still_held()  # a restarted server forgets the lock
            assert other.try_acquire()
            assert not lock.try_acquire()
        finally:
            lock.close()
            other.close()


def invoke(site_dir: Path, *args: str) -> Any:
    return CliRunner().invoke(cli, ["-c", str(site_dir / "feeder.toml"), *args])


def publish_lock_of(site: Site, holder: str) -> Lock:
    """The publish lock of ``site``'s output directory, as another process would hold it."""
    return publish_lock(site.storage, site.config, holder, outputs.identify(site.config.output_dir))


def test_feeder_build_waits_for_a_running_build_then_says_who_has_it(
    sqlite_site: Site, site_dir: Path
) -> None:
    holder = publish_lock_of(sqlite_site, "feeder run pid 4242 on elsewhere")
    assert holder.try_acquire()
    try:
        result = invoke(site_dir, "build", "--wait", "0.3")
    finally:
        holder.close()
    assert result.exit_code == 75
    assert result.output.strip().splitlines() == [
        "error: another build is running (feeder run pid 4242 on elsewhere); "
        "try again later, or wait longer with --wait"
    ]
    assert not (sqlite_site.config.output_dir / "rss.xml").exists()


def test_feeder_build_takes_its_turn_when_the_running_build_ends(
    sqlite_site: Site, site_dir: Path
) -> None:
    holder = publish_lock_of(sqlite_site, "feeder run pid 4242 on elsewhere")
    assert holder.try_acquire()
    release = threading.Timer(0.3, holder.close)
    release.start()
    try:
        result = invoke(site_dir, "build", "--wait", "10")
    finally:
        release.join()
    assert result.exit_code == 0, result.output
    assert (sqlite_site.config.output_dir / "rss.xml").exists()


def test_feeder_build_removes_temp_files_a_killed_writer_left(
    sqlite_site: Site, site_dir: Path
) -> None:
    public = sqlite_site.config.output_dir
    public.mkdir(parents=True)
    (public / ".rss.xml.deadbeef.tmp").write_bytes(b"<?xml ")
    assert invoke(site_dir, "build").exit_code == 0
    assert temp_files(public) == []


def test_a_build_after_one_that_did_not_finish_removes_its_temp_files(sqlite_site: Site) -> None:
    public = sqlite_site.config.output_dir
    sqlite_site.add_article("First")
    sqlite_site.build()
    # A build that was killed: its mark on the directory, a temp file it was writing.
    with sqlite_site.storage.write() as writer:
        writer.claim_output(
            outputs.identify(public),
            writer="feeder build pid 1 on elsewhere",
            token="killed",
            path=str(public),
            host="elsewhere",
            now=sqlite_site.now(),
        )
    (public / ".atom.xml.0badf00d.tmp").write_bytes(b"<?xml ")
    sqlite_site.add_article("Second")
    assert not sqlite_site.build().full
    assert temp_files(public) == []


def daemon_row(site: Site, pid: int, host: str, *, role: str = "leader") -> DaemonRecord:
    now = site.now()
    return DaemonRecord(
        id=f"test-{pid}",
        output_id=outputs.identify(site.config.output_dir),
        output_dir=str(site.config.output_dir),
        host=host,
        pid=pid,
        role=role,
        version="test",
        started_at=now,
        heartbeat=now,
    )


def test_status_says_whether_a_daemon_is_running(tmp_path: Path) -> None:
    root = tmp_path / "site"
    with Site.init(root) as site:
        assert "not running" in invoke(root, "status").output
        _daemon.record_daemon(site, daemon_row(site, os.getpid(), socket.gethostname()))
        shown = json.loads(invoke(root, "status", "--json").output)
        assert shown["daemon_running"] is True
        assert shown["daemon_pid"] == os.getpid()
        assert [d["pid"] for d in shown["daemons"]] == [os.getpid()]
        assert f"running (pid {os.getpid()} on " in invoke(root, "status").output

        gone = daemon_row(site, 2**22 + 12345, socket.gethostname())  # no such process
        _daemon.clear_daemon(site, f"test-{os.getpid()}")
        _daemon.record_daemon(site, gone)
        shown = json.loads(invoke(root, "status", "--json").output)
        assert shown["daemon_running"] is False
        assert [(d["pid"], d["running"]) for d in shown["daemons"]] == [(gone.pid, False)]
        _daemon.clear_daemon(site, gone.id)
        assert json.loads(invoke(root, "status", "--json").output)["daemon_pid"] is None


def test_a_daemon_on_another_host_is_running_while_its_heartbeat_is_fresh(
    sqlite_site: Site, clock: FakeClock
) -> None:
    _daemon.record_daemon(sqlite_site, daemon_row(sqlite_site, 1, "elsewhere.example"))
    info = jobs.daemon_info(sqlite_site.status(), clock())
    assert info.running
    assert info.describe(clock()) == "running (pid 1 on elsewhere.example, alive 0 s ago)"

    later = clock.advance(seconds=jobs.STALE_AFTER_SECONDS + 1)
    stale = jobs.daemon_info(sqlite_site.status(), later)
    assert not stale.running
    assert stale.describe(later).startswith("not running (last seen: pid 1 on elsewhere.example")
