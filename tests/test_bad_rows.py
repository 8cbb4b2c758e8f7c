"""Rows another program wrote: each is checked where it becomes a path, a link or bytes.

Whatever one row holds, the build publishes the others, leaves that one out of
every feed and page, reports it once, and writes nothing outside the output
directory.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import text

from feeder import Site
from feeder.publishing.build import output_fingerprint
from tests.conftest import FakeClock
from tests.feedcheck import parse_feed

FEEDS = ("rss.xml", "atom.xml")


def _sql(site: Site, statement: str, **params: Any) -> None:
    with site.storage.engine.begin() as connection:
        connection.execute(text(statement), params)


def _touch(site: Site, slug: str) -> None:
    """What another tool must do for the daemon to notice: move the revision counter."""
    _sql(site, "UPDATE state SET revision = revision + 1")
    _sql(
        site,
        "UPDATE articles SET revision = (SELECT revision FROM state) WHERE slug = :s",
        s=slug,
    )


def _all_bytes(site: Site) -> bytes:
    """Every published file made from rows (not the stylesheets shipped with feeder)."""
    root = site.config.output_dir
    shipped = {"feed.xsl", "feed.css"}
    return b"".join(
        p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file() and p.name not in shipped
    )


def _titles(site: Site, name: str = "atom.xml") -> list[str]:
    return [entry.title for entry in parse_feed(site.config.output_dir / name).entries]


def _pages(site: Site) -> set[str]:
    return {p.stem for p in (site.config.output_dir / "articles").glob("*.html")}


@pytest.fixture
def two(site: Site) -> Site:
    """A site with a good article and one that tests spoil."""
    site.add_article("Good", content="<p>Good one.</p>")
    site.add_article("Victim", content="<p>To be spoiled.</p>")
    site.build()
    return site


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_slug_that_leads_out_of_the_output_directory_is_never_a_path(
    two: Site, tmp_path: Path, full: bool
) -> None:
    target = tmp_path / "escaped"
    escape = os.path.relpath(target, two.config.output_dir / "articles")
    _sql(two, "UPDATE articles SET slug = :s WHERE slug = 'victim'", s=escape)
    _touch(two, escape)
    before = sorted(p.name for p in tmp_path.iterdir())
    report = two.build(full=full)
    assert not target.with_suffix(".html").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert _titles(two) == ["Good"]
    # Another tool's rename leaves a removal behind (a trigger writes it): the old page
    # goes with the next build, incremental or full.
    assert _pages(two) == {"good"}
    (error,) = report.errors
    assert "left out" in error and "slug" in error and "not a safe slug" in error
    # Deleting it (a removal naming that slug) removes nothing outside either.
    target.with_suffix(".html").write_text("keep me")
    _sql(two, "DELETE FROM articles WHERE slug = :s", s=escape)
    _sql(
        two,
        "INSERT INTO removals (uid, slug, removed_at, revision, deleted) "
        "VALUES ('x:1', :s, '2026-11-26 12:00:00.000000', "
        "(SELECT revision FROM state) + 1, true)",
        s=escape,
    )
    _sql(two, "UPDATE state SET revision = revision + 1")
    report = two.build()
    assert target.with_suffix(".html").read_text() == "keep me"
    assert any("removal" in error for error in report.errors), report.errors


@pytest.mark.parametrize(
    "slug", ["", ".hidden", "..", "a/b", "a\x00b", "UPPER", "trailing-", "new\nline"]
)
def test_an_unsafe_slug_is_left_out_and_named(two: Site, slug: str) -> None:
    if two.storage.engine.dialect.name == "postgresql" and "\x00" in slug:
        pytest.skip("PostgreSQL cannot store a NUL character")
    _sql(two, "UPDATE articles SET slug = :s WHERE slug = 'victim'", s=slug)
    _touch(two, slug)
    report = two.build(full=True)
    assert _titles(two) == ["Good"] and _titles(two, "rss.xml") == ["Good"]
    assert _pages(two) == {"good"}
    assert len(report.errors) == 1 and "slug" in report.errors[0]
    assert sorted(p.name for p in two.config.output_dir.iterdir()) == [
        ".feeder-output",  # the directory's identity, never served
        "articles",
        "atom.xml",
        "feed.css",
        "feed.json",
        "feed.xsl",
        "feeds.opml",
        "index.html",
        "rss.xml",
    ]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("CAST(X'C328FF' AS TEXT)", "not valid UTF-8"),
        ("X'0102'", "binary data"),
    ],
    ids=["invalid-utf8", "blob"],
)
def test_a_title_that_is_not_text_is_left_out(sqlite_site: Site, value: str, reason: str) -> None:
    site = sqlite_site
    site.add_article("Good")
    site.add_article("Victim")
    _sql(site, f"UPDATE articles SET title = {value} WHERE slug = 'victim'")
    for full in (True, False):
        _touch(site, "victim")
        report = site.build(full=full)
        assert _titles(site) == ["Good"]
        assert len(report.errors) == 1 and reason in report.errors[0], report.errors
        assert "#2 ('victim')" in report.errors[0]


def test_invalid_utf8_anywhere_in_a_row_spares_the_others(sqlite_site: Site) -> None:
    site = sqlite_site
    site.add_article("Good", tags=["ok"], author="Ann")
    site.add_article("Victim", tags=["bad"], author="Bob")
    for statement in (
        "UPDATE articles SET summary = CAST(X'C328FF' AS TEXT) WHERE slug = 'victim'",
        "UPDATE articles SET content = CAST(X'C328FF' AS TEXT) WHERE slug = 'victim'",
        "UPDATE authors SET name = CAST(X'C328FF' AS TEXT) WHERE name = 'Bob'",
        "UPDATE tags SET name = CAST(X'C328FF' AS TEXT) WHERE slug = 'bad'",
    ):
        _sql(site, statement)
        report = site.build(full=True)
        assert _titles(site) == ["Good"], statement
        # The article once, and an author whose name is not text has no feed of its own.
        assert sum("article #2" in error for error in report.errors) == 1, report.errors
        assert all("UTF-8" in error for error in report.errors), report.errors
        # Listing still works, and says which row it cannot show.
        assert [a.slug for a in site.list_articles()] in (["victim", "good"], ["good"])


@pytest.mark.parametrize(
    "link",
    ["javascript:alert(1)", " JavaScript:alert(1)", "data:text/html,<script>x</script>", "ftp://x"],
)
def test_an_unsafe_link_is_never_published(two: Site, link: str) -> None:
    _sql(two, "UPDATE articles SET link = :l WHERE slug = 'victim'", l=link)
    _touch(two, "victim")
    report = two.build(full=True)
    published = _all_bytes(two).lower()
    assert b"javascript:" not in published and b"data:text" not in published
    assert b"ftp://" not in published
    assert _titles(two) == ["Good"]
    assert len(report.errors) == 1 and "link" in report.errors[0]


def test_content_stored_behind_feeders_back_is_sanitised_when_published(two: Site) -> None:
    _sql(
        two,
        "UPDATE articles SET content = :c WHERE slug = 'victim'",
        c='<p onclick="steal()">Hi<script>steal()</script><a href="javascript:x">y</a></p>',
    )
    _touch(two, "victim")
    assert two.build().ok
    published = _all_bytes(two)
    assert b"steal" not in published and b"javascript" not in published
    assert b"Hi" in (two.config.output_dir / "articles" / "victim.html").read_bytes()


def test_oversized_content_is_left_out_and_feeds_stay_readable(two: Site) -> None:
    huge = "<p>" + "x" * (5 * 1024 * 1024) + "</p>"
    _sql(two, "UPDATE articles SET content = :c WHERE slug = 'victim'", c=huge)
    _touch(two, "victim")
    report = two.build(full=True)
    assert len(report.errors) == 1 and "max_content_bytes" in report.errors[0]
    for name in FEEDS:
        data = (two.config.output_dir / name).read_bytes()
        assert len(data) < 100_000
        etree.fromstring(data)  # lxml's default limits
    assert _pages(two) == {"good"}


def test_a_feed_over_its_byte_limit_carries_whole_entries_newest_first(
    site: Site, clock: FakeClock
) -> None:
    for i in range(6):
        clock.advance(minutes=1)
        site.add_article(f"Long {i}", content="<p>" + "word " * 4000 + "</p>")
    limited = dataclasses.replace(
        site.config, feeds=dataclasses.replace(site.config.feeds, max_bytes=60_000)
    )
    report = Site(limited, site.storage, clock).build(full=True)
    assert report.ok
    for name in FEEDS:
        data = (site.config.output_dir / name).read_bytes()
        assert len(data) <= 60_000
        titles = [entry.title for entry in parse_feed(data).entries]
        assert titles and titles == [f"Long {i}" for i in range(5, 5 - len(titles), -1)]
        assert len(titles) < 6
        etree.fromstring(data)
    # Every article keeps its page: the limit is about the feed documents.
    assert len(_pages(site)) == 6


def test_a_bad_row_among_the_newest_makes_room_for_an_older_one(
    site: Site, clock: FakeClock
) -> None:
    small = Site(dataclasses.replace(site.config, max_items=3), site.storage, clock)
    for i in range(5):
        clock.advance(minutes=1)
        small.add_article(f"Post {i}")
    _sql(small, "UPDATE articles SET link = 'javascript:1' WHERE slug = 'post-3'")
    report = small.build(full=True)
    assert _titles(small) == ["Post 4", "Post 2", "Post 1"]
    assert len(report.errors) == 1


def test_each_bad_row_is_reported_once_per_build_however_often_it_is_met(two: Site) -> None:
    _sql(two, "UPDATE articles SET link = 'javascript:1' WHERE slug = 'victim'")
    _touch(two, "victim")
    report = two.build(full=True)  # met by the feed query, the index and the page pass
    assert len(report.errors) == 1
    assert two.status().last_error == report.errors[0]


def test_a_date_no_date_is_reported_by_full_and_incremental_builds(sqlite_site: Site) -> None:
    site = sqlite_site
    site.add_article("Good")
    site.add_article("Victim")
    site.build()
    _sql(site, "UPDATE articles SET published_at = 'garbage' WHERE slug = 'victim'")
    _touch(site, "victim")
    incremental = site.build()
    full = site.build(full=True)
    for report in (incremental, full):
        assert len(report.errors) == 1 and "published_at" in report.errors[0], report.errors
        assert "cannot be read" in report.errors[0]
    assert _titles(site) == ["Good"]
    assert _pages(site) == {"good"}


def test_a_change_of_the_settings_that_shape_output_rebuilds_every_page(
    site: Site, clock: FakeClock
) -> None:
    site.add_article("One")
    site.add_article("Two")
    assert site.build().full
    assert not site.build().full
    renamed = Site(dataclasses.replace(site.config, title="Renamed Site"), site.storage, clock)
    assert output_fingerprint(renamed.config) != output_fingerprint(site.config)
    report = renamed.build()
    assert report.full
    for page in (site.config.output_dir / "articles").glob("*.html"):
        assert b"Renamed Site" in page.read_bytes()
    assert not renamed.build().full


def test_a_full_build_that_did_not_finish_is_done_again(site: Site, clock: FakeClock) -> None:
    site.add_article("One")
    site.build()
    renamed = dataclasses.replace(site.config, title="Renamed")
    # As after a kill -9 in the middle: the output is half new, the database says old.
    with site.storage.engine.begin() as connection:
        connection.execute(text("UPDATE outputs SET built_settings = 'interrupted'"))
    assert Site(renamed, site.storage, clock).build().full
    assert not Site(renamed, site.storage, clock).build().full
