"""Building a site through the Python API: files, bytes, schedules, removals, bad rows."""

from __future__ import annotations

import dataclasses
import os
import re
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import text

from feeder import InputError, Site
from feeder.cli import cli
from feeder.publishing.files import TEMP_SUFFIX
from feeder.publishing.outputs import OUTPUT_FILE
from tests.conftest import START, FakeClock
from tests.feedcheck import parse_feed

BASE = "https://example.org/blog/"
FEEDS = ("rss.xml", "atom.xml")
# What every build writes at the top of the output directory.
SITE_FILES = {
    *("rss.xml", "atom.xml", "feed.json", "index.html", "feeds.opml", "feed.xsl", "feed.css")
}


def tree(root: Path) -> dict[str, bytes]:
    """What the output directory publishes (not its identity file, which is never served)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != OUTPUT_FILE
    }


def stamps(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(root)): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in root.rglob("*")
        if p.is_file()
    }


def feed_slugs(site: Site, name: str = "atom.xml") -> list[str]:
    """The feed's entries by the slug they were created with (ids never change)."""
    parsed = parse_feed(site.config.output_dir / name)
    return [entry.id.rsplit("/", 1)[-1] for entry in parsed.entries]


def pages(site: Site) -> set[str]:
    directory = site.config.output_dir / "articles"
    return {p.stem for p in directory.glob("*.html")} if directory.is_dir() else set()


def with_config(site: Site, clock: FakeClock, **changes: Any) -> Site:
    return Site(dataclasses.replace(site.config, **changes), site.storage, clock)


def test_build_writes_feeds_index_and_a_page_per_local_article(site: Site) -> None:
    site.add_article("Local", content="<p>Local body</p>", tags=["news"])
    site.add_article("Remote", link="https://other.example.net/post")
    site.add_article("Later", published=START + timedelta(days=1))
    report = site.build()
    out = site.config.output_dir
    assert set(tree(out)) == {
        *SITE_FILES,
        "articles/local.html",
        # The tag's own feeds and page (the articles have no author, so no author feeds).
        "tags/news/rss.xml",
        "tags/news/atom.xml",
        "tags/news/feed.json",
        "tags/news/index.html",
    }
    assert set(report.written) == set(tree(out))
    assert report.entries == 2 and report.ok
    for name in FEEDS:
        parsed = parse_feed(out / name)
        assert [e.title for e in parsed.entries] == ["Remote", "Local"]
        assert [e.link for e in parsed.entries] == [
            "https://other.example.net/post",
            BASE + "articles/local.html",
        ]
        self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
        assert self_links == [BASE + name]
        root = etree.parse(str(out / name)).getroot()
        for element in root.iter():
            for attribute in ("href", "uri"):
                if element.get(attribute):
                    assert urlsplit(element.get(attribute)).scheme in ("http", "https")
    assert "Local body" in (out / "articles" / "local.html").read_text()


def test_index_page_has_autodiscovery_links_for_each_feed(site: Site) -> None:
    site.add_article("One")
    site.build()
    html = (site.config.output_dir / "index.html").read_text()
    head = html.split("</head>", 1)[0]
    found = {
        (m.group("type"), m.group("href"))
        for m in re.finditer(
            r'<link rel="alternate" type="(?P<type>[^"]+)"[^>]* href="(?P<href>[^"]+)">', head
        )
    }
    assert found == {
        ("application/rss+xml", BASE + "rss.xml"),
        ("application/atom+xml", BASE + "atom.xml"),
        ("application/feed+json", BASE + "feed.json"),
    }
    assert BASE + "articles/one.html" in html


def test_same_database_gives_the_same_bytes_at_any_later_time(site: Site, clock: FakeClock) -> None:
    site.add_article("One", content="<p>1</p>", published=START - timedelta(days=1))
    site.add_article("Two", content="<p>2</p>", tags=["x"])
    site.build()
    first = tree(site.config.output_dir)
    clock.advance(days=30)
    other = with_config(site, clock, output_dir=site.config.output_dir.parent / "again")
    other.build(full=True)
    assert tree(other.config.output_dir) == first


def test_a_second_build_rewrites_nothing(site: Site, clock: FakeClock) -> None:
    site.add_article("One", content="<p>1</p>")
    site.add_article("Elsewhere", link="https://example.net/")
    site.build()
    before = stamps(site.config.output_dir)
    clock.advance(hours=5)
    for full in (False, True):
        report = site.build(full=full)
        assert report.written == () and report.removed == ()
        assert stamps(site.config.output_dir) == before


