"""Deletions as tombstones (RFC 6721), checked the way a subscriber would see them.

A deleted article leaves every feed and page; the Atom feeds it was in (the
site's, its tags', its author's) carry an ``at:deleted-entry`` for
``feeds.tombstone_days`` and then drop it by themselves; bringing the id back
takes the tombstone out of every feed at once; a purge leaves no trace.
"""

from __future__ import annotations

import dataclasses
import json
import os
import pty
import select
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from click.testing import CliRunner, Result
from lxml import etree
from sqlalchemy import text

import db
from db import Selection, migrate
from db.types import UTCDateTime
from feeder import ConfigError, Draft, NotFoundError, Site, load_config
from feeder.cli import cli
from feeder.entries import Channel, DeletedEntry, Link, Person
from feeder.publishing.render.atom import TOMBSTONES, render_atom
from jobs import NEXT_DUE
from tests.conftest import START, FakeClock
from tests.feedcheck import parse_feed
from tests.test_jobs_scheduler import WAIT, start_daemon
from tests.test_queries import Statements

BASE = "https://example.org/blog/"
AT = "{" + TOMBSTONES + "}"
ATOM = "{http://www.w3.org/2005/Atom}"
FEEDER = Path(sys.executable).parent / "feeder"


def configured(site: Site, clock: FakeClock, **feeds: Any) -> Site:
    config = dataclasses.replace(site.config, feeds=dataclasses.replace(site.config.feeds, **feeds))
    return Site(config, site.storage, clock)


def deleted(site: Site, path: str = "atom.xml") -> list[dict[str, Any]]:
    """The at:deleted-entry elements of a published feed, in document order."""
    root = etree.parse(str(site.config.output_dir / path)).getroot()
    return [
        {
            "ref": element.get("ref"),
            "when": element.get("when"),
            "by": element.findtext(f"{AT}by/{ATOM}name"),
            "comment": element.findtext(f"{AT}comment"),
        }
        for element in root.iter(f"{AT}deleted-entry")
    ]


def ids(site: Site, path: str) -> list[str]:
    full = site.config.output_dir / path
    if path.endswith(".json"):
        return [item["id"] for item in json.loads(full.read_text())["items"]]
    return [entry.id for entry in parse_feed(full).entries]


def files(site: Site) -> set[str]:
    root = site.config.output_dir
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def contents(site: Site) -> dict[str, bytes]:
    root = site.config.output_dir
    return {path: (root / path).read_bytes() for path in files(site)}


@pytest.fixture
def blog(site: Site, clock: FakeClock) -> Site:
    """Three published articles under two tags and two authors, built; signed deletions."""
    return _blog(site, clock)


@pytest.fixture
def cli_blog(sqlite_site: Site, clock: FakeClock) -> Site:
    """The same on SQLite only: the command line is the subject, not the database."""
    return _blog(sqlite_site, clock)


def _blog(site: Site, clock: FakeClock) -> Site:
    signed = configured(site, clock, deleted_by="Site Editors")
    clock.advance(minutes=1)
    signed.add_article("Gone soon", tags=["Python", "Spam"], author="Bob", content="<p>x</p>")
    clock.advance(minutes=1)
    signed.add_article("Stays", tags=["Python"], author="Bob", content="<p>y</p>")
    clock.advance(minutes=1)
    signed.add_article("Other", tags=["Food"], author="Ann Author", content="<p>z</p>")
    signed.build()
    return signed


GONE = "tag:example.org,2026-11-26:/articles/gone-soon"


def test_a_deletion_is_announced_in_the_atom_feeds_the_article_was_in(
    blog: Site, clock: FakeClock
) -> None:
    clock.advance(hours=1, microseconds=250)
    blog.delete_article("gone-soon", comment="Posted by mistake")
    report = blog.build()
    assert report.ok and not report.full
    when = "2026-11-26T13:03:00.000250+00:00"
    expected = [{"ref": GONE, "when": when, "by": "Site Editors", "comment": "Posted by mistake"}]
    for directory in ("", "tags/python/", "tags/spam/", "authors/bob/"):
        assert deleted(blog, directory + "atom.xml") == expected, directory
        parsed = parse_feed(blog.config.output_dir / directory / "atom.xml")
        assert parsed.feed["at_deleted-entry"] == {"ref": GONE, "when": when}
        assert GONE not in [entry.id for entry in parsed.entries]
        # A deletion changes the feed: its updated says when.
        assert parsed.feed.updated == when
    # Feeds the article was never in say nothing of it.
    assert deleted(blog, "tags/food/atom.xml") == []
    assert deleted(blog, "authors/ann-author/atom.xml") == []
    assert b"tombstones" not in (blog.config.output_dir / "tags/food/atom.xml").read_bytes()


