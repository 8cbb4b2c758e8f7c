"""RFC 5005 archives: a reader walking prev-archive from any feed sees every entry once,
pages keep their meaning, and a build writes only the pages a change touched."""

from __future__ import annotations

import dataclasses
import gzip
import json
import shutil
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from lxml import etree
from sqlalchemy import Connection

from db import Position, Selection
from db import pages as pages_module
from db.pages import positions_after, range_rows
from feeder import Site
from feeder.config import ConfigError, load
from feeder.errors import PublishError
from feeder.server import OutputFiles, Server
from tests.conftest import START, FakeClock
from tests.feedcheck import parse_feed
from tests.test_build import stamps, tree
from tests.test_jsonfeed import check_json_feed
from tests.test_queries import plans

BASE = "https://example.org/blog/"
FH = "http://purl.org/syndication/history/1.0"
ATOM = "http://www.w3.org/2005/Atom"
FILES = {"rss": "rss.xml", "atom": "atom.xml", "json": "feed.json"}
DIRECTORIES = ("", "tags/x/", "authors/bob/")


def archived(
    site: Site, clock: FakeClock, *, size: int = 4, max_items: int = 3, **more: Any
) -> Site:
    """``site`` with small feeds and small pages, so a few articles make an archive."""
    feeds = dataclasses.replace(site.config.feeds, archive_page_size=size, **more)
    config = dataclasses.replace(site.config, max_items=max_items, feeds=feeds)
    return Site(config, site.storage, clock)


def fill(site: Site, count: int = 22) -> None:
    """Articles oldest first, some tied to the second, a third tagged x, a third by Bob."""
    for i in range(count):
        site.add_article(
            f"Post {i}",
            published=START - timedelta(hours=count - i - (i % 5 == 1)),  # some share an hour
            tags=["x"] if i % 3 == 0 else [],
            author="Bob" if i % 3 == 1 else None,
            content=f"<p>{i}</p>",
        )


def path_of(url: str) -> str:
    assert url.startswith(BASE), url
    return url.removeprefix(BASE)


@dataclasses.dataclass
class Document:
    path: str
    ids: list[str]
    links: dict[str, str]
    archive: bool


def read(out: Path, path: str, fmt: str) -> Document:
    """One published document as a reader sees it: entry ids, RFC 5005 links, fh:archive."""
    data = (out / path).read_bytes()
    if fmt == "json":
        feed = json.loads(data)
        check_json_feed({k: v for k, v in feed.items() if k != "_archive"})
        marker = feed.get("_archive", {})
        links = {"self": marker.get("url", feed["feed_url"])}
        if "next_url" in feed:
            links["prev-archive"] = feed["next_url"]
        for key, rel in (("current", "current"), ("next_archive", "next-archive")):
            if key in marker:
                links[rel] = marker[key]
        return Document(path, [item["id"] for item in feed["items"]], links, bool(marker))
    parsed = parse_feed(data)  # valid, no bozo
    root = etree.fromstring(data)
    found = root.findall(f"{{{ATOM}}}link") + root.findall(f"channel/{{{ATOM}}}link")
    links = {link.get("rel"): link.get("href") for link in found if link.get("rel") != "alternate"}
    archive = root.find(f"{{{FH}}}archive") is not None or (
        root.find(f"channel/{{{FH}}}archive") is not None
    )
    return Document(path, [entry.id for entry in parsed.entries], links, archive)


def walk(out: Path, directory: str, fmt: str) -> tuple[Document, list[Document]]:
    """The subscription feed and its archive pages, oldest first, by prev-archive links."""
    feed = read(out, directory + FILES[fmt], fmt)
    pages: list[Document] = []
    url = feed.links.get("prev-archive")
    while url is not None:
        assert len(pages) < 100, "the chain loops"
        page = read(out, path_of(url), fmt)
        pages.insert(0, page)
        url = page.links.get("prev-archive")
    return feed, pages


def published_ids(site: Site, directory: str) -> list[str]:
    """What the selection holds by the database, oldest first."""
    articles = site.list_articles(status="published")
    if directory == "tags/x/":
        articles = [a for a in articles if "x" in [t.slug for t in a.tags]]
    elif directory == "authors/bob/":
        articles = [a for a in articles if a.author is not None and a.author.name == "Bob"]
    return [a.id for a in reversed(articles)]