def test_only_changed_files_are_rewritten_after_an_edit(site: Site, clock: FakeClock) -> None:
    small = with_config(site, clock, max_items=2)
    small.add_article("Oldest", published=START - timedelta(days=3), content="<p>o</p>")
    small.add_article("Middle", published=START - timedelta(days=2), content="<p>m</p>")
    small.add_article("Newest", published=START - timedelta(days=1), content="<p>n</p>")
    small.build()
    before = stamps(small.config.output_dir)
    clock.advance(hours=1)

    # Out of the feeds (max_items=2): only its own page and the archive page holding it.
    archive = {"archive/1/rss.xml", "archive/1/atom.xml", "archive/1/feed.json"}
    report = small.edit_article("oldest", content="<p>o2</p>") and small.build()
    after = stamps(small.config.output_dir)
    assert set(report.written) == {"articles/oldest.html", *archive}
    assert {k for k in after if after[k] != before[k]} == {"articles/oldest.html", *archive}

    # In the feeds: the feeds, the index, its page and its archive page, nothing else.
    report = small.edit_article("newest", title="Newest!") and small.build()
    final = stamps(small.config.output_dir)
    changed = {k for k in final if final[k] != after[k]}
    feeds = {"rss.xml", "atom.xml", "feed.json", "index.html", "articles/newest.html"}
    assert changed == feeds | archive
    assert set(report.written) == changed


def test_scheduled_article_appears_exactly_when_due(site: Site, clock: FakeClock) -> None:
    site.add_article("Now", content="<p>now</p>")
    due = START + timedelta(hours=2)
    site.add_article("Scheduled", content="<p>secret</p>", published=due)
    site.build()
    out = site.config.output_dir

    def visible() -> bool:
        in_feeds = {"scheduled" in feed_slugs(site, name) for name in FEEDS}
        assert len(in_feeds) == 1
        everywhere = b"secret" in b"".join(tree(out).values())
        assert in_feeds.pop() == ("scheduled" in pages(site)) == everywhere
        return everywhere and b"Scheduled" in (out / "index.html").read_bytes()

    assert not visible()
    clock.value = due - timedelta(seconds=1)
    site.build()
    assert not visible()
    clock.value = due
    report = site.build()
    assert visible()
    assert "articles/scheduled.html" in report.written
    assert site.status().next_scheduled is None


def test_feeds_hold_the_newest_max_items_newest_first_ties_by_id(
    site: Site, clock: FakeClock
) -> None:
    small = with_config(site, clock, max_items=3)
    tie = START - timedelta(hours=1)
    small.add_article("Old", published=START - timedelta(days=1))
    small.add_article("Tie one", published=tie)
    small.add_article("Tie two", published=tie)
    small.add_article("Newest", published=START)
    small.add_article("Tie three", published=tie)
    small.build()
    for name in FEEDS:
        assert feed_slugs(small, name) == ["newest", "tie-three", "tie-two"]
    assert pages(small) == {"old", "tie-one", "tie-two", "newest", "tie-three"}


def test_deleted_renamed_and_relinked_articles_lose_their_pages(
    site: Site, clock: FakeClock
) -> None:
    for title in ("Gone", "Before", "Linked", "Postponed", "Kept"):
        site.add_article(title, content=f"<p>{title}</p>", published=START - timedelta(hours=1))
    site.build()
    assert pages(site) == {"gone", "before", "linked", "postponed", "kept"}
    clock.advance(minutes=1)
    site.delete_article("gone")
    site.edit_article("before", new_slug="after")
    site.edit_article("linked", link="https://example.net/x")
    site.edit_article("postponed", published=START + timedelta(days=1))
    report = site.build()
    assert pages(site) == {"after", "kept"}
    assert set(report.removed) == {
        "articles/gone.html",
        "articles/before.html",
        "articles/linked.html",
        "articles/postponed.html",
    }
    expected = {site.get_article(slug).id for slug in ("after", "linked", "kept")}
    assert {e.id for e in parse_feed(site.config.output_dir / "atom.xml").entries} == expected


def test_a_slug_freed_by_a_rename_can_be_reused(site: Site, clock: FakeClock) -> None:
    site.add_article("First", slug="shared", content="<p>first</p>")
    site.build()
    site.edit_article("shared", new_slug="moved")
    site.add_article("Second", slug="shared", content="<p>second</p>")
    site.build()
    out = site.config.output_dir
    assert pages(site) == {"shared", "moved"}
    assert "second" in (out / "articles" / "shared.html").read_text()


def _operations(site: Site, clock: FakeClock) -> list[Callable[[], object]]:
    return [
        lambda: site.add_article("A", content="<p>a</p>", tags=["x"]),
        lambda: site.add_article("B", content="<p>b</p>", published=START + timedelta(hours=1)),
        lambda: site.add_article("C", link="https://example.net/c"),
        lambda: site.edit_article("a", title="A again"),
        lambda: clock.advance(hours=2),
        lambda: site.edit_article("b", new_slug="b2"),
        lambda: site.add_article("D", slug="b", content="<p>d</p>"),
        lambda: site.delete_article("c"),
        lambda: site.edit_article("a", link="https://example.net/a"),
        lambda: site.edit_article("a", link=None),
        lambda: site.add_article("E", published=START + timedelta(hours=3)),
        lambda: clock.advance(hours=2),
        lambda: site.delete_article("b"),
    ]


def test_incremental_builds_end_where_a_full_build_does(site: Site, clock: FakeClock) -> None:
    site.build()
    for step in _operations(site, clock):
        step()
        site.build()
    incremental = tree(site.config.output_dir)
    fresh = with_config(site, clock, output_dir=site.config.output_dir.parent / "full")
    fresh.build(full=True)
    assert tree(fresh.config.output_dir) == incremental
    assert pages(site) == {"a", "b2", "e"}