def test_the_deleted_article_leaves_every_feed_and_page(blog: Site, clock: FakeClock) -> None:
    clock.advance(hours=1)
    blog.delete_article("gone-soon")
    blog.build()
    out = blog.config.output_dir
    assert not (out / "articles" / "gone-soon.html").exists()
    for directory in ("", "tags/python/", "tags/spam/", "authors/bob/"):
        for name in ("rss.xml", "atom.xml", "feed.json"):
            assert GONE not in ids(blog, directory + name), directory + name
        assert "Gone soon" not in (out / directory / "index.html").read_text()
    # RSS and JSON Feed have no tombstones: the entry just leaves them.
    for name in ("rss.xml", "feed.json", "tags/spam/rss.xml", "tags/spam/feed.json"):
        assert GONE.encode() not in (out / name).read_bytes()
    # Spam has nothing left but the notice: its feeds stay, the index no longer offers it.
    assert ids(blog, "tags/spam/atom.xml") == []
    assert "tags/spam/" not in (out / "index.html").read_text()
    assert f"{BASE}tags/spam/atom.xml" not in (out / "feeds.opml").read_text()


def test_tombstones_are_newest_first_before_the_entries_and_one_per_id(
    blog: Site, clock: FakeClock
) -> None:
    clock.advance(minutes=10)
    blog.delete_article("gone-soon")
    clock.advance(minutes=10)
    blog.delete_article("other")
    clock.advance(minutes=10)
    again = blog.add_article("Gone soon", id=GONE, tags=["Python"])
    clock.advance(minutes=10)
    blog.delete_article(again.slug)  # deleted, brought back, deleted again: one notice
    blog.build()
    found = deleted(blog)
    assert [d["ref"] for d in found] == [GONE, "tag:example.org,2026-11-26:/articles/other"]
    assert found[0]["when"] == "2026-11-26T12:43:00+00:00"
    root = etree.parse(str(blog.config.output_dir / "atom.xml")).getroot()
    children = [child.tag for child in root]
    assert children.index(f"{ATOM}entry") > max(
        i for i, tag in enumerate(children) if tag == f"{AT}deleted-entry"
    )
    # The second deletion left "Python" only: the notice is where the article last was.
    # "Spam" lost it when the article came back without it, and has nothing left.
    assert [d["ref"] for d in deleted(blog, "tags/python/atom.xml")] == [GONE]
    assert not (blog.config.output_dir / "tags" / "spam").exists()


def test_a_tombstone_leaves_the_feeds_after_tombstone_days_on_an_incremental_build(
    blog: Site, clock: FakeClock
) -> None:
    short = configured(blog, clock, tombstone_days=2)
    short.build()
    clock.advance(hours=1)
    deleted_at = clock.value
    short.delete_article("gone-soon")
    short.build()
    assert [d["ref"] for d in deleted(short, "tags/spam/atom.xml")] == [GONE]

    clock.value = deleted_at + timedelta(days=2, microseconds=-1)
    report = short.build()
    assert not report.full and "atom.xml" not in report.written
    assert len(deleted(short)) == 1

    clock.value = deleted_at + timedelta(days=2)
    report = short.build()
    assert not report.full
    assert {"atom.xml", "tags/python/atom.xml", "authors/bob/atom.xml"} <= set(report.written)
    for directory in ("", "tags/python/", "authors/bob/"):
        assert deleted(short, directory + "atom.xml") == []
    # Spam was kept by its tombstone alone: it goes with it.
    assert not (short.config.output_dir / "tags" / "spam").exists()
    assert short.build(full=True).written == ()


