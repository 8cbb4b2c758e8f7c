"""What RFC 5005 archives cost: the first full build, then a one-article tick.

    .venv/bin/python bench/bench_archives.py [--sizes 2000,100000] [--page-size 50]

For each size (SQLite, articles bulk-loaded with SQLAlchemy Core, spread over
10 authors and 20 tags, published one minute apart):

- **first build**: a full build of the new site; how many archive pages (one
  page = one file per format) it wrote, across the site, every tag and every
  author, and how long it took;
- **one-article tick**: ``add_article`` then an incremental build, as the
  daemon's tick runs it; the archive pages and the other files it wrote, and
  its time (median of ``--ticks`` ticks). Every tick's article is in three
  selections (the site, tag-0, Author 0), so expected: one archive page per
  selection, two on the tick that closes a selection's open page (it gains its
  next-archive link and the next page begins: sizes that are multiples of the
  page size close a page on the first tick), plus the subscription feeds, the
  group pages, the index and the article's page;
- **baseline**: the time to render one 50-entry feed in each format, measured
  in the same run, next to the tick's time.

The database and output go to a temp directory, removed afterwards.
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update

from db.models import Article, Author, State, Tag, article_tags
from feeder import Site
from feeder._records import entry_of
from feeder.publishing.feeds import FORMATS, FeedDocument, channel_for, site_group

BATCH = 20_000
START = datetime(2026, 1, 1, tzinfo=UTC)


class Clock:
    def __init__(self, value: datetime) -> None:
        self.value = value

    def __call__(self) -> datetime:
        return self.value


def bulk_load(site: Site, count: int) -> None:
    """``count`` articles, one minute apart, each by one of 10 authors with one of 20 tags."""
    with site.storage.engine.begin() as connection:
        revision = connection.execute(
            update(State).values(revision=State.revision + 1).returning(State.revision)
        ).scalar_one()
        connection.execute(insert(Author), [{"name": f"Author {i}"} for i in range(10)])
        connection.execute(
            insert(Tag), [{"slug": f"tag-{i}", "name": f"Tag {i}"} for i in range(20)]
        )
        for start in range(0, count, BATCH):
            rows = []
            links = []
            for i in range(start, min(start + BATCH, count)):
                when = START + timedelta(minutes=i)
                rows.append(
                    {
                        "pk": i + 1,
                        "uid": f"tag:bench.invalid,2026:/a/{i}",
                        "slug": f"a-{i}",
                        "title": f"Article {i}",
                        "link": None,
                        "summary": f"Summary of article {i}.",
                        "content": f"<p>Body of article {i}, a paragraph or so of text.</p>",
                        "author_pk": i % 10 + 1,
                        "published_at": when,
                        "updated_at": when,
                        "created_at": when,
                        "revision": revision,
                    }
                )
                links.append({"article_pk": i + 1, "tag_pk": i % 20 + 1, "published_at": when})
            connection.execute(insert(Article), rows)
            connection.execute(insert(article_tags), links)


def archive_pages(written: tuple[str, ...]) -> tuple[int, int]:
    """(archive pages, other files) among ``written``: a page is its directory."""
    pages = {path.rsplit("/", 1)[0] for path in written if "archive/" in path}
    others = sum(1 for path in written if "archive/" not in path)
    return len(pages), others


def render_baseline(site: Site, runs: int = 20) -> float:
    """Median seconds to render one 50-entry feed (all three formats, divided by three)."""
    config = site.config
    group = site_group(config)
    with site.storage.read() as reader:
        entries = [entry_of(r, config) for r in reader.newest(group.selection, site.now(), 50)]
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        for spec in group.specs:
            channel = channel_for(config, spec, entries, site_created=START, group=group)
            FORMATS[spec.format.name].render(FeedDocument(channel, entries))
        times.append((time.perf_counter() - started) / len(group.specs))
    return statistics.median(times)


def run(size: int, page_size: int, ticks: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="feeder-bench-archives-"))
    try:
        end = START + timedelta(minutes=size)
        clock = Clock(end)
        site = Site.init(
            directory,
            title="Bench",
            base_url="https://bench.invalid/",
            id_authority="bench.invalid",
            clock=clock,
        )
        feeds = dataclasses.replace(site.config.feeds, archive_page_size=page_size)
        site = Site(dataclasses.replace(site.config, feeds=feeds), site.storage, clock)
        bulk_load(site, size)
        started = time.perf_counter()
        first = site.build()
        full_seconds = time.perf_counter() - started
        pages, others = archive_pages(first.written)
        print(
            f"{size:>9,} articles, pages of {page_size}: first build {full_seconds:7.2f} s, "
            f"{pages:,} archive pages ({pages * len(site.config.feeds.formats):,} files), "
            f"{others:,} other files"
        )
        tick_times = []
        counts: Counter[tuple[int, int]] = Counter()
        for i in range(ticks):
            clock.value += timedelta(minutes=1)
            site.add_article(f"Tick {i}", tags=["tag-0"], author="Author 0")
            started = time.perf_counter()
            report = site.build()
            tick_times.append(time.perf_counter() - started)
            counts[archive_pages(report.written)] += 1
        baseline = render_baseline(site)
        tick = statistics.median(tick_times)
        shapes = ", ".join(
            f"{n}x {pages} pages + {others} files" for (pages, others), n in sorted(counts.items())
        )
        print(
            f"{'':>9}  one-article tick: {tick * 1000:7.1f} ms median of {ticks} ({shapes}); "
            f"baseline: one 50-entry feed renders in {baseline * 1000:.1f} ms "
            f"(tick = {tick / baseline:.1f} feeds)"
        )
        site.close()
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="2000,100000")
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--ticks", type=int, default=10)
    args = parser.parse_args(argv)
    for size in (int(s) for s in args.sizes.split(",")):
        run(size, args.page_size, args.ticks)


if __name__ == "__main__":
    sys.exit(main())
