"""Faults, against the real thing: ``feeder run`` as a subprocess, real HTTP, real files.

Each test breaks something the way the world does — a row another program
wrote, a database moved away or full of garbage, ``kill -9`` halfway through a
build, an output directory that turns read-only or fills up, a PostgreSQL server
that goes down, writers racing each other, hostile HTTP clients — and checks
what feeder promises about it:

- nothing acknowledged is lost (what a command or the API said it stored is
  published once the fault is gone);
- every file in the output directory is complete and valid all along;
- no file outside the output directory is written, removed or served.

Waiting is polling with a deadline (``wait_for``); the only fixed delays are
the random ones that decide *when* a ``kill -9`` lands, and ``assert_stays``,
which proves that something does *not* happen for a short while.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import resource
import selectors
import signal
import socket
import sqlite3
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from feeder import Site
from feeder.cli import cli
from tests.faults_support import (
    FEEDER,
    FaultDaemon,
    FaultSite,
    Snapshot,
    ThrowawayPostgres,
    assert_complete,
    assert_parses_with_lxml_defaults,
    assert_stays,
    blocked_reading_stdin,
    feed_titles,
    hrefs,
    make_site,
    raw_request,
    remount,
    temp_files,
    tmpfs,
    wait_for,
)
from tests.feedcheck import parse_feed
from tests.test_daemon import archive_files, process_gone, worker_of

FEEDS = ("rss.xml", "atom.xml")
# Starting a daemon, spawning its build worker and the first build take a couple of
# seconds on a busy CI machine; every wait below is bounded by this (or a stated) deadline.
# Under pytest-xdist (make test) the daemon tests run one after another in one worker:
# they assert how soon daemons take over, stop or publish, and two at once slow each
# other down.
pytestmark = pytest.mark.xdist_group("daemons")

DEADLINE = 20.0


def _site_fixture(root: Path, database_url: str | None) -> Iterator[FaultSite]:
    site = make_site(root, database_url=database_url)
    try:
        yield site
    finally:
        site.stop_all()


@pytest.fixture
def fault_site(tmp_path: Path) -> Iterator[FaultSite]:
    """A SQLite site two levels below tmp_path (``../../../../`` from its pages is tmp_path)."""
    yield from _site_fixture(tmp_path / "a" / "site", None)


@pytest.fixture
def fault_site_on_each(tmp_path: Path, database_url: str) -> Iterator[FaultSite]:
    """The same, on each backend: the database_url fixture's SQLite file or PostgreSQL schema."""
    yield from _site_fixture(
        tmp_path / "a" / "site", None if database_url.startswith("sqlite") else database_url
    )


def left_out(daemon: FaultDaemon) -> dict[int, list[str]]:
    """The daemon's "left out" log lines about rows, by the primary key of the row."""
    found: dict[int, list[str]] = {}
    for event in daemon.events():
        if event.get("event") == "left-out":
            error = str(event.get("error", ""))
            match = re.match(r"article #(\d+)\b", error)
            if match:
                found.setdefault(int(match.group(1)), []).append(error)
            else:
                assert error.startswith("a removal names the slug"), event
    return found


def refused_removals(daemon: FaultDaemon) -> list[str]:
    return [
        str(e["error"])
        for e in daemon.events()
        if e.get("event") == "left-out" and str(e.get("error")).startswith("a removal")
    ]


def builds(daemon: FaultDaemon) -> list[dict[str, Any]]:
    return [event for event in daemon.events() if event.get("event") == "build"]


def tracebacks(daemon: FaultDaemon) -> int:
    return daemon.log().count("Traceback")


def errors_by_row(report: dict[str, Any]) -> dict[int, int]:
    """How many of a ``feeder build --json`` report's errors name each row."""
    counts: dict[int, int] = {}
    for error in report["errors"]:
        match = re.match(r"article #(\d+)\b", error)
        assert match, f"an error that names no row: {error}"
        counts[int(match.group(1))] = counts.get(int(match.group(1)), 0) + 1
    return counts


# -- 1. rows written behind feeder's back ------------------------------------------------


@dataclass(frozen=True)
class Poison:
    """One kind of bad row: the columns another program wrote, and where it can be stored."""

    name: str
    columns: Callable[[str], dict[str, tuple[str, Any]]]  # given the escape slug
    sqlite_only: bool = False

    @property
    def marker(self) -> str:
        """A word in the row's summary and content that must never be published."""
        return f"zqpoison{self.name}zq"


BIG_CONTENT = 50_000_000
POISONS = [
    Poison("traversal", lambda escape: {"slug": (":p", escape)}),
    Poison("nul-slug", lambda _: {"slug": (":p", "bad\x00slug")}, sqlite_only=True),
    Poison("empty-slug", lambda _: {"slug": (":p", "")}),
    Poison("dot-slug", lambda _: {"slug": (":p", ".hidden")}),
    Poison("bad-utf8-title", lambda _: {"title": ("CAST(X'C328FF' AS TEXT)", None)}, True),
    Poison("blob-title", lambda _: {"title": ("X'0102'", None)}, sqlite_only=True),
    Poison("javascript-link", lambda _: {"link": (":p", "javascript:alert(1)")}),
    Poison("garbage-date", lambda _: {"published_at": (":p", "garbage")}, sqlite_only=True),
    Poison("us-date", lambda _: {"published_at": (":p", "11/21/2026")}, sqlite_only=True),
    # Last: while it is among the newest rows, every build reads its 50 MB.
    Poison("huge-content", lambda _: {"content": (":p", "<p>" + "x" * BIG_CONTENT + "</p>")}),
]