def test_the_daemon_wakes_when_a_tombstone_expires(site: Site, clock: FakeClock) -> None:
    short = configured(site, clock, tombstone_days=1)
    short.add_article("Doomed", tags=["Once"])
    short.add_article("Kept")
    short.add_article("Scheduled", published=START + timedelta(days=3))
    daemon = start_daemon(short)
    try:
        daemon.publisher.request(reason="start")
        daemon.settle()
        assert daemon.publisher.armed == START + timedelta(days=3)

        clock.advance(hours=2)
        short.delete_article("doomed")
        daemon.publisher.tick()
        daemon.settle()
        expires = START + timedelta(days=1, hours=2)
        assert daemon.publisher.armed == expires == daemon.next_due
        assert len(deleted(short, "tags/once/atom.xml")) == 1

        clock.value = expires
        daemon.fire(NEXT_DUE)
        daemon.settle()
        assert deleted(short) == []
        assert not (short.config.output_dir / "tags" / "once").exists()
        assert daemon.publisher.armed == START + timedelta(days=3)
    finally:
        daemon.schedule.shutdown()
        daemon.publisher.stop(WAIT)


def test_the_same_id_brought_back_resurrects_the_article_in_every_feed_at_once(
    blog: Site, clock: FakeClock
) -> None:
    clock.advance(hours=1)
    blog.delete_article("gone-soon")
    blog.build()
    clock.advance(hours=1)
    # Back with one of its tags (and a new one) only.
    blog.add_article("Gone soon, back", id=GONE, tags=["Python", "Returns"], author="Bob")
    report = blog.build()
    assert not report.full
    out = blog.config.output_dir
    for path in list(files(blog)):
        if path.endswith("atom.xml"):
            assert deleted(blog, path) == [], path
    for directory in ("", "tags/python/", "tags/returns/", "authors/bob/"):
        assert GONE in ids(blog, directory + "atom.xml")
    # Spam announced the deletion; the article is not back there, and Spam has nothing left.
    assert not (out / "tags" / "spam").exists()
    assert blog.list_tombstones() == []
    assert blog.build(full=True).written == ()