def check_chain(site: Site, directory: str, fmt: str, size: int | None) -> list[Document]:
    """Walk the chain; ``size``: what each closed page holds (None: no edits since)."""
    out = site.config.output_dir
    feed, pages = walk(out, directory, fmt)
    expected = published_ids(site, directory)
    assert pages, f"{directory}{FILES[fmt]} has no archive"
    seen = [entry for page in pages for entry in reversed(page.ids)]  # oldest first
    assert seen == expected  # every article exactly once, in order, page 1 first
    assert not feed.archive and all(page.archive for page in pages)
    current = BASE + directory + FILES[fmt]
    for number, page in enumerate(pages, start=1):
        assert page.path == f"{directory}archive/{number}/{FILES[fmt]}"
        assert page.links["self"] == BASE + page.path
        assert page.links["current"] == current
        if number > 1:
            assert page.links["prev-archive"] == BASE + pages[number - 2].path
        if number < len(pages):
            assert page.links["next-archive"] == BASE + pages[number].path
            assert size is None or len(page.ids) == size  # a closed page is whole
        else:
            assert "next-archive" not in page.links
        assert all(href.startswith("https://") for href in page.links.values())
    # The feed overlaps only the newest pages.
    newest = {entry for page in pages[-2:] for entry in page.ids}
    assert set(feed.ids) <= newest and len(feed.ids) == site.config.max_items
    return pages


def test_a_reader_walking_prev_archive_sees_every_article_once(
    site: Site, clock: FakeClock
) -> None:
    small = archived(site, clock)
    fill(small)
    small.add_article("Scheduled", published=START + timedelta(days=1), tags=["x"], author="Bob")
    small.build()
    for directory in DIRECTORIES:
        for fmt in FILES:
            check_chain(small, directory, fmt, 4)
    everything = b"".join(tree(small.config.output_dir).values())
    assert b"Scheduled" not in everything

    # The scheduled article reaches the open page, not before its instant.
    clock.value = START + timedelta(days=1)
    small.build()
    for directory in DIRECTORIES:
        for fmt in FILES:
            pages = check_chain(small, directory, fmt, 4)
            assert small.get_article("scheduled").id in pages[-1].ids


def test_a_selection_within_max_items_has_no_archive(site: Site, clock: FakeClock) -> None:
    small = archived(site, clock, max_items=5)
    for i in range(5):
        small.add_article(f"P{i}", published=START - timedelta(hours=i))
    small.build()
    out = small.config.output_dir
    assert not (out / "archive").exists()
    for fmt in FILES:
        feed = read(out, FILES[fmt], fmt)
        assert "prev-archive" not in feed.links and not feed.archive
    assert b"purl.org/syndication/history" not in (out / "rss.xml").read_bytes()

    # One more: it gets pages, all of them at once.
    small.add_article("P5")
    small.build()
    for fmt in FILES:
        check_chain(small, "", fmt, 4)

    # Back to five: its pages go, and so does the link.
    small.delete_article("p5")
    report = small.build()
    assert not (out / "archive").exists()
    assert {p for p in report.removed if p.startswith("archive/")} == {
        f"archive/{n}/{name}" for n in (1, 2) for name in FILES.values()
    }
    assert "prev-archive" not in read(out, "atom.xml", "atom").links


def _setup(site: Site, clock: FakeClock) -> Site:
    """Nine untagged articles by nobody in pages of 4: pages 1 and 2 closed, 3 open."""
    small = archived(site, clock)
    for i in range(9):
        small.add_article(f"Post {i}", published=START - timedelta(days=9 - i))
    small.build()
    clock.advance(hours=1)
    return small


SUBSCRIPTION = {"rss.xml", "atom.xml", "feed.json", "index.html"}


def page_files(*numbers: int) -> set[str]:
    return {f"archive/{n}/{name}" for n in numbers for name in FILES.values()}


def test_adding_an_article_writes_the_feeds_and_only_the_newest_page(
    site: Site, clock: FakeClock
) -> None:
    small = _setup(site, clock)
    out = small.config.output_dir
    before = stamps(out)
    small.add_article("New")
    report = small.build()
    assert set(report.written) == SUBSCRIPTION | {"articles/new.html"} | page_files(3)
    after = stamps(out)
    assert all(after[p] == before[p] for p in page_files(1, 2))  # same bytes, same file

    # The open page fills (4), then the next article closes it: it gains its
    # next-archive link and page 4 begins.
    for name in ("Third", "Fourth"):
        small.add_article(name)
        small.build()
    small.add_article("Fifth")
    report = small.build()
    assert {p for p in report.written if p.startswith("archive/")} == page_files(3, 4)
    assert all(stamps(out)[p] == before[p] for p in page_files(1, 2))
    for fmt in FILES:
        check_chain(small, "", fmt, 4)


def test_an_edit_or_deletion_of_an_old_article_rewrites_only_its_page(
    site: Site, clock: FakeClock
) -> None:
    small = _setup(site, clock)
    out = small.config.output_dir
    before = stamps(out)

    small.edit_article("post-1", title="Post one")
    report = small.build()
    assert set(report.written) == {"articles/post-1.html"} | page_files(1)
    small.delete_article("post-5")
    report = small.build()
    assert {p for p in report.written if p.startswith("archive/")} == page_files(2)
    assert report.removed == ("articles/post-5.html",)
    assert all(stamps(out)[p] == before[p] for p in page_files(3))
    # Page 2 keeps its range, one short; page 3 keeps its articles.
    pages = walk(out, "", "atom")[1]
    assert [len(page.ids) for page in pages] == [4, 3, 1]