def applicable(site: FaultSite) -> list[Poison]:
    """PostgreSQL stores neither invalid UTF-8, nor NUL, nor BLOBs in text, nor non-dates."""
    return [p for p in POISONS if site.backend == "sqlite" or not p.sqlite_only]


@dataclass
class Outside:
    """What must stay untouched outside the output directory while bad rows are published."""

    site: FaultSite
    tmp: Path
    unique: str
    snapshot: Snapshot
    tmp_dir_exists: bool = False

    @classmethod
    def watch(cls, site: FaultSite, tmp: Path) -> Outside:
        assert site.root == (tmp / "a" / "site").resolve()
        unique = f"feeder-fault-{uuid.uuid4().hex[:10]}"
        return cls(site, tmp, unique, Snapshot.take(tmp, site.root))

    @property
    def escape(self) -> str:
        """The slug: from public/articles, four levels up is tmp_path."""
        return f"../../../../tmp/{self.unique}"

    @property
    def targets(self) -> list[Path]:
        return [
            self.tmp / "tmp" / f"{self.unique}.html",
            *([] if self.tmp_dir_exists else [self.tmp / "tmp"]),
            Path("/tmp") / self.unique,
            Path("/tmp") / f"{self.unique}.html",
        ]

    def check(self) -> None:
        for target in self.targets:
            assert not target.exists(), f"{target} was written outside the output directory"
        assert self.snapshot.changes() == [], "files outside the site changed"
        expected = {
            "feeder.toml",
            "feeder.db",
            "feeder.db-wal",
            "feeder.db-shm",
            "feeder.db-migrate.lock",
            "public",
        }
        extra = {
            name
            for name in os.listdir(self.site.root)
            if name not in expected
            and not re.fullmatch(r"daemon-\d+\.(log|out)", name)
            # The output directory's locks, named by its id.
            and not re.fullmatch(r"feeder\.db-(daemon|publish)-[0-9a-f]{32}\.lock", name)
        }
        assert extra == set(), f"unexpected files in the site directory: {extra}"


def check_published(
    site: FaultSite, daemon: FaultDaemon, good: dict[str, str], poisons: list[Poison]
) -> None:
    """Exactly the good articles are served and on disk; no trace of a bad row anywhere."""
    for name in FEEDS:
        data = daemon.body(name)
        assert data is not None, f"{name} is not served"
        assert sorted(feed_titles(data)) == sorted(good), f"{name} carries other entries"
        assert len(data) < 1_000_000, f"{name} is {len(data)} bytes"
        assert_parses_with_lxml_defaults(data)
        assert not any(h.lower().startswith("javascript:") for h in hrefs(data))
    index = daemon.body("index.html")
    assert index is not None and index.endswith(b"</html>\n")
    assert not any(h.strip().lower().startswith("javascript:") for h in hrefs(index))
    assert_complete(site.public)
    pages = {p.stem for p in (site.public / "articles").glob("*.html")}
    assert pages == set(good.values()), "the pages are not exactly the good articles'"
    everything = [p for p in site.public.rglob("*") if p.is_file()]
    for path in everything:
        data = path.read_bytes()
        assert len(data) < 1_000_000, f"{path} is {len(data)} bytes"
        assert b"javascript:" not in data.lower(), f"{path} carries a javascript: URL"
        for poison in poisons:
            assert poison.marker.encode() not in data, f"{path} publishes the {poison.name} row"
    for name in os.listdir(site.public):
        site_files = {"rss.xml", "atom.xml", "feed.json", "index.html", "feeds.opml"}
        site_files |= {"feed.xsl", "feed.css", "articles"}
        assert name in site_files or name.startswith("."), (
            f"unexpected file {name} in the output directory"
        )


def insert_poisons(
    site: FaultSite, execute: Callable[..., list[Any]], poisons: list[Poison], escape: str
) -> dict[str, int]:
    pks = {}
    for poison in poisons:
        columns = {
            "title": (":p", f"Poison {poison.name}"),
            "summary": (":p", f"{poison.marker} summary"),
            "content": (":p", f"<p>{poison.marker} content</p>"),
            **poison.columns(escape),
        }
        pks[poison.name] = site.insert_article(execute, poison.name, **columns)
    return pks


def add_good(site: FaultSite, execute: Callable[..., list[Any]], name: str) -> tuple[str, str]:
    """A good row written with SQL too (it must be published next to the bad ones)."""
    title = f"Good {name}"
    site.insert_article(execute, f"good-{name}", title=(":p", title))
    return title, f"raw-good-{name}"