def test_an_import_with_the_id_resurrects_it_too(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    clock.advance(hours=1)
    blog.delete_article("gone-soon")
    blog.build()
    source = tmp_path / "back.jsonl"
    source.write_text(json.dumps({"title": "Gone soon", "id": GONE, "tags": ["Spam"]}) + "\n")
    assert blog.import_paths([source]).summary().startswith("1 added")
    blog.build()
    assert GONE in ids(blog, "tags/spam/atom.xml")
    assert deleted(blog) == [] and deleted(blog, "tags/spam/atom.xml") == []


def test_a_scheduled_article_deleted_before_its_time_leaves_no_tombstone(
    site: Site, clock: FakeClock
) -> None:
    site.add_article("Never out", tags=["Secret"], published=START + timedelta(days=1))
    site.add_article("Out")
    site.build()
    before = contents(site)
    clock.advance(hours=1)
    site.delete_article("never-out")
    site.build()
    assert contents(site) == before
    assert site.list_tombstones() == []


def test_a_site_that_deleted_nothing_publishes_no_tombstone_namespace(blog: Site) -> None:
    for path in files(blog):
        assert b"tombstones" not in (blog.config.output_dir / path).read_bytes(), path


@pytest.mark.parametrize(
    "feeds", [{"tombstone_days": 0}, {"formats": ("rss", "json")}], ids=["zero-days", "no-atom"]
)
def test_without_tombstones_a_deletion_is_what_it_was(
    blog: Site, clock: FakeClock, feeds: dict[str, Any]
) -> None:
    plain = configured(blog, clock, **feeds)
    plain.build()
    clock.advance(hours=1)
    plain.delete_article("gone-soon")
    plain.build()
    assert not (plain.config.output_dir / "tags" / "spam").exists()
    for path in files(plain):
        assert b"deleted-entry" not in (plain.config.output_dir / path).read_bytes()
    assert plain.list_tombstones() == []


def test_rebuilds_are_byte_stable_and_full_equals_incremental(blog: Site, clock: FakeClock) -> None:
    clock.advance(hours=1)
    blog.delete_article("gone-soon", comment="Gone")
    blog.build()
    incremental = contents(blog)
    clock.advance(days=1)
    assert blog.build(full=True).written == ()
    assert contents(blog) == incremental
    assert blog.build().written == ()


@pytest.mark.parametrize("path", ["", "tags/python/", "tags/spam/", "authors/bob/"])
def test_feeds_with_tombstones_follow_the_validators_rules(
    blog: Site, clock: FakeClock, path: str
) -> None:
    clock.advance(hours=1)
    blog.delete_article("gone-soon", comment="Gone <for> good & all")
    blog.build()
    feed = blog.config.output_dir / path / "atom.xml"
    parsed = parse_feed(feed)
    assert [link.href for link in parsed.feed.links if link.rel == "self"] == [
        BASE + path + "atom.xml"
    ]
    assert parsed.feed.link == BASE + path
    assert parsed.feed.author == "Ann Author"  # at:by does not pass for the feed's author
    root = etree.parse(str(feed)).getroot()
    refs = [e.get("ref") for e in root.iter(f"{AT}deleted-entry")]
    assert len(refs) == len(set(refs)) == 1
    for element in root.iter(f"{AT}deleted-entry"):
        when = element.get("when")
        assert when is not None and datetime.fromisoformat(when).tzinfo is not None
        assert element.findtext(f"{AT}comment") == "Gone <for> good & all"
    entry_ids = {e.findtext(f"{ATOM}id") for e in root.iter(f"{ATOM}entry")}
    assert not entry_ids & set(refs)  # never an entry and its tombstone in one feed


def test_a_tombstone_row_another_program_broke_is_reported_once_and_left_out(
    blog: Site, clock: FakeClock
) -> None:
    clock.advance(hours=1)
    blog.delete_article("gone-soon")
    blog.delete_article("other")
    with blog.storage.engine.begin() as connection:
        connection.execute(
            text("UPDATE removals SET uid = 'has spaces in it' WHERE slug = 'other'")
        )
    report = blog.build()
    assert len([e for e in report.errors if "tombstone" in e]) == 1, report.errors
    assert "has spaces" in report.errors[0]
    assert [d["ref"] for d in deleted(blog)] == [GONE]
    parse_feed(blog.config.output_dir / "atom.xml")


def test_tombstone_days_must_be_a_whole_number_of_days_at_least_zero(tmp_path: Path) -> None:
    config = tmp_path / "feeder.toml"
    for value, fragment in (("-1", "between 0"), ('"soon"', "whole number"), ("4000", "3650")):
        config.write_text(f'title = "T"\n[feeds]\ntombstone_days = {value}\n')
        with pytest.raises(ConfigError, match=f"feeds.tombstone_days: .*{fragment}"):
            load_config(config, environ={})
    config.write_text('title = "T"\n[feeds]\ndeleted_by = "Line\\nbreak"\n')
    with pytest.raises(ConfigError, match=r"feeds\.deleted_by"):
        load_config(config, environ={})


# -- purging ---------------------------------------------------------------------------


def test_purge_removes_the_tombstone_from_every_feed_and_frees_the_id(
    blog: Site, clock: FakeClock
) -> None:
    clock.advance(hours=1)
    blog.delete_article("gone-soon")
    blog.build()
    purged = blog.purge("gone-soon")
    assert (purged.id, purged.slug, purged.article) == (GONE, "gone-soon", False)
    report = blog.build()
    assert not report.full
    for path in files(blog):
        assert GONE.encode() not in (blog.config.output_dir / path).read_bytes(), path
    assert not (blog.config.output_dir / "tags" / "spam").exists()
    with pytest.raises(NotFoundError, match="no deleted article"):
        blog.purge(id=GONE)
    # Nothing remembers the id: the same title at the same instant mints it again.
    clock.value = START + timedelta(minutes=1)
    assert blog.add_article("Gone soon").id == GONE


def test_purging_a_live_article_deletes_it_without_a_tombstone_even_before_a_build(
    blog: Site, clock: FakeClock
) -> None:
    clock.advance(hours=1)
    purged = blog.purge(id=GONE)
    assert purged.article and purged.slug == "gone-soon"
    blog.build()
    assert not (blog.config.output_dir / "articles" / "gone-soon.html").exists()
    assert GONE not in ids(blog, "atom.xml") and deleted(blog) == []
    assert not (blog.config.output_dir / "tags" / "spam").exists()
    with blog.storage.engine.connect() as connection:
        assert (
            connection.execute(text("SELECT count(*) FROM removals WHERE uid != ''")).scalar() == 0
        )


def test_delete_then_purge_before_any_build_still_removes_the_page(
    blog: Site, clock: FakeClock
) -> None:
    clock.advance(hours=1)
    blog.delete_article("gone-soon")
    blog.purge("gone-soon")
    blog.build()
    assert not (blog.config.output_dir / "articles" / "gone-soon.html").exists()
    assert deleted(blog) == []


def test_a_dry_run_purge_says_what_would_go_and_changes_nothing(
    blog: Site, clock: FakeClock
) -> None:
    clock.advance(hours=1)
    blog.delete_article("gone-soon")
    revision = blog.revision()
    assert blog.purge(id=GONE, dry_run=True).slug == "gone-soon"
    assert blog.revision() == revision
    assert [t.id for t in blog.list_tombstones()] == [GONE]


# -- the command line ------------------------------------------------------------------


def run(site: Site, *args: str, stdin: str | None = None) -> Result:
    config = site.config.root / "feeder.toml"
    return CliRunner().invoke(cli, ["-c", str(config), *args], input=stdin)


def test_cli_delete_with_a_comment_and_list_deleted(cli_blog: Site, clock: FakeClock) -> None:
    result = run(cli_blog, "delete", "gone-soon", "--comment", "Duplicate")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"deleted\tgone-soon\t{GONE}\n"
    listed = run(cli_blog, "list", "--deleted")
    assert listed.exit_code == 0
    (line,) = listed.stdout.splitlines()
    assert "gone-soon" in line and GONE in line and "Duplicate" in line
    data = json.loads(run(cli_blog, "list", "--deleted", "--json").stdout)
    deleted_at, expires = (datetime.fromisoformat(data[0][key]) for key in ("deleted", "expires"))
    assert expires - deleted_at == timedelta(days=30)
    assert f"until {expires:%Y-%m-%d %H:%M:%S}Z" in line
    assert data[0]["feeds"] == ["site", "tag:python", "tag:spam", "author:Bob"]
    assert data[0]["comment"] == "Duplicate"


def test_cli_list_deleted_says_when_tombstones_are_off(cli_blog: Site) -> None:
    config = cli_blog.config.root / "feeder.toml"
    config.write_text(config.read_text() + "\n[feeds]\ntombstone_days = 0\n")
    run(cli_blog, "delete", "gone-soon")
    listed = run(cli_blog, "list", "--deleted")
    assert listed.exit_code == 0 and listed.stdout == ""
    assert listed.stderr.startswith("note: feeds announce no deletions")


def test_cli_purge_with_yes(cli_blog: Site, clock: FakeClock) -> None:
    run(cli_blog, "delete", "gone-soon")
    result = run(cli_blog, "delete", "gone-soon", "--purge", "--yes")
    assert result.exit_code == 0, result.output
    assert result.stdout == f"purged\tgone-soon\t{GONE}\n"
    assert json.loads(run(cli_blog, "list", "--deleted", "--json").stdout) == []
    by_id = run(cli_blog, "delete", "--purge", "--id", GONE, "--yes")
    assert by_id.exit_code == 66 and by_id.stderr.count("\n") == 1


def test_cli_purge_without_a_terminal_refuses_in_one_line_and_keeps_everything(
    cli_blog: Site,
) -> None:
    run(cli_blog, "delete", "gone-soon")
    revision = cli_blog.revision()
    result = run(cli_blog, "delete", "gone-soon", "--purge", stdin="y\n")
    assert result.exit_code == 2
    assert result.stderr.startswith("error: --purge removes what is left of the deleted article")
    assert "--yes" in result.stderr and result.stderr.count("\n") == 1
    assert cli_blog.revision() == revision
    assert [t.id for t in cli_blog.list_tombstones()] == [GONE]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["delete"], "give the SLUG"),
        (["delete", "gone-soon", "--id", GONE], "--id: only with --purge"),
        (["delete", "gone-soon", "--purge", "--comment", "x"], "--comment:"),
        (["delete", "nope", "--purge", "--yes"], "slug: no article and no deleted article"),
        (["list", "--deleted", "--status", "scheduled"], "--status:"),
    ],
)
def test_cli_misuse_is_one_line(cli_blog: Site, args: list[str], message: str) -> None:
    revision = cli_blog.revision()
    result = run(cli_blog, *args)
    assert result.exit_code != 0
    assert message in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert cli_blog.revision() == revision