def test_a_backdated_article_or_a_moved_date_rewrites_the_pages_involved(
    site: Site, clock: FakeClock
) -> None:
    small = _setup(site, clock)
    small.add_article("Backdated", published=START - timedelta(days=8, hours=12))
    report = small.build()
    archive = {p for p in report.written if p.startswith("archive/")}
    assert archive == page_files(1)  # it lands in page 1, which now holds five
    # Moving an article from page 1 to page 2 rewrites both, and nothing else.
    small.edit_article("post-0", published=START - timedelta(days=4, hours=12))
    report = small.build()
    assert {p for p in report.written if p.startswith("archive/")} == page_files(1, 2)
    pages = walk(small.config.output_dir, "", "rss")[1]
    assert [len(page.ids) for page in pages] == [4, 5, 1]
    for fmt in FILES:
        _feed, pages = walk(small.config.output_dir, "", fmt)
        seen = [entry for page in pages for entry in reversed(page.ids)]
        assert seen == published_ids(small, "")


def test_a_tag_taken_off_an_old_article_rewrites_that_tags_page(
    site: Site, clock: FakeClock
) -> None:
    small = archived(site, clock)
    for i in range(9):
        small.add_article(f"Post {i}", published=START - timedelta(days=9 - i), tags=["x"])
    small.build()
    small.edit_article("post-1", tags=[])
    report = small.build()
    archive = {p for p in report.written if "archive/" in p}
    assert archive == page_files(1) | {f"tags/x/{p}" for p in page_files(1)}
    assert [len(page.ids) for page in check_chain(small, "tags/x/", "atom", None)] == [3, 4, 1]


def test_a_full_rebuild_of_the_same_data_changes_no_byte(site: Site, clock: FakeClock) -> None:
    small = _setup(site, clock)
    small.add_article("Backdated", published=START - timedelta(days=8, hours=12))
    small.delete_article("post-5")
    small.add_article("New", tags=["x"])
    small.build()
    out = small.config.output_dir
    before = tree(out)
    report = small.build(full=True)
    assert report.full and report.written == () and report.removed == ()
    assert tree(out) == before


def test_a_new_page_size_makes_new_pages_and_removes_the_old(site: Site, clock: FakeClock) -> None:
    small = _setup(site, clock)
    out = small.config.output_dir
    bigger = archived(site, clock, size=8)
    report = bigger.build()
    assert report.full
    assert set(report.removed) == page_files(3)
    for fmt in FILES:
        assert len(check_chain(bigger, "", fmt, 8)) == 2

    off = archived(site, clock, size=8, archives=False)
    report = off.build()
    assert report.full and not (out / "archive").exists()
    assert set(report.removed) == page_files(1, 2)
    assert "prev-archive" not in read(out, "rss.xml", "rss").links


def test_a_tag_left_by_every_article_takes_its_archive_along(site: Site, clock: FakeClock) -> None:
    small = archived(site, clock)
    for i in range(6):
        small.add_article(f"Post {i}", published=START - timedelta(days=6 - i), tags=["x"])
    small.build()
    out = small.config.output_dir
    assert (out / "tags/x/archive/2/atom.xml").is_file()
    for i in range(6):
        small.edit_article(f"post-{i}", tags=["y"])
    small.build()
    assert not (out / "tags/x").exists()
    for fmt in FILES:
        check_chain(small, "tags/y/", fmt, 4)