def full_rebuild(site: FaultSite, daemon: FaultDaemon) -> None:
    """SIGHUP: the daemon reloads feeder.toml and runs a full build."""
    before = sum(1 for b in builds(daemon) if b.get("full"))
    daemon.process.send_signal(signal.SIGHUP)
    wait_for(
        "a full build after SIGHUP",
        lambda: sum(1 for b in builds(daemon) if b.get("full")) > before,
        DEADLINE,
    )


@pytest.mark.slow
def test_each_kind_of_bad_row_is_left_out_logged_once_and_the_rest_published(
    fault_site: FaultSite, tmp_path: Path
) -> None:
    site = fault_site
    site.add("Good first")
    outside = Outside.watch(site, tmp_path)
    daemon = site.start()
    good = {"Good first": "good-first"}
    wait_for("the first build", daemon.serves(*good), DEADLINE)
    # The 50 MB row is in the next test: every build that meets it reads 50 MB.
    poisons = [p for p in applicable(site) if p.name != "huge-content"]
    pks: dict[str, int] = {}
    for poison in poisons:
        with site.raw() as execute:
            pks |= insert_poisons(site, execute, [poison], outside.escape)
            title, slug = add_good(site, execute, poison.name)
        good[title] = slug
        wait_for(f"the article next to the {poison.name} row", daemon.serves(*good), DEADLINE)
        pk = pks[poison.name]
        wait_for(
            f"the {poison.name} row to be reported",
            lambda pk=pk: pk in left_out(daemon),  # type: ignore[misc]
            DEADLINE,
        )
        check_published(site, daemon, good, poisons)
        outside.check()

    # More builds meet the same rows again: a full one, and an incremental one.
    full_rebuild(site, daemon)
    site.add("Good last")
    good["Good last"] = "good-last"
    wait_for("the last article", daemon.serves(*good), DEADLINE)
    check_published(site, daemon, good, poisons)
    reported = left_out(daemon)
    assert {pk: len(lines) for pk, lines in reported.items()} == {pk: 1 for pk in pks.values()}
    assert tracebacks(daemon) == 0

    # feeder build (text) says "error:" on stderr for each bad row it meets, and exits 1.
    done = site.run("build")
    assert done.returncode == 1, done.stderr
    named = [re.match(r"error: article #(\d+)\b", line) for line in done.stderr.splitlines()]
    assert named and all(named), done.stderr
    rows = [int(m.group(1)) for m in named if m]
    assert len(rows) == len(set(rows)) and set(rows) <= set(pks.values()), done.stderr
    check_published(site, daemon, good, poisons)
    outside.check()
    assert daemon.stop() == 0
    assert temp_files(site.public) == []


@pytest.mark.slow
def test_every_kind_of_bad_row_at_once_on_one_site(
    fault_site_on_each: FaultSite, tmp_path: Path
) -> None:
    site = fault_site_on_each
    outside = Outside.watch(site, tmp_path)
    # A second escape whose target exists: it must be neither overwritten nor removed.
    keep = tmp_path / "tmp" / f"{outside.unique}-keep.html"
    keep.parent.mkdir()
    keep.write_text("keep me")
    outside = Outside(site, tmp_path, outside.unique, Snapshot.take(tmp_path, site.root), True)
    site.add("Good first")
    daemon = site.start()
    good = {"Good first": "good-first"}
    wait_for("the first build", daemon.serves(*good), DEADLINE)

    poisons = applicable(site)
    with site.raw() as execute:
        pks = insert_poisons(site, execute, poisons, outside.escape)
        pks["keep"] = site.insert_article(
            execute, "keep", slug=(":p", f"{outside.escape}-keep"), title=(":p", "Poison keep")
        )
        for name in ("one", "two"):
            title, slug = add_good(site, execute, name)
            good[title] = slug
    wait_for("the good rows among the bad", daemon.serves(*good), DEADLINE)
    wait_for("every bad row to be reported", lambda: set(pks.values()) <= set(left_out(daemon)))
    check_published(site, daemon, good, poisons)
    assert keep.read_text() == "keep me"
    outside.check()

    # feeder build --full --json names each bad row once in "errors", and exits 1.
    done = site.run("build", "--full", "--json")
    assert done.returncode == 1, done.stderr
    assert errors_by_row(json.loads(done.stdout)) == {pk: 1 for pk in pks.values()}
    assert "Traceback" not in done.stderr

    if site.backend == "sqlite":  # the same check on every backend; one is enough
        # Another tool deletes the escaping row and records a removal naming its slug.
        with site.raw() as execute:
            execute("UPDATE state SET revision = revision + 1")
            execute("DELETE FROM articles WHERE pk = :pk", pk=pks["keep"])
            execute(
                "INSERT INTO removals (uid, slug, removed_at, revision, deleted) "
                "VALUES ('tag:example.org,2026:/raw/keep', :slug, :at, "
                "(SELECT revision FROM state), true)",
                slug=f"{outside.escape}-keep",
                at=site.when(datetime.now(UTC)),
            )
            title, slug = add_good(site, execute, "three")
            good[title] = slug
        wait_for("the build after the removal", daemon.serves(*good), DEADLINE)
        assert keep.read_text() == "keep me", "a removal deleted a file outside output_dir"
        wait_for("the refused removal to be logged", lambda: refused_removals(daemon))
        assert len(refused_removals(daemon)) == 1
    else:  # another build that meets every bad row again
        with site.raw() as execute:
            title, slug = add_good(site, execute, "three")
            good[title] = slug
        wait_for("another build", daemon.serves(*good), DEADLINE)

    check_published(site, daemon, good, poisons)
    outside.check()
    reported = left_out(daemon)
    assert {pk: len(reported[pk]) for pk in pks.values()} == {pk: 1 for pk in pks.values()}
    assert tracebacks(daemon) == 0
    assert daemon.alive()
    assert daemon.stop() == 0