def _on_a_terminal(site: Site, args: list[str], answer: bytes) -> tuple[int, str]:
    """Run the installed ``feeder`` with a pseudo-terminal as stdin and type ``answer``."""
    primary, secondary = pty.openpty()
    process = subprocess.Popen(
        [str(FEEDER), "-c", str(site.config.root / "feeder.toml"), *args],
        stdin=secondary,
        stdout=secondary,
        stderr=secondary,
        env={"PATH": "/usr/bin:/bin", "HOME": str(site.config.root)},
    )
    os.close(secondary)
    shown = b""
    deadline = time.monotonic() + 60
    answered = False
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([primary], [], [], 1.0)
            if ready:
                try:
                    chunk = os.read(primary, 4096)
                except OSError:  # the process closed the terminal
                    break
                if not chunk:
                    break
                shown += chunk
            if not answered and b"[y/N]" in shown:
                os.write(primary, answer)
                answered = True
            if process.poll() is not None and not ready:
                break
        code = process.wait(timeout=30)
    finally:
        os.close(primary)
        if process.poll() is None:
            process.kill()
    return code, shown.decode(errors="replace")


@pytest.mark.parametrize(("answer", "gone"), [(b"y\n", True), (b"n\n", False)])
def test_cli_purge_asks_on_a_terminal(
    sqlite_site: Site, clock: FakeClock, answer: bytes, gone: bool
) -> None:
    assert FEEDER.exists(), f"{FEEDER} missing: is the project installed in this venv?"
    article = sqlite_site.add_article("To purge", tags=["Once"])
    sqlite_site.delete_article(article.slug)
    code, shown = _on_a_terminal(sqlite_site, ["delete", "to-purge", "--purge"], answer)
    assert "what is left of the deleted article 'to-purge'" in shown
    assert "feed readers are not told it was deleted" in shown
    assert article.id in shown
    tombstones = [t.id for t in sqlite_site.list_tombstones()]
    if gone:
        assert code == 0, shown
        assert f"purged\tto-purge\t{article.id}" in shown.replace("\r\n", "\n")
        assert tombstones == []
    else:
        assert code == 1, shown
        assert tombstones == [article.id]


