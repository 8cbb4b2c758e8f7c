"""Bulk import throughput: ``feeder import`` of JSON Lines next to a raw Core insert.

    .venv/bin/python bench/bench_import.py [--count 100000] [--db URL]

Writes ``--count`` articles of about 3 KB of HTML each to a JSON Lines file,
imports it into an empty site (reading, checking, sanitising, deriving
summaries, matching, writing; checking runs in worker processes), then
inserts exactly the rows the import stored into a second empty database with
plain SQLAlchemy Core ``insert()`` executemany, in the same run on the same
machine. Prints both rates and their ratio; the target is at least 20,000
articles/s and a ratio of at most 2.5. A second import of the same file
(nothing to write) is timed too.

``--db`` takes a PostgreSQL URL whose database is emptied by this script
(two schemas are created and dropped); the default is SQLite in a temp dir.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, update
from sqlalchemy.engine import make_url
from throwaway import postgres_schema

from db.models import Article, Author, State, Tag, article_tags
from feeder import Site

_WORDS = [
    *("feed", "reader", "publish", "article", "archive", "update", "schedule", "content"),
    *("summary", "title", "subscriber", "network", "protocol", "syndication", "atom"),
    *("channel", "entry", "timestamp", "server", "cache", "header", "request", "response"),
    *("format", "markup", "paragraph", "sentence", "word"),
]
_TAGS = [f"topic {n}" for n in range(20)]
_AUTHORS = [f"Author {n}" for n in range(10)]
_TABLES = [Author, Tag, Article]


def _paragraph(rng: random.Random) -> str:
    words = [rng.choice(_WORDS) for _ in range(40)]
    link = f'<a href="https://example.org/{rng.choice(_WORDS)}">{words[5]}</a>'
    return (
        f"<p>{' '.join(words[:5]).capitalize()} {link} {' '.join(words[6:20])} "
        f"<em>{words[20]}</em> {' '.join(words[21:])}.</p>\n"
    )


def write_jsonl(path: Path, count: int) -> float:
    """``count`` articles of about 3 KB of HTML; returns the mean content size in bytes."""
    rng = random.Random(4)
    start = datetime(2020, 1, 1, tzinfo=UTC)
    total = 0
    with path.open("w", encoding="utf-8") as out:
        for n in range(count):
            content = "".join(_paragraph(rng) for _ in range(8))
            content += f'<p><img src="https://example.org/img/{n}.png" alt="figure {n}"></p>\n'
            total += len(content.encode())
            record = {
                "title": f"Article {n}: {rng.choice(_WORDS)} and {rng.choice(_WORDS)}",
                "slug": f"article-{n}",
                "author": rng.choice(_AUTHORS),
                "tags": rng.sample(_TAGS, 2),
                "published": (start + timedelta(minutes=n)).isoformat(),
                "content": content,
            }
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return total / count


@contextmanager
def database(base: str | None, directory: Path, name: str) -> Iterator[str]:
    """A fresh database URL: a SQLite file, or a new PostgreSQL schema (dropped after)."""
    if base is None:
        yield f"sqlite:///{directory / (name + '.db')}"
        return
    with postgres_schema(base, f"bench_{name}") as url:
        yield url


def new_site(directory: Path, url: str) -> Site:
    return Site.init(
        directory,
        title="Bench",
        base_url="https://example.org/",
        id_authority="example.org",
        database_url=url,
    )


def raw_insert(source: Site, target: Site, batch: int) -> tuple[float, float, int]:
    """Copy the imported rows with Core executemany; returns (seconds, CPU seconds, articles)."""
    with source.storage.engine.connect() as connection:
        rows = {
            model: [dict(row._mapping) for row in connection.execute(select(model.__table__))]
            for model in _TABLES
        }
        links = [dict(row._mapping) for row in connection.execute(select(article_tags))]
    started, cpu = time.perf_counter(), time.process_time()
    with target.storage.engine.begin() as connection:
        # As feeder writes: the counter moves once and the rows carry its new value, so the
        # triggers that stamp rows another program writes (db/changes.py) leave them alone.
        revision = connection.execute(
            update(State).values(revision=State.revision + 1).returning(State.revision)
        ).scalar_one()
        for row in rows[Article]:
            row["revision"] = revision
        for model in _TABLES:
            table = model.metadata.tables[model.__tablename__]
            data = rows[model]
            for offset in range(0, len(data), batch):
                connection.execute(insert(table), data[offset : offset + batch])
        for offset in range(0, len(links), batch):
            connection.execute(insert(article_tags), links[offset : offset + batch])
    return time.perf_counter() - started, time.process_time() - cpu, len(rows[Article])


def _children_cpu() -> float:
    """CPU seconds of finished child processes (the import's workers, once it returns)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000, help="rows per executemany (raw)")
    parser.add_argument("--db", default=None, help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as temp:
        directory = Path(temp)
        source = directory / "articles.jsonl"
        size = write_jsonl(source, args.count)
        with (
            database(args.db, directory, "imported") as imported_url,
            database(args.db, directory, "raw") as raw_url,
            new_site(directory / "a", imported_url) as site,
            new_site(directory / "b", raw_url) as raw,
        ):
            started, cpu, workers_cpu = time.perf_counter(), time.process_time(), _children_cpu()
            report = site.import_paths([source])
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            workers_cpu = _children_cpu() - workers_cpu
            assert report.added == args.count and report.ok, report.summary()
            started = time.perf_counter()
            again = site.import_paths([source])
            seconds_again = time.perf_counter() - started
            assert again.unchanged == args.count, again.summary()
            raw_seconds, raw_cpu, raw_count = raw_insert(site, raw, args.batch)
    backend = make_url(imported_url).get_backend_name()
    rate, raw_rate = args.count / seconds, raw_count / raw_seconds
    print(f"{args.count} articles, {size / 1000:.1f} KB of HTML each, {backend}")
    print(f"feeder import (JSON Lines):    {rate:10,.0f} articles/s  ({seconds:.2f} s)")
    print(f"raw Core insert (executemany): {raw_rate:10,.0f} articles/s  ({raw_seconds:.2f} s)")
    print(f"ratio raw/import:              {raw_rate / rate:10.2f}x  (target: at most 2.5x)")
    print(
        f"re-import, nothing changed:    {args.count / seconds_again:10,.0f} articles/s  "
        f"({seconds_again:.2f} s)"
    )
    # CPU time (all threads) says what the work costs even on a busy machine.
    print(
        f"CPU per article: import {cpu / args.count * 1e6:.0f} us in the writing process "
        f"+ {workers_cpu / args.count * 1e6:.0f} us in worker processes, "
        f"raw insert {raw_cpu / raw_count * 1e6:.0f} us ({os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f} at the end)"
    )


if __name__ == "__main__":
    main()
