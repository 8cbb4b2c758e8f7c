"""A full build: the same bytes whether worker processes or this one render it.

Rows are read and files written by the build's own process; only rendering (pages,
feeds, group pages) moves to worker processes. Whatever happens to the workers (they
cannot start, one dies in the middle) the output is what a build in one process
makes, and stale pages go without a set of every slug being kept.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import pickle
import shutil
import signal
import sys
import threading
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from db import StoredArticle, StoredPerson
from feeder import Site
from feeder.publishing import build as build_module
from feeder.publishing import files as files_module
from feeder.publishing import items as items_module
from feeder.publishing import rendering
from feeder.publishing import spill as spill_module
from feeder.publishing.build import BuildReport, run_build
from feeder.publishing.feeds import FORMATS
from feeder.publishing.outputs import OUTPUT_FILE
from tests.conftest import START, FakeClock
from tests.test_archives import archived, fill

COUNT = 240


def tree(root: Path) -> dict[str, bytes]:
    """Every published file (not the directory's own identity, which differs by design)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != OUTPUT_FILE
    }


def _sql(site: Site, statement: str, **params: Any) -> None:
    with site.storage.engine.begin() as connection:
        connection.execute(text(statement), params)


@pytest.fixture
def many(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Site:
    """A site whose full build hands pages to workers after the first few chunks."""
    source = tmp_path / "many.jsonl"
    source.write_text(
        "".join(
            json.dumps(
                {
                    "title": f"Page {n}",
                    "content": f"<p>Body of page {n}, with <em>a few</em> words.</p>" * 3,
                    "tags": [f"t{n % 3}"],
                    "author": f"Author {n % 2}",
                    "published": (START - timedelta(hours=n)).isoformat(),
                }
            )
            + "\n"
            for n in range(COUNT)
        ),
        encoding="utf-8",
    )
    assert site.import_paths([source]).added == COUNT
    # Rows another program spoiled: left out and reported, whichever process meets them.
    _sql(site, "UPDATE articles SET title = '' WHERE slug = 'page-7'")
    _sql(site, "UPDATE articles SET content = :c WHERE slug = 'page-200'", c="x" * 2_000_000)
    _sql(
        site,
        "UPDATE articles SET content = '<p>hi<script>x()</script></p>' WHERE slug = 'page-150'",
    )
    monkeypatch.setattr(rendering, "CHUNK", 20)
    return site


def _build(site: Site, processes: int) -> tuple[BuildReport, dict[str, bytes]]:
    report = run_build(site.storage, site.config, now=site.now(), full=True, processes=processes)
    return report, tree(site.config.output_dir)


def _same(one: BuildReport, other: BuildReport) -> None:
    assert (one.written, one.unchanged, one.removed, one.errors) == (
        other.written,
        other.unchanged,
        other.removed,
        other.errors,
    )


def test_pages_rendered_by_workers_are_the_bytes_this_process_makes(many: Site) -> None:
    alone, alone_files = _build(many, 0)
    out = many.config.output_dir
    shutil.rmtree(out)
    # The same pages again, most of them from worker processes.
    spread, spread_files = _build(many, 2)
    assert spread_files == alone_files
    _same(spread, alone)
    assert len(alone.errors) == 2 and all("left out" in e for e in alone.errors)
    assert not (out / "articles" / "page-7.html").exists()
    assert b"script" not in (out / "articles" / "page-150.html").read_bytes()


def test_workers_that_cannot_start_leave_the_pages_to_this_process(
    many: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    alone, alone_files = _build(many, 0)
    shutil.rmtree(many.config.output_dir)
    monkeypatch.setattr(sys, "executable", "/nonexistent/python")
    spread, spread_files = _build(many, 2)
    assert spread_files == alone_files
    _same(spread, alone)


def _worker_pids() -> set[int]:
    found = set()
    for task in Path(f"/proc/{os.getpid()}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except OSError:
                continue
            if b"feeder._processes" in command and b"rendering:render_chunk" in command:
                found.add(int(child))
    return found


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="needs Linux /proc")
def test_a_worker_killed_in_the_middle_leaves_its_pages_to_this_process(many: Site) -> None:
    alone, alone_files = _build(many, 0)
    shutil.rmtree(many.config.output_dir)
    killed: list[int] = []
    stop = threading.Event()

    def killer() -> None:
        while not stop.is_set() and not killed:
            for pid in _worker_pids():
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
            stop.wait(0.001)

    watcher = threading.Thread(target=killer)
    watcher.start()
    try:
        spread, spread_files = _build(many, 2)
    finally:
        stop.set()
        watcher.join()
    assert killed, "no worker was seen"
    assert spread_files == alone_files
    _same(spread, alone)


def test_a_full_build_removes_exactly_the_stale_pages(site: Site) -> None:
    for title in ("Kept", "Deleted", "Linked", "Later", "Spoiled"):
        site.add_article(title, content=f"<p>{title}</p>")
    site.build()
    articles = site.config.output_dir / "articles"
    for name in ("notes.txt", "Upper.html", ".hidden.html", "orphan.html"):
        (articles / name).write_bytes(b"not feeder's</html>\n")
    site.delete_article("deleted")
    site.edit_article("linked", link="https://elsewhere.example/post")
    site.edit_article("later", published=START + timedelta(days=1))
    _sql(site, "UPDATE articles SET title = '' WHERE slug = 'spoiled'")
    report = site.build(full=True)
    assert sorted(report.removed) == [
        "articles/deleted.html",
        "articles/later.html",
        "articles/linked.html",
        "articles/orphan.html",  # a page of no article
        "articles/spoiled.html",  # its row was left out
    ]
    assert sorted(p.name for p in articles.iterdir()) == [
        ".hidden.html",
        "Upper.html",
        "kept.html",
        "notes.txt",
    ]


@pytest.mark.parametrize("processes", [0, 2])
def test_stale_pages_are_checked_in_groups(
    site: Site, monkeypatch: pytest.MonkeyPatch, processes: int
) -> None:
    monkeypatch.setattr(rendering, "_NAMES_PER_QUERY", 3)
    for n in range(10):
        site.add_article(f"A{n}")
    site.build()
    for n in range(0, 10, 2):
        site.delete_article(f"a{n}")
    for n in range(7):
        (site.config.output_dir / "articles" / f"gone-{n}.html").write_bytes(b"x")
    report = run_build(site.storage, site.config, now=site.now(), full=True, processes=processes)
    assert len(report.removed) == 5 + 7
    assert sorted(p.stem for p in (site.config.output_dir / "articles").iterdir()) == [
        f"a{n}" for n in range(1, 10, 2)
    ]


def test_a_report_names_the_first_files_and_counts_the_rest(
    site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(build_module, "LISTED", 4)
    for n in range(6):
        site.add_article(f"A{n}")
    report = site.build()
    files = tree(site.config.output_dir)
    feeds = {
        path for path in files if path.rsplit("/", 1)[-1] in ("rss.xml", "atom.xml", "feed.json")
    }
    # The first four, and every feed beyond them: WebSub hubs are told about each.
    assert feeds <= set(report.written) and len(report.written) < len(files)
    assert set(report.written) - feeds == set(report.written[:4]) - feeds
    assert report.written_count == len(files)
    assert report.written_more == len(files) - len(report.written)
    assert f"{len(files)} written" in report.summary()
    for n in range(6):
        site.delete_article(f"a{n}")
    removed = site.build(full=True)
    assert len(removed.removed) == 4 and removed.removed_count == 6


def _archived_and_built(site: Site, clock: FakeClock) -> tuple[Site, dict[str, bytes]]:
    """A site with archives of 40 articles, the files its full build writes, and its
    output directory emptied for the next build."""
    small = archived(site, clock)
    fill(small, 40)
    run_build(small.storage, small.config, now=small.now(), full=True, processes=0)
    whole = tree(small.config.output_dir)
    shutil.rmtree(small.config.output_dir)
    return small, whole


def test_a_big_full_build_sets_old_rows_aside_and_writes_the_same_bytes(
    sqlite_site: Site, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The memory a full build holds stays flat: the items of rows an open archive page
    still holds go to an unnamed file once the rows are old, folders found inside the
    output are forgotten now and then; none of it changes a byte or leaves a file."""
    small, whole = _archived_and_built(sqlite_site, clock)
    out = small.config.output_dir
    spills: list[spill_module.Spill] = []

    class Recorded(spill_module.Spill):
        def __init__(self, directory: Path) -> None:
            super().__init__(directory, keep_bytes=1, chunk=4096)  # the newest row only
            spills.append(self)

    monkeypatch.setattr(build_module, "Spill", Recorded)
    monkeypatch.setattr(build_module, "_FOLDERS_KEPT", 2)
    monkeypatch.setattr(files_module, "_FOLDERS_KEPT", 2)
    report = run_build(small.storage, small.config, now=small.now(), full=True, processes=0)
    assert report.ok
    (spill,) = spills
    # Rows of tag x and of Bob wait for their pages for more than one row.
    assert spill.rows > 5 and spill.bytes > 0
    assert tree(out) == whole  # and no spill file, named or hidden, was left behind
    assert not [p for p in out.rglob(".*") if p.name != OUTPUT_FILE]


def test_set_aside_items_read_back_the_same_whether_waiting_for_the_file_or_in_it(
    tmp_path: Path,
) -> None:
    """Rows go to the file a chunk at a time; until then they keep their items."""
    rows = [
        spill_module.Spillable({("rss", False): b"r" * n, ("atom", True): bytes([n]) * (n % 7)})
        for n in range(1, 60)
    ]
    # The newest five rows' items make 297 bytes; six would make 356.
    with spill_module.Spill(tmp_path, keep_bytes=300, chunk=200) as spill:
        for row in rows:
            spill.hold(row)
        assert 0 < spill.rows < len(rows) - 5  # the newest five stay, the last chunk waits
        assert all(row._items is not None for row in rows[-5:])
        assert spill.rows == len(rows) - 6 - sum(row._items is not None for row in rows[:-6])
        for n, row in enumerate(rows, start=1):
            assert row.items == {("rss", False): b"r" * n, ("atom", True): bytes([n]) * (n % 7)}
    assert list(tmp_path.iterdir()) == []


def test_a_full_build_that_cannot_set_rows_aside_keeps_them_in_memory(
    sqlite_site: Site,
    clock: FakeClock,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    small, whole = _archived_and_built(sqlite_site, clock)
    out = small.config.output_dir

    def full_disk(*_args: Any, **_kwargs: Any) -> Any:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(
        build_module, "Spill", lambda d: spill_module.Spill(d, keep_bytes=1, chunk=1)
    )
    monkeypatch.setattr(spill_module.tempfile, "TemporaryFile", full_disk)
    report = run_build(small.storage, small.config, now=small.now(), full=True, processes=0)
    assert report.ok and tree(out) == whole
    warnings = [r.getMessage() for r in caplog.records if r.name == "feeder.publishing.spill"]
    assert len(warnings) == 1 and "No space left on device" in warnings[0]


def test_a_report_names_every_subscription_feed_and_counts_archive_pages(
    sqlite_site: Site, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A report of a big build stays small: archive pages are counted like pages (nobody
    subscribes to them, hubs are not told), subscription feeds are named."""
    monkeypatch.setattr(build_module, "LISTED", 4)
    small = archived(sqlite_site, clock)
    fill(small)
    report = small.build(full=True)
    files = tree(small.config.output_dir)
    pages = {path for path in files if "/archive/" in path or path.startswith("archive/")}
    feeds = {
        path
        for path in set(files) - pages
        if path.rsplit("/", 1)[-1] in ("rss.xml", "atom.xml", "feed.json")
    }
    assert pages and {"tags/x/atom.xml", "rss.xml"} <= feeds
    assert feeds <= set(report.written)
    assert not pages & set(report.written[4:])
    assert report.written_count == len(files)


def test_a_record_crosses_to_a_worker_whole() -> None:
    record = StoredArticle(
        *range(7),
        StoredPerson("n", "e", "u"),
        ((b"s", "n"),),
        *(START + timedelta(seconds=n) for n in range(3)),
        12,
        problems=("p",),
        published_key="k",
        word_count=3,
        content_hash="h",
        content_seal="s",
    )
    assert pickle.loads(pickle.dumps(record)) == record


def test_worker_processes_only_for_builds_big_enough_and_never_beyond_the_setting() -> None:
    cpus = os.cpu_count() or 1
    big = rendering.WORKERS_FROM
    assert rendering.worker_count(None, big - 1, 4) == 0  # starting them costs more
    assert rendering.worker_count(None, big, 4) == (min(4, cpus) if cpus > 1 else 0)
    assert rendering.worker_count(None, 10 * big, 1) == (1 if cpus > 1 else 0)
    assert rendering.worker_count(None, 10 * big, 0) == 0  # build.processes = 0
    assert rendering.worker_count(3, 0, 0) == 3  # asked for, as tests do


def test_a_full_build_renders_each_entry_once_per_format(
    sqlite_site: Site, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every article is in the site's feeds, its tag's, its author's and an archive page
    of each, in three formats: each entry is rendered once per format all the same."""
    small = archived(sqlite_site, clock)
    fill(small, 30)
    rendered = _count_items(monkeypatch)
    report = run_build(small.storage, small.config, now=small.now(), full=True, processes=0)
    assert report.ok
    ids = {article.id for article in small.list_articles(status="published")}
    assert len(ids) == 30
    assert set(rendered) == {(i, name) for i in ids for name in FORMATS}
    assert set(rendered.values()) == {1}
    # What the documents hold is what they held rendered whole.
    out = small.config.output_dir
    spliced = tree(out)
    shutil.rmtree(out)
    monkeypatch.setattr(build_module.Items, "of", lambda *_args: None)
    run_build(small.storage, small.config, now=small.now(), full=True, processes=0)
    assert tree(out) == spliced
    assert any("/archive/" in path for path in spliced)


def test_the_next_build_renders_only_the_entries_that_changed(
    sqlite_site: Site, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = archived(sqlite_site, clock)
    fill(small, 30)
    small.build()
    rendered = _count_items(monkeypatch)
    small.add_article("New", tags=["x"], author="Bob")
    small.edit_article("post-28", title="Post twenty-eight")
    report = small.build()
    assert not report.full and "tags/x/atom.xml" in report.written
    changed = {a.id for a in small.list_articles() if a.slug in ("new", "post-28")}
    assert {entry_id for entry_id, _name in rendered} == changed
    assert set(rendered.values()) == {1}


def _count_items(monkeypatch: pytest.MonkeyPatch) -> Counter[tuple[str, str]]:
    """Count each entry the builds render as an item, by format, from now on."""
    rendered: Counter[tuple[str, str]] = Counter()
    counting = {}
    for name, feed in FORMATS.items():

        def count(entries: Any, summary_only: bool, author: Any, feed: Any = feed) -> Any:
            rendered.update((entry.id, feed.name) for entry in entries)
            return feed.items(entries, summary_only, author)

        counting[name] = dataclasses.replace(feed, items=count)
    monkeypatch.setattr(items_module, "FORMATS", counting)
    return rendered