def test_feeder_list_json_survives_a_blob_in_a_text_column(fault_site: FaultSite) -> None:
    site = fault_site
    site.add("Good")
    with site.raw() as execute:
        site.insert_article(execute, "blob", summary=("X'0102'", None))
    done = site.run("list", "--json")
    assert "Traceback" not in done.stderr, done.stderr[-300:]
    assert "Good" in [a["title"] for a in json.loads(done.stdout)]


# -- 2. a missing or broken SQLite database ------------------------------------------------

COMMANDS = [["build"], ["add", "--title", "Lost"], ["list"], ["status"]]


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


def _one_line_69(what: str, code: int | None, stderr: str) -> None:
    assert code == 69, f"{what}: exit {code}: {stderr}"
    lines = stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), f"{what}: {stderr}"
    assert "Traceback" not in stderr


def test_commands_on_a_missing_or_garbage_database_fail_in_one_line_and_create_nothing(
    tmp_path: Path,
) -> None:
    missing = make_site(tmp_path / "missing")
    garbled = make_site(tmp_path / "garbage")
    assert missing.db_file is not None and garbled.db_file is not None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{missing.db_file}{suffix}").unlink(missing_ok=True)
    garbage = random.Random(69).randbytes(64 * 1024)
    garbled.db_file.write_bytes(garbage)
    before = _listing(tmp_path)

    # The commands as operators run them: real processes, four at once.
    with ThreadPoolExecutor(len(COMMANDS)) as pool:
        results = list(pool.map(lambda args: missing.run(*args), COMMANDS))
    for args, done in zip(COMMANDS, results, strict=True):
        _one_line_69(f"feeder {' '.join(args)}", done.returncode, done.stderr)

    # The same commands in this process (no interpreter start-up each): a garbage file,
    # and --db naming a file in a directory that does not exist.
    nowhere = ["--db", f"sqlite:///{tmp_path}/no/such/dir/x.db"]
    for prefix in ([], nowhere):
        for args in COMMANDS:
            command = ["-c", str(garbled.config_path), *prefix, *args]
            result = CliRunner().invoke(cli, command)
            assert result.exception is None or isinstance(result.exception, SystemExit), (
                f"feeder {' '.join(command)} raised {result.exception!r}"
            )
            _one_line_69(f"feeder {' '.join(command)}", result.exit_code, result.stderr)
    assert _listing(tmp_path) == before, "a command created a file"
    assert not (tmp_path / "no").exists()
    assert garbled.db_file.read_bytes() == garbage, "the garbage file was changed"

    # Only init creates a database.
    assert CliRunner().invoke(cli, ["init", str(missing.root)]).exit_code == 0
    assert missing.db_file.is_file()
    shown = CliRunner().invoke(cli, ["-c", str(missing.config_path), "status", "--json"])
    assert json.loads(shown.stdout)["articles"] == 0


def _move_database(site: FaultSite, to: Path) -> None:
    """Move the database (its file and, where present, its WAL and shared memory) away."""
    assert site.db_file is not None
    with contextlib.closing(sqlite3.connect(site.db_file)) as connection:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    to.mkdir(exist_ok=True)
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{site.db_file}{suffix}")
        if source.exists():
            os.replace(source, to / (source.name))


def _move_back(site: FaultSite, away: Path) -> None:
    assert site.db_file is not None
    for suffix in ("", "-wal", "-shm"):
        source = away / f"{site.db_file.name}{suffix}"
        if source.exists():
            os.replace(source, Path(f"{site.db_file}{suffix}"))


def _served_files(daemon: FaultDaemon) -> dict[str, bytes | None]:
    return {name: daemon.body(name) for name in ("rss.xml", "atom.xml", "index.html")}


