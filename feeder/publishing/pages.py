"""Article pages of a full build: rendered in worker processes when that pays, written here.

A full build renders a page for every published article. Turning a stored row
into an entry (checking it, sanitising content that has no seal) and the
entry into HTML is pure CPU work, so on a machine with more than one CPU and
a site big enough to pay for starting them, it runs in worker processes
(feeder._processes) while this process reads the database and writes the
files. Chunks go out and come back in order, so the report and the files are
the same whichever process rendered them; a worker that dies leaves its
chunks to this process.

Memory stays flat however big the site is: rows are read in keyset batches,
at most a few chunks are in flight, and stale pages are found by asking the
database about the files in ``articles/`` a thousand names at a time instead
of keeping a set of every slug.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import NamedTuple, Protocol

from db import Reader, StoredArticle
from feeder._derived import Sealer
from feeder._processes import WorkerGone, Workers
from feeder._records import ARTICLES_DIR, RowProblem, article_path, checked_slug, entry_of, has_page
from feeder.config import Config
from feeder.entries import SiteInfo
from feeder.publishing.render.page import render_article

__all__ = [
    "CHUNK",
    "WORKERS_FROM",
    "PageContext",
    "Rendered",
    "full_pages",
    "remove_stale_pages",
    "render_chunk",
]

#: Pages per message to a worker: big enough that a round trip costs little beside it.
CHUNK = 100
#: Pages rendered in this process before worker processes start: a worker costs
#: about as much to start as rendering a few hundred pages (bench/bench_build.py).
WORKERS_FROM = 2000
#: How many stale-page candidates are checked against the database at once.
_NAMES_PER_QUERY = 1000


class Output(Protocol):
    """What a build writes through (feeder.publishing.build._Writer)."""

    def write(self, relative: str, data: bytes) -> None: ...
    def remove(self, relative: str) -> None: ...
    def flush(self) -> None: ...
    def problem(self, key: object, message: str) -> None: ...
    def left_out(self, record: StoredArticle, reason: object) -> None: ...


@dataclass(frozen=True)
class PageContext:
    """What rendering a page needs besides the row (sent once to each worker)."""

    config: Config
    site: SiteInfo
    seal_key: str | None


class Rendered(NamedTuple):
    """One row's page, or why it has none."""

    slug: str | None  # the checked slug (None: the row was left out)
    page: bytes | None  # None: left out, or rendering failed
    problem: str | None  # why (the row's reason, or the rendering error)
    entry_id: str | None = None  # set when rendering failed: problems are reported per entry


_sealers: dict[tuple[str | None, bool], Sealer | None] = {}


def render_chunk(records: list[StoredArticle], context: PageContext) -> list[Rendered]:
    """The page of each record, in order (in a worker process, or in this one)."""
    allow_iframes = context.config.content.allow_iframes
    key = (context.seal_key, allow_iframes)
    if key not in _sealers:
        _sealers[key] = Sealer.of(context.seal_key, allow_iframes=allow_iframes)
    sealer = _sealers[key]
    rendered = []
    for record in records:
        try:
            entry = entry_of(record, context.config, sealer)
        except RowProblem as problem:
            rendered.append(Rendered(None, None, str(problem)))
            continue
        try:
            page = render_article(context.site, entry)
        except Exception as exc:  # one bad row must not stop the others
            rendered.append(
                Rendered(entry.slug, None, f"{article_path(entry.slug)}: {exc}", entry.id)
            )
            continue
        rendered.append(Rendered(entry.slug, page, None))
    return rendered


def _chunks(records: Iterable[StoredArticle], size: int) -> Iterator[list[StoredArticle]]:
    iterator = iter(records)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _worker_count(processes: int | None) -> int:
    if processes is not None:
        return processes
    cpus = os.cpu_count() or 1
    # On one CPU a worker would only take turns with this process.
    return min(4, cpus) if cpus > 1 else 0


def full_pages(
    reader: Reader,
    now: datetime,
    context: PageContext,
    output: Output,
    *,
    processes: int | None = None,
) -> set[str]:
    """Write the page of every article published by ``now`` and remove pages that are stale.

    ``processes``: worker processes beyond the first :data:`WORKERS_FROM` pages
    (default: one per CPU, at most four, none on one CPU; 0: render here).
    Returns the slugs of rows that were left out (their pages are removed).
    """
    left_out: set[str] = set()  # grows with bad rows only
    pages = (record for record in reader.published(now) if has_page(record))
    count = _worker_count(processes)
    workers: Workers | None = None

    def render(chunk: list[StoredArticle]) -> list[Rendered]:
        if workers is not None:
            try:
                result: list[Rendered] = workers.run(chunk)
                return result
            except WorkerGone:
                pass
        return render_chunk(chunk, context)

    def write(chunk: list[StoredArticle], results: list[Rendered]) -> None:
        for record, result in zip(chunk, results, strict=True):
            if result.page is not None and result.slug is not None:
                output.write(article_path(result.slug), result.page)
            elif result.entry_id is not None and result.problem is not None:
                output.problem(result.entry_id, result.problem)  # its old page stays
            else:
                output.left_out(record, result.problem)
                with contextlib.suppress(RowProblem):
                    left_out.add(checked_slug(record.slug))

    done = 0
    chunks = _chunks(pages, CHUNK)
    for chunk in chunks:  # the first pages, here: a small site never starts a worker
        write(chunk, render_chunk(chunk, context))
        done += len(chunk)
        if done >= WORKERS_FROM and count > 0:
            break
    else:
        return left_out
    pending: deque[tuple[list[StoredArticle], Future[list[Rendered]]]] = deque()
    with ThreadPoolExecutor(count, thread_name_prefix="feeder-pages") as pool:
        workers = Workers(f"{__name__}:render_chunk", context, count)
        try:
            for chunk in chunks:
                pending.append((chunk, pool.submit(render, chunk)))
                if len(pending) > 2 * count:
                    chunk, future = pending.popleft()
                    write(chunk, future.result())
            while pending:
                chunk, future = pending.popleft()
                write(chunk, future.result())
        finally:
            for _chunk, future in pending:
                future.cancel()
            workers.close()
    return left_out


def remove_stale_pages(
    reader: Reader, now: datetime, root: str, output: Output, left_out: set[str]
) -> None:
    """Remove every page in ``articles/`` that no published article has (any more).

    The files are read as a stream and checked against the database in groups,
    so neither a list of the files nor a set of every slug is ever held.
    """
    directory = os.path.join(root, ARTICLES_DIR)
    if not os.path.isdir(directory) or os.path.islink(directory):
        return
    output.flush()  # the new pages are served before any old one goes
    names: list[str] = []
    with os.scandir(directory) as entries:
        for entry in entries:
            name = entry.name
            if not name.endswith(".html"):
                continue
            try:
                names.append(checked_slug(name[:-5]))
            except RowProblem:
                continue  # not a page feeder writes: left alone
            if len(names) >= _NAMES_PER_QUERY:
                _remove_unless_kept(reader, now, names, output, left_out)
                names = []
    _remove_unless_kept(reader, now, names, output, left_out)


def _remove_unless_kept(
    reader: Reader, now: datetime, slugs: list[str], output: Output, left_out: set[str]
) -> None:
    if not slugs:
        return
    kept = reader.with_pages(slugs, now) - left_out
    for slug in sorted(set(slugs) - kept):
        output.remove(article_path(slug))