def test_each_page_is_one_index_range_scan(site: Site, clock: FakeClock) -> None:
    small = archived(site, clock)
    fill(small, 60)
    with small.storage.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    low = Position("2026-11-26 00:00:00.000000", 10)
    high = Position("2026-11-26 05:00:00.000000", 30)
    if small.storage.backend == "postgresql":
        low, high = (
            Position(START - timedelta(hours=12), 10),
            Position(START - timedelta(hours=7), 30),
        )
    for selection, index in (
        (Selection(), "ix_articles_published"),
        (Selection(tag="x"), "ix_article_tags_published"),
        (Selection(author="Bob"), "ix_articles_author_published"),
    ):
        found = plans(
            small, lambda c, s=selection: list(range_rows(c, s, START, after=low, until=high))
        )
        statement, lines = found[0]
        plan = "\n".join(lines)
        assert index in plan, f"{statement}\n{plan}"
        assert "SCAN articles" not in plan and "Seq Scan on articles" not in plan, plan
        # Both ends of the page bound the index scan: it reads the page's rows, no more.
        # (They may then be put in order, never the whole selection.)
        if small.storage.backend == "postgresql":
            assert plan.count("ROW(") >= 2 and "Index Cond" in plan, plan
        else:
            search = next(line for line in lines if index in line)
            assert ">" in search and "<" in search, plan
            assert "TEMP B-TREE FOR ORDER BY" not in plan, plan
        if selection.author is not None:
            continue  # an author's open page is still read from the author's first row
        # A tick's reads of the open page start the scan at the last end too.
        reads: list[Callable[[Connection], object]] = [
            lambda c, s=selection: list(range_rows(c, s, START, after=low))
        ]
        if selection.tag is None:  # a tag's positions are read from article_tags alone
            reads.append(lambda c, s=selection: positions_after(c, s, START, low, 5))
        for read in reads:
            statement, lines = plans(small, read)[-1]
            plan = "\n".join(lines)
            assert index in plan, f"{statement}\n{plan}"
            if small.storage.backend == "postgresql":
                assert "ROW(" in plan and "Index Cond" in plan, plan
            else:
                search = next(line for line in lines if index in line)
                assert ">" in search, plan


def test_a_tick_reads_the_page_ends_it_needs_not_every_one(
    site: Site, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A big site's archive has thousands of pages: an incremental build that adds an
    article, closes a page and edits an old one asks for those ends only, and writes
    what a full rebuild writes."""
    small = archived(site, clock, size=2)
    fill(small, 40)
    small.build()

    def every_end(*_args: Any) -> Any:
        raise AssertionError("an incremental build read every stored page end")

    monkeypatch.setattr(pages_module, "page_bounds", every_end)
    clock.advance(minutes=1)
    for n in range(3):  # the open page closes, and the next
        small.add_article(f"New {n}", tags=["x"], author="Bob")
    small.edit_article("post-3", title="Post three, edited")
    small.edit_article("post-6", tags=[])  # leaves tag x's page 2 (posts 6 and 9)
    report = small.build()
    assert not report.full and report.ok
    pages = {p.removesuffix("atom.xml") for p in report.written if p.endswith("/atom.xml")}
    # New pages 21 and 22 closed, old pages 2 (an edit) and tag x's 2 (a tag lost).
    assert {"archive/2/", "archive/21/", "archive/22/", "tags/x/archive/2/"} <= pages
    assert "archive/3/" not in pages and "tags/x/archive/3/" not in pages
    monkeypatch.undo()
    incremental = tree(small.config.output_dir)
    rebuilt = small.build(full=True)
    assert rebuilt.written == () and tree(small.config.output_dir) == incremental


def test_archive_pages_are_served_as_feeds_and_gzipped(sqlite_site: Site, clock: FakeClock) -> None:
    small = _setup(sqlite_site, clock)
    server = Server(OutputFiles(small.config.output_dir), "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url()) as client:
            for name, media_type in (
                ("rss.xml", "application/rss+xml"),
                ("atom.xml", "application/atom+xml"),
                ("feed.json", "application/feed+json"),
            ):
                path = f"/archive/1/{name}"
                response = client.get(path, headers={"Accept-Encoding": "gzip"})
                assert response.status_code == 200
                assert response.headers["content-type"].split(";")[0] == media_type
                assert response.headers.get("content-encoding") == "gzip"
                assert response.content == (small.config.output_dir / path[1:]).read_bytes()
                assert gzip.compress(response.content)  # the decoded body is the file
    finally:
        server.stop()


@pytest.mark.parametrize("value", ["0", "-3", '"many"'])
def test_a_bad_page_size_is_one_error_naming_the_key(tmp_path: Path, value: str) -> None:
    (tmp_path / "feeder.toml").write_text(f'title = "T"\n[feeds]\narchive_page_size = {value}\n')
    with pytest.raises(ConfigError, match=r"feeds\.archive_page_size"):
        load(tmp_path, environ={})


@pytest.mark.parametrize("where", ["archive", "archive/2", "tags/x/archive"])
def test_a_symlinked_folder_in_the_output_is_never_written_through(
    sqlite_site: Site, clock: FakeClock, tmp_path: Path, where: str
) -> None:
    small = archived(sqlite_site, clock)
    fill(small)
    small.build()
    out = small.config.output_dir
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    moved = out / where
    shutil.rmtree(moved)
    moved.symlink_to(outside, target_is_directory=True)
    small.add_article("After", tags=["x"])
    try:
        report = small.build(full=True)
    except PublishError as exc:
        assert "resolves outside the output directory" in str(exc)
    else:
        assert any("resolves outside the output directory" in e for e in report.errors)
    assert sorted(p.name for p in outside.iterdir()) == ["keep.txt"]