@pytest.mark.slow
def test_the_daemon_waits_for_a_missing_database_and_serves_the_last_good_files_meanwhile(
    fault_site: FaultSite, tmp_path: Path
) -> None:
    site = fault_site
    db_file = site.db_file
    assert db_file is not None
    away = tmp_path / "away"
    moved = f"sqlite:///{away / db_file.name}"
    site.add("Before")
    with Site.open(site.config_path) as opened:
        assert opened.build().ok
    on_disk = {name: (site.public / name).read_bytes() for name in ("rss.xml", "atom.xml")}
    away.mkdir()
    outside = Snapshot.take(tmp_path, site.root, away)

    # Started while the database is missing: it runs, serves what is there, creates nothing.
    _move_database(site, away)
    daemon = site.start()
    wait_for("the daemon to say it waits", lambda: "cannot open the database" in daemon.log())
    wait_for("the last published files", lambda: daemon.body("rss.xml") is not None, DEADLINE)
    assert {name: daemon.body(name) for name in on_disk} == on_disk
    assert_stays(
        "running and serving the old files, without creating a database",
        lambda: (
            daemon.alive() and daemon.body("rss.xml") == on_disk["rss.xml"] and not db_file.exists()
        ),
        seconds=1.0,
    )
    site.add("Meanwhile", database_url=moved)  # a change while it was away
    _move_back(site, away)
    wait_for("publishing to start", daemon.serves("Before", "Meanwhile"), DEADLINE)
    site.add("After")
    wait_for("a change after it appeared", daemon.serves("Before", "Meanwhile", "After"), DEADLINE)

    # Moved away while the daemon runs: the same, and it publishes again when it is back.
    last_good = _served_files(daemon)
    log_before = len(daemon.log_lines())
    _move_database(site, away)
    wait_for(
        "the daemon to notice",
        lambda: any("database" in line for line in daemon.log_lines()[log_before:]),
        DEADLINE,
    )
    site.add("Meanwhile again", database_url=moved)
    assert_stays(
        "serving the last good files, and nothing new",
        lambda: _served_files(daemon) == last_good and not db_file.exists(),
        seconds=1.0,
    )
    assert daemon.alive()
    assert_complete(site.public)
    _move_back(site, away)
    site.add("After again")
    everything = ["Before", "Meanwhile", "After", "Meanwhile again", "After again"]
    wait_for("the changes to be published", daemon.serves(*everything), DEADLINE)
    assert daemon.titles() == sorted(everything)
    assert_complete(site.public)
    _quiet_log(daemon)
    assert daemon.stop() == 0
    assert outside.changes() == [], "files outside the site changed"


# -- 3. kill -9 at random points of builds ------------------------------------------------


def _bulk(site: FaultSite, count: int) -> dict[str, str]:
    """``count`` articles in one transaction; slug -> title."""
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    made = {}
    with site.raw() as execute:
        for i in range(count):
            moment = site.when(base + timedelta(seconds=i))
            site.insert_article(
                execute,
                f"bulk-{i}",
                title=(":p", f"Bulk {i}"),
                content=(":p", f"<p>Bulk article {i}.</p>" * 30),
                published_at=(":p", moment),
                updated_at=(":p", moment),
            )
            made[f"raw-bulk-{i}"] = f"Bulk {i}"
    return made


def _writing_since(directory: Path, since_ns: int) -> bool:
    """Whether a build has written in ``directory`` since ``since_ns`` (a temp file or not).

    By time, not by name: a temp file a killed build left is older than that.
    """
    for root, _dirs, files in os.walk(directory):
        for name in files:
            with contextlib.suppress(OSError):
                if os.stat(os.path.join(root, name)).st_mtime_ns >= since_ns:
                    return True
    return False


def _edit_half(site: FaultSite, round_: int) -> None:
    """Another tool rewrites half the articles: an incremental build rewrites their pages."""
    with site.raw() as execute:
        execute("UPDATE state SET revision = revision + 1")
        execute(
            "UPDATE articles SET content = :c, revision = (SELECT revision FROM state) "
            "WHERE pk % 2 = :m",
            c=f"<p>Edited in round {round_}.</p>" * 30,
            m=round_ % 2,
        )


@pytest.mark.slow
def test_kill_9_at_random_points_of_ten_builds_leaves_only_complete_files(
    fault_site: FaultSite,
) -> None:
    site = fault_site
    seed = int(os.environ.get("FEEDER_FAULT_SEED", str(random.SystemRandom().randrange(10**6))))
    rng = random.Random(seed)
    why = f"(FEEDER_FAULT_SEED={seed} repeats the kill delays)"
    # Big enough that a build takes a while even when builds are fast: most random
    # kills land inside one (in trials, 2 to 8 of the 10).
    acknowledged = _bulk(site, 400)
    outside = Snapshot.take(site.root.parent.parent, site.root)
    interrupted = 0
    for i in range(10):
        kind = ("change", "reload", "config")[i % 3]
        if kind == "config":  # a new title: the next build must be a full one
            site.set_config(None, "title", json.dumps(f"Kill Title {i}"))
        acknowledged[site.add(f"Added {i}")] = f"Added {i}"
        if kind == "change":
            _edit_half(site, i)
        daemon = site.start(serve=False)
        worker = wait_for("the build worker", lambda: worker_of(daemon), DEADLINE)  # noqa: B023
        if kind == "reload":  # after the start build: a change, and at once a full build
            wait_for("the start build", lambda: builds(daemon), DEADLINE)  # noqa: B023
            _edit_half(site, i)
            daemon.process.send_signal(signal.SIGHUP)
        since = time.time_ns() - 10_000_000  # file times lag the clock by a tick at most
        wait_for("the build to write", lambda: _writing_since(site.public, since), DEADLINE)  # noqa: B023
        finished = len(builds(daemon))
        time.sleep(rng.uniform(0.0, 0.15))  # where the kill lands: the fault, not a wait
        daemon.process.kill()
        daemon.process.wait(5)
        wait_for("the worker to die with the daemon", lambda: process_gone(worker))  # noqa: B023
        assert_complete(site.public)
        interrupted += len(builds(daemon)) == finished
    assert interrupted >= 1, f"no kill landed inside a build {why}"

    site.set_config(None, "title", json.dumps("Final Title"))
    daemon = site.start(serve=False)
    wait_for("the full build", lambda: any(b.get("full") for b in builds(daemon)), 60)
    assert daemon.stop() == 0
    assert temp_files(site.public) == [], f"temp files were not swept {why}"
    # A page per article, and at the top the feeds (RSS, Atom, JSON), the index, the
    # OPML list and the two stylesheets (the articles have no tags or authors), and the
    # site's archive pages.
    expected = len(acknowledged) + 7 + archive_files(len(acknowledged))
    assert assert_complete(site.public) == expected
    pages = {p.stem for p in (site.public / "articles").glob("*.html")}
    assert pages == set(acknowledged), f"pages lost or left over {why}"
    for path in site.public.rglob("*.html"):
        data = path.read_bytes()
        assert b"Final Title" in data and b"Kill Title" not in data, f"{path} has an old title"
    for name in FEEDS:
        assert parse_feed(site.public / name).feed.title == "Final Title"
    with Site.open(site.config_path) as opened:
        assert {a.slug for a in opened.list_articles()} == set(acknowledged)
    assert outside.changes() == [], "files outside the site changed"