def test_list_tombstones_reads_what_the_feeds_carry(site: Site, clock: FakeClock) -> None:
    site.add_article("One", tags=["A"], author="Zoë")
    clock.advance(seconds=1)
    site.add_article("Two")
    clock.advance(hours=1)
    site.delete_article("one", comment="  why  ")
    clock.advance(hours=1)
    site.delete_article("two")
    found = site.list_tombstones()
    assert [(t.slug, t.comment, t.feeds) for t in found] == [
        ("two", None, ("site",)),
        ("one", "why", ("site", "tag:a", "author:Zoë")),
    ]
    assert found[1].deleted_at == START + timedelta(hours=1, seconds=1)
    assert found[1].expires_at == found[1].deleted_at + timedelta(days=30)
    assert found[0].to_dict()["deleted"] == found[0].deleted_at.isoformat()
    clock.advance(days=30)
    assert [t.slug for t in site.list_tombstones()] == []
    assert site.list_tombstones(limit=1) == []


# -- storage and rendering -------------------------------------------------------------


def test_deletions_made_before_the_upgrade_get_the_sites_feed(
    database_url: str, site_dir: Path, clock: FakeClock
) -> None:

    engine = db.create_engine(database_url, create=True)
    try:
        config = migrate._config()
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0004")
        with engine.begin() as connection:
            state_at_0004 = sa.table(  # as it was then: build columns of its own
                "state",
                sa.column("pk"),
                sa.column("revision"),
                sa.column("built_revision"),
                sa.column("created_at", UTCDateTime()),
            )
            connection.execute(
                state_at_0004.insert().values(pk=1, revision=3, built_revision=-1, created_at=START)
            )
            connection.execute(
                db.Removal.__table__.insert(),
                [
                    {"uid": "tag:example.org,2026:/old", "slug": "old", "deleted": True,
                     "removed_at": START - timedelta(days=1), "revision": 2},
                    {"uid": "tag:example.org,2026:/renamed", "slug": "was", "deleted": False,
                     "removed_at": START - timedelta(days=1), "revision": 3},
                ],
            )  # fmt: skip
    finally:
        engine.dispose()
    with Site.init(
        site_dir, title="T", base_url=BASE, id_authority="example.org",
        database_url=database_url, clock=clock,
    ) as site:  # fmt: skip
        assert [(t.id, t.feeds) for t in site.list_tombstones()] == [
            ("tag:example.org,2026:/old", ("site",))
        ]
        site.build()
        assert [d["ref"] for d in deleted(site)] == ["tag:example.org,2026:/old"]