def test_full_build_sweeps_stale_temp_files(site: Site) -> None:
    site.build()
    out = site.config.output_dir
    stale = out / f".rss.xml.dead{TEMP_SUFFIX}"
    stale.write_bytes(b"half a feed")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    site.build(full=True)
    assert not stale.exists()


# -- rows written by other tools ------------------------------------------------------

DIRTY = "\x01\x08\x0b\x1f"


def _raw(site: Site, sql: str, **params: Any) -> None:
    with site.storage.engine.begin() as connection:
        connection.execute(text(sql), params)


def test_control_characters_from_another_tool_do_not_stop_the_build(site: Site) -> None:
    site.add_article("Good", content="<p>good</p>", tags=["ok"])
    site.add_article("Dirty", content="<p>dirty</p>", tags=["bad"], author="Bob")
    _raw(
        site,
        "UPDATE articles SET title = :t, summary = :s, content = :c, uid = :u WHERE slug = 'dirty'",
        t=f"Di{DIRTY}rty",
        s=f"sum{DIRTY}",
        c=f"<p>dir{DIRTY}ty</p>",
        u=f"tag:example.org,2026:{DIRTY}dirty",
    )
    _raw(site, "UPDATE authors SET name = :n", n=f"Bob{DIRTY}")
    _raw(site, "UPDATE tags SET name = :n, slug = :n WHERE slug = 'bad'", n=f"b{DIRTY}ad")
    report = site.build(full=True)
    assert report.ok, report.errors
    for name in FEEDS:
        parsed = parse_feed(site.config.output_dir / name)
        assert [e.title for e in parsed.entries] == ["Dirty", "Good"]
        dirty = parsed.entries[0]
        assert dirty.id == "tag:example.org,2026:dirty"
        assert dirty.author == "Bob"
    assert pages(site) == {"good", "dirty"}


def test_a_relative_link_from_another_tool_is_made_absolute(site: Site) -> None:
    site.add_article("Good")
    site.add_article("Odd")
    _raw(site, "UPDATE articles SET link = 'notes/odd.html' WHERE slug = 'odd'")
    report = site.build(full=True)
    assert report.ok, report.errors
    for name in FEEDS:
        links = [e.link for e in parse_feed(site.config.output_dir / name).entries]
        assert sorted(links) == [BASE + "articles/good.html", BASE + "notes/odd.html"]


@pytest.mark.parametrize(
    "stored",
    ["", "yesterday", "11/21/2026", 1764000000, "2026-11-25T10:00:00+02:00"],
    ids=["empty", "word", "us-date", "unix-time", "iso-with-offset"],
)
def test_a_bad_date_from_another_tool_does_not_stop_the_build(
    sqlite_site: Site, stored: object
) -> None:
    site = sqlite_site
    site.add_article("Good one", published=START - timedelta(days=1))
    site.add_article("Odd one", published=START - timedelta(days=2))
    site.build()
    _raw(site, "UPDATE articles SET published_at = :v WHERE slug = 'odd-one'", v=stored)
    for full in (False, True):
        report = site.build(full=full)
        for name in FEEDS:
            assert "good-one" in feed_slugs(site, name)
        assert "good-one" in pages(site)
        site.status()
    if isinstance(stored, int) or "T" in str(stored):
        # Readable after all: published at the instant it names.
        assert site.get_article("odd-one").published_at < START
        assert "odd-one" in feed_slugs(site)
    else:
        assert "odd-one" not in feed_slugs(site)
        if stored in ("", "11/21/2026"):
            # Sorts among published dates, cannot be read: reported, not hidden.
            assert any("cannot be read" in e for e in report.errors), report.errors


def test_a_bad_date_from_another_tool_is_reported_when_listing_and_showing(
    sqlite_site: Site,
) -> None:
    site = sqlite_site
    site.add_article("Good one", published=START - timedelta(days=1))
    site.add_article("Odd one", published=START - timedelta(days=2))
    _raw(site, "UPDATE articles SET published_at = '11/21/2026' WHERE slug = 'odd-one'")
    reported: list[str] = []
    listed = site.list_articles(on_unreadable=reported.append)
    assert [a.slug for a in listed] == ["good-one"]
    assert len(reported) == 1 and "'odd-one'" in reported[0] and "11/21/2026" in reported[0]
    with pytest.raises(
        InputError, match=r"article 'odd-one' cannot be read: published_at: '11/21/2026'"
    ):
        site.get_article("odd-one")
    assert site.get_article("good-one").title == "Good one"
    config = str(site.config.root / "feeder.toml")
    result = CliRunner().invoke(cli, ["-c", config, "list"])
    assert result.exit_code == 0 and "good-one" in result.stdout
    assert result.stderr.startswith("warning: article 'odd-one' cannot be read")
    shown = CliRunner().invoke(cli, ["-c", config, "show", "odd-one"])
    assert shown.exit_code == 65 and shown.stderr.count("\n") == 1
    assert "Traceback" not in shown.output