# -- 4. an output directory that turns read-only, or fills up ----------------------------


def _failures(daemon: FaultDaemon) -> list[str]:
    return [str(e.get("error")) for e in daemon.events() if e.get("event") == "build-failed"]


def _on_disk(directory: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*") if p.is_file()
    }


def _keeps_serving(daemon: FaultDaemon, last: dict[str, bytes | None]) -> Callable[[], bool]:
    return lambda: daemon.alive() and _served_files(daemon) == last


def _quiet_log(daemon: FaultDaemon) -> None:
    assert tracebacks(daemon) == 0, daemon.log()[-2000:]
    assert len(daemon.log_lines()) < 50, f"{len(daemon.log_lines())} log lines"


@pytest.mark.slow
def test_a_read_only_or_full_output_directory_keeps_the_last_good_files_until_it_recovers(
    fault_site: FaultSite, tmp_path: Path
) -> None:
    site = fault_site
    with tmpfs(tmp_path / "mnt", "2m") as mnt:
        try:
            site.set_output_dir(mnt / "public")
            outside = Snapshot.take(tmp_path, site.root, mnt)
            site.add("Before")
            daemon = site.start()
            wait_for("the first build", daemon.serves("Before"), DEADLINE)

            # Read-only (as root, only a read-only mount stops writes).
            last, files = _served_files(daemon), _on_disk(site.public)
            remount(mnt, "ro")
            try:
                site.add("Read-only")
                wait_for("the failed build to be logged", lambda: _failures(daemon), DEADLINE)
                assert "Read-only file system" in _failures(daemon)[0]
                assert_stays("serving the last good files", _keeps_serving(daemon, last), 1.0)
                assert _on_disk(site.public) == files
            finally:
                remount(mnt, "rw")
            wait_for("the recovery", daemon.serves("Before", "Read-only"), DEADLINE)
            assert_complete(site.public)
            failed = len(_failures(daemon))

            # Full: a big file next to the output directory takes the last byte.
            last, files = _served_files(daemon), _on_disk(site.public)
            filler = mnt / "filler"
            with contextlib.suppress(OSError), filler.open("wb") as out:
                while True:
                    out.write(b"\0" * 65536)
                    out.flush()
            try:
                site.add("Full", content="<p>" + "A longer article. " * 2000 + "</p>")
                wait_for(
                    "the failed build to be logged",
                    lambda: len(_failures(daemon)) > failed,
                    DEADLINE,
                )
                assert "No space left on device" in _failures(daemon)[failed]
                assert_stays("serving the last good files", _keeps_serving(daemon, last), 1.0)
                assert _on_disk(site.public) == files
            finally:
                filler.unlink()
            wait_for("the recovery", daemon.serves("Before", "Read-only", "Full"), DEADLINE)
            assert_complete(site.public)
            assert temp_files(site.public) == []
            assert len(_failures(daemon)) <= 12, "a failure per poll is a flood"
            _quiet_log(daemon)
            assert daemon.stop() == 0
            assert outside.changes() == [], "files outside the site changed"
            assert sorted(os.listdir(mnt)) == ["public"]
        finally:
            site.stop_all()


# -- 5. a PostgreSQL outage ----------------------------------------------------------------


@pytest.mark.slow
def test_a_postgresql_outage_keeps_the_last_good_files_and_publishes_once_it_is_back(
    throwaway_postgres: ThrowawayPostgres, tmp_path: Path
) -> None:
    server = throwaway_postgres
    site = make_site(tmp_path / "site", database_url=server.url, via_cli=True)
    try:
        site.add("Before")
        daemon = site.start()
        wait_for("the first build", daemon.serves("Before"), DEADLINE)
        last = _served_files(daemon)
        server.stop()
        wait_for(
            "the daemon to notice the outage",
            lambda: any(e.get("level") in ("error", "warning") for e in daemon.events()),
            DEADLINE,
        )
        assert_stays("serving the last good files", _keeps_serving(daemon, last), 1.0)
        server.start()
        site.add("After")
        wait_for("a change made after the outage", daemon.serves("Before", "After"), DEADLINE)
        assert daemon.alive()
        assert_complete(site.public)
        _quiet_log(daemon)
        assert daemon.stop() == 0
    finally:
        site.stop_all()