def test_a_feed_of_tombstones_alone_is_valid_atom_with_every_field() -> None:
    channel = Channel(
        id="tag:example.org,2026:/feeds/atom.xml",
        title="T",
        description="",
        links=(Link("self", BASE + "atom.xml"), Link("alternate", BASE)),
        language="en",
        author=Person("Ann"),
        updated=START,
    )
    gone = [
        DeletedEntry(
            "tag:example.org,2026:/b",
            START + timedelta(days=2),
            Person("Eds\u202e", "eds@example.org", "https://example.org/eds"),
            "why\x00 not",
        ),
        DeletedEntry("tag:example.org,2026:/a", START + timedelta(days=1)),
    ]
    data = render_atom(channel, [], tombstones=gone)
    assert data == render_atom(channel, [], tombstones=gone)
    parsed = parse_feed(data)
    assert parsed.entries == [] and parsed.feed.updated == "2026-11-28T12:00:00+00:00"
    root = etree.fromstring(data)
    first, second = root.iter(f"{AT}deleted-entry")
    assert first.get("ref") == "tag:example.org,2026:/b"
    assert [child.text for child in first.find(f"{AT}by")] == [
        "Eds",
        "eds@example.org",
        "https://example.org/eds",
    ]
    assert first.findtext(f"{AT}comment") == "why not"
    assert second.attrib == {"ref": "tag:example.org,2026:/a", "when": "2026-11-27T12:00:00+00:00"}
    assert len(second) == 0
    assert render_atom(channel, []) == render_atom(channel, [], tombstones=())
    assert b"tombstones" not in render_atom(channel, [])


@pytest.mark.parametrize(
    ("selection", "index"),
    [(Selection(), "ix_removals_removed_at"), (Selection(tag="t5"), "ix_removal_selections_key")],
    ids=["site", "tag"],
)
def test_a_feeds_tombstones_are_read_along_an_index(
    site: Site, clock: FakeClock, selection: Selection, index: str
) -> None:
    # A long history of deletions, and a few within the last 30 days.
    site.import_drafts(Draft(f"#{n}", title=f"A{n}", tags=(f"t{n % 20}",)) for n in range(150))
    for n in range(150):
        clock.advance(minutes=1)
        site.delete_article(f"a{n}")
        if n == 140:
            clock.advance(days=60)
    engine = site.storage.engine
    with Statements(engine) as captured, site.storage.read() as reader:
        found = reader.tombstones(selection, clock.value - timedelta(days=30), 50)
    assert found and len(captured.seen) == 1
    ((statement, params),) = captured.seen
    with engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            connection.exec_driver_sql("ANALYZE")
            connection.exec_driver_sql("SET enable_seqscan = off")
        prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        plan = "\n".join(
            str(row[-1]) for row in connection.exec_driver_sql(prefix + statement, params)
        )
    assert index in plan, plan
    assert "SCAN removals" not in plan and "Seq Scan on removals" not in plan, plan