# -- 6. concurrent writers -------------------------------------------------------------------


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(fault_site: FaultSite) -> None:
    # SQLite, where every writer queues for one file lock (PostgreSQL writes are covered
    # by the bad-row tests, and its locks by test_daemon).
    site = fault_site
    # Four feeder add processes, each stopped reading its content from stdin, ...
    processes = [
        subprocess.Popen(
            [FEEDER, "add", "--title", f"Process {i}", "--content-file", "-"],
            cwd=site.root,
            env=site.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for i in range(4)
    ]
    acknowledged: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    go = threading.Barrier(5)

    def writer(n: int) -> None:  # ... and four threads of the Python API, five articles each
        with Site.open(site.config_path, database_url=site._api_url) as opened:
            go.wait()
            for k in range(5):
                title = f"Thread {n}.{k}"
                try:
                    opened.add_article(title, content=f"<p>{title}</p>")
                except Exception as exc:
                    with lock:
                        failures.append(f"{title}: {exc!r}")
                else:
                    with lock:
                        acknowledged.append(title)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    try:
        daemon = site.start()
        wait_for("the first build", lambda: daemon.titles() == [], DEADLINE)
        for thread in threads:
            thread.start()
        for process in processes:
            wait_for(
                "feeder add to start",
                lambda p=process: blocked_reading_stdin(p.pid),  # type: ignore[misc]
                DEADLINE,
            )
        go.wait(DEADLINE)  # all at once, while the daemon runs
        for process in processes:
            assert process.stdin is not None
            process.stdin.write(b"<p>From a process.</p>")
            process.stdin.close()
        for thread in threads:
            thread.join(60)
        for i, process in enumerate(processes):
            assert process.stderr is not None
            if process.wait(60) == 0:
                acknowledged.append(f"Process {i}")
            else:
                failures.append(f"Process {i}: {process.stderr.read().decode(errors='replace')}")
    finally:
        go.abort()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait(5)
            for pipe in (process.stdin, process.stderr):
                if pipe is not None:
                    pipe.close()
    assert failures == [], failures
    assert len(acknowledged) == 24
    listed = [a["title"] for a in json.loads(site.feeder("list", "--json"))]
    assert sorted(listed) == sorted(acknowledged)
    wait_for("every acknowledged article to be served", daemon.serves(*acknowledged), DEADLINE)
    assert sorted(feed_titles(daemon.body("rss.xml") or b"")) == sorted(acknowledged)
    assert_complete(site.public)
    _quiet_log(daemon)
    assert daemon.stop() == 0


# -- 7. hostile HTTP -------------------------------------------------------------------------

SECRET = b"zq-secret-outside-the-output-directory-zq"


def _low_open_file_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (256, 256))


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FaultSite, FaultDaemon]]:
    """One daemon for the hostile clients: a low open-file limit, a 2 s request deadline."""
    site = make_site(tmp_path_factory.mktemp("hostile") / "a" / "site")
    try:
        site.set_config("server", "request_timeout", "2")
        site.add("Public")
        daemon = site.start(preexec_fn=_low_open_file_limit)
        wait_for("the first build", daemon.serves("Public"), DEADLINE)
        yield site, daemon
        assert daemon.stop() == 0
    finally:
        site.stop_all()


@pytest.mark.slow
def test_hostile_requests_get_404_or_4xx_and_never_leak_or_crash(
    hostile: tuple[FaultSite, FaultDaemon],
) -> None:
    site, daemon = hostile
    tmp_path = site.root.parent.parent
    (tmp_path / "a" / "secret.txt").write_bytes(SECRET)
    (tmp_path / "a" / "site" / "x").write_bytes(SECRET)
    public = site.public
    planted = {
        "leak.txt": None,  # a symlink out of the output directory
        ".env": SECRET,
        ".hidden.html": SECRET,
        "rss.xml~": SECRET,
        "index.html.bak": SECRET,
        ".rss.xml.swp": SECRET,
        "#index.html#": SECRET,
        ".rss.xml.deadbeef.tmp": SECRET,
    }
    for name, data in planted.items():
        if data is None:
            (public / name).symlink_to(tmp_path / "a" / "secret.txt")
        else:
            (public / name).write_bytes(data)
    (public / "out").symlink_to(tmp_path / "a", target_is_directory=True)
    (public / "page.html").symlink_to(tmp_path / "a" / "secret.txt")
    targets = [
        "/../x",
        "/../secret.txt",
        "/%2e%2e/x",
        "/%2e%2e/secret.txt",
        "/articles/../../x",
        "/articles/%2e%2e/%2e%2e/x",
        "/..%2fx",
        "/%2e%2e%2fx",
        "/out/secret.txt",
        "/out/site/feeder.toml",
        "/leak.txt",
        "/page.html",
        "//etc/passwd",
        "/.env",
        "/.hidden.html",
        "/rss.xml~",
        "/index.html.bak",
        "/.rss.xml.swp",
        "/%23index.html%23",
        "/.rss.xml.deadbeef.tmp",
        "/feeder.toml",
        "/../feeder.db",
    ]
    for target in targets:
        status, response = raw_request(
            daemon.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        assert status == 404, f"{target}: {status}"
        assert SECRET not in response and b"[schedule]" not in response, f"{target} leaked"

    # Absurd headers: a huge one is refused with a 4xx; thousands of small ones are
    # served or refused, and either way the server carries on. (A 100 KB header: below.)
    for request in (
        b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n",
        b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n"
        + b"".join(b"X-H-%d: v\r\n" % n for n in range(20_000))
        + b"\r\n",
    ):
        status, _ = raw_request(daemon.port, request)
        assert status is not None and 400 <= status < 500, status
    thousands = b"".join(b"X-H-%d: v\r\n" % n for n in range(3000))
    request = b"GET /rss.xml HTTP/1.1\r\nHost: x\r\n" + thousands + b"Connection: close\r\n\r\n"
    status, _ = raw_request(daemon.port, request)
    assert status == 200 or (status is not None and 400 <= status < 500), status

    for date in ("Sat, 01 Jan 99999 00:00:00 GMT", "garbage", "Sun, 31 Feb 2026 25:61:61 GMT", ""):
        response = daemon.get("rss.xml", **{"If-Modified-Since": date})
        assert response is not None and response.status_code == 200, date
        assert feed_titles(response.content) == ["Public"]
    assert daemon.serves("Public")()
    assert daemon.alive()
    assert tracebacks(daemon) == 0
    assert len(daemon.log_lines()) < 50


@pytest.mark.slow
def test_a_100_kb_header_is_refused_with_a_4xx(hostile: tuple[FaultSite, FaultDaemon]) -> None:
    _site, daemon = hostile
    request = (
        b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nX-Big: "
        + b"a" * 100_000
        + b"\r\nConnection: close\r\n\r\n"
    )
    statuses = [raw_request(daemon.port, request)[0] for _ in range(5)]
    assert all(s is not None and 400 <= s < 500 for s in statuses), statuses
    assert daemon.alive() and tracebacks(daemon) == 0


@contextlib.contextmanager
def _open_files_at_least(wanted: int) -> Iterator[None]:
    """Raise this process's soft open-file limit (for the client side of a flood)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        if hard != resource.RLIM_INFINITY and hard < wanted:
            pytest.skip(
                f"needs {wanted} open files for the client sockets; the hard limit is {hard}"
            )
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.slow
def test_idle_and_half_sent_connections_do_not_lock_readers_out(
    hostile: tuple[FaultSite, FaultDaemon],
) -> None:
    _site, daemon = hostile
    address = ("127.0.0.1", daemon.port)
    idle: list[socket.socket] = []
    half: list[socket.socket] = []
    with _open_files_at_least(2048):
        try:
            for _ in range(400):
                sock = socket.socket()
                sock.setblocking(False)
                sock.connect_ex(address)
                idle.append(sock)
            for _ in range(100):
                sock = socket.create_connection(address, timeout=5)
                with contextlib.suppress(OSError):  # already closed to make room: fine
                    sock.sendall(b"GET /rss.xml HTTP/1.1\r\nHost: x\r\nUser-Agent: slow")
                half.append(sock)
            sent = time.monotonic()

            started = time.monotonic()
            with httpx.Client(headers={"Accept-Encoding": "identity"}, timeout=5) as client:
                for _ in range(20):
                    response = client.get(daemon.url("rss.xml"), headers={"Connection": "close"})
                    assert response.status_code == 200
                    assert feed_titles(response.content) == ["Public"]
            assert time.monotonic() - started < 5, "readers waited behind the flood"

            # Every half-sent connection is closed by the server within request_timeout.
            # (selectors, not select(): these descriptors may be numbered above 1024.)
            still_open = set(half)
            deadline = sent + 2 + 1.5  # request_timeout, and scheduling slack
            with selectors.DefaultSelector() as waiting:
                for sock in half:
                    waiting.register(sock, selectors.EVENT_READ)
                while still_open and time.monotonic() < deadline:
                    for key, _events in waiting.select(timeout=0.1):
                        sock = key.fileobj
                        assert isinstance(sock, socket.socket)
                        try:
                            data = sock.recv(65536)
                        except OSError:
                            data = b""
                        assert not data.startswith(b"HTTP/1.1 200"), (
                            "a half-sent request was served"
                        )
                        if not data:
                            waiting.unregister(sock)
                            still_open.discard(sock)
            assert not still_open, f"{len(still_open)} half-sent connections are still open"
        finally:
            for sock in idle + half:
                sock.close()
    assert daemon.serves("Public")()
    assert daemon.alive()
    assert tracebacks(daemon) == 0, daemon.log()[-2000:]
    assert len(daemon.log_lines()) < 50, f"{len(daemon.log_lines())} log lines"
