"""A full build's rendering: in worker processes when that pays, written by this process.

A full build renders a page for every published article and, for every
format its feeds use, the article's item (feeder.publishing.items), which the
feeds and archive pages of the site, of each tag and of each author splice in.
Turning stored rows into entries (checking them, sanitising content that has
no seal) and entries into HTML, XML and JSON is pure CPU work, so on a machine
with more than one CPU, for a site big enough to pay for starting them, it
runs in worker processes (feeder._processes) while this process reads the
database, assembles the feeds and writes the files. Work goes out and comes
back in order, oldest article first, so the files and the report are the same
whichever process rendered them, and a worker that dies leaves its work to
this process.

Memory stays flat however big the site is: rows are read in keyset batches,
a few chunks at most are in flight, and stale pages are found by asking the
database about the files in ``articles/`` a thousand names at a time instead
of keeping a set of every slug.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from typing import TYPE_CHECKING, NamedTuple, Protocol

from db import Selection, StoredArticle
from feeder._derived import Sealer
from feeder._processes import WorkerGone, Workers
from feeder._records import ARTICLES_DIR, RowProblem, article_path, checked_slug, entry_of, has_page
from feeder.config import Config
from feeder.entries import Enclosure, Entry, Person, SiteInfo
from feeder.publishing.items import Variant, render_items
from feeder.publishing.media import local_files
from feeder.publishing.render.page import render_article

if TYPE_CHECKING:
    from db import Reader

__all__ = [
    "CHUNK",
    "WORKERS_FROM",
    "BuildContext",
    "Rendered",
    "Rendering",
    "remove_stale_pages",
    "render_chunk",
    "worker_count",
]

#: Pages per message to a worker: big enough that a round trip costs little beside it.
CHUNK = 100
#: Pages and items below which a full build renders in this process only (about 2,500
#: articles in three formats): below it, starting workers (each imports what rendering
#: needs) and shipping their work costs more than they save on two CPUs.
WORKERS_FROM = 10_000
#: How many stale-page candidates are checked against the database at once.
_NAMES_PER_QUERY = 1000


class Output(Protocol):
    """What a build writes through (feeder.publishing.build._Writer)."""

    def write(self, relative: str, data: bytes) -> None: ...
    def remove(self, relative: str) -> None: ...
    def flush(self) -> None: ...
    def problem(self, key: object, message: str) -> None: ...
    def left_out(self, record: StoredArticle, reason: object) -> None: ...
    def publish_media(self, slug: str, files: Sequence[Enclosure]) -> None: ...


@dataclass(frozen=True)
class BuildContext:
    """What rendering needs besides the rows (sent once to each worker)."""

    config: Config
    site: SiteInfo
    seal_key: str | None
    variants: tuple[Variant, ...]  # the items every article gets
    author: Person  # the channels' author (an RSS item without one names it)


class Rendered(NamedTuple):
    """One row's entry, page and items, or why it has none."""

    slug: str | None  # the checked slug (None: the row was left out)
    page: bytes | None  # None: left out, no page of its own, or rendering failed
    problem: str | None  # why (the row's reason, or the rendering error)
    entry: Entry | None = None  # None: the row was left out
    items: dict[Variant, bytes] | None = None  # its items (feeder.publishing.items)
    media: tuple[Enclosure, ...] = ()  # its local media files, published with it


_sealers: dict[tuple[str | None, bool], Sealer | None] = {}


def render_chunk(records: list[StoredArticle], context: BuildContext) -> list[Rendered]:
    """The entry, page and items of each record, in order (in a worker process, or in
    this one)."""
    allow_iframes = context.config.content.allow_iframes
    key = (context.seal_key, allow_iframes)
    if key not in _sealers:
        _sealers[key] = Sealer.of(context.seal_key, allow_iframes=allow_iframes)
    sealer = _sealers[key]
    rendered: list[Rendered] = []
    entries: list[Entry] = []
    for record in records:
        try:
            entry = entry_of(record, context.config, sealer)
        except RowProblem as problem:
            rendered.append(Rendered(None, None, str(problem)))
            continue
        entries.append(entry)
        page: bytes | None = None
        failure: str | None = None
        if has_page(record):
            try:
                page = render_article(context.site, entry)
            except Exception as exc:  # one bad row must not stop the others
                failure = f"{article_path(entry.slug)}: {exc}"
        rendered.append(Rendered(entry.slug, page, failure, entry, media=local_files(entry)))
    items = iter(render_items(entries, context.variants, context.author))
    return [
        result if result.entry is None else result._replace(items=next(items))
        for result in rendered
    ]


def _chunks(records: Iterator[StoredArticle], size: int) -> Iterator[list[StoredArticle]]:
    while chunk := list(islice(records, size)):
        yield chunk


def worker_count(processes: int | None, amount: int, most: int) -> int:
    """How many worker processes a full build of about ``amount`` pages and feed entries
    gets: ``processes`` if given, else one per CPU (at most ``most``, the setting
    build.processes) for a build big enough to pay for starting them, none on one CPU."""
    if processes is not None:
        return processes
    cpus = os.cpu_count() or 1
    # On one CPU a worker would only take turns with this process.
    return min(most, cpus) if cpus > 1 and amount >= WORKERS_FROM else 0


class Rendering:
    """Renders a full build's pages and items, in workers or here, and hands them over in
    order. Use as a context manager (which stops the workers)."""

    def __init__(self, context: BuildContext, output: Output, processes: int = 0) -> None:
        self.context = context
        self.output = output
        self._count = processes
        self._workers: Workers | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Future[list[Rendered]], Callable[[list[Rendered]], None]]]
        self._pending = deque()
        if processes > 0:
            self._pool = ThreadPoolExecutor(processes, thread_name_prefix="feeder-render")
            self._workers = Workers(f"{__name__}:render_chunk", context, processes)

    def __enter__(self) -> Rendering:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the workers (what is still pending after an error is dropped)."""
        for future, _apply in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._workers is not None:
            self._workers.close()
            self._workers = None

    def _submit(self, chunk: list[StoredArticle], apply: Callable[[list[Rendered]], None]) -> None:
        if self._pool is None:
            apply(render_chunk(chunk, self.context))
            return
        self._pending.append((self._pool.submit(self._compute, chunk), apply))
        self._drain(2 * self._count)  # what waits to be written stays a few chunks long

    def _compute(self, chunk: list[StoredArticle]) -> list[Rendered]:
        if self._workers is not None:
            with contextlib.suppress(WorkerGone):
                result: list[Rendered] = self._workers.run(chunk)
                return result
        return render_chunk(chunk, self.context)  # no worker left: in this process

    def _drain(self, keep: int) -> None:
        while len(self._pending) > keep:
            future, apply = self._pending.popleft()
            apply(future.result())

    def pages(
        self,
        reader: Reader,
        now: datetime,
        then: Callable[[StoredArticle, Rendered], None],
    ) -> set[str]:
        """Write the page of every article published by ``now``, oldest first, and hand
        each row with what it rendered to ``then``; the slugs of rows that were left out
        (their old pages must go)."""
        left_out: set[str] = set()  # grows with bad rows only

        def write(chunk: list[StoredArticle]) -> Callable[[list[Rendered]], None]:
            def apply(results: list[Rendered]) -> None:
                for record, result in zip(chunk, results, strict=True):
                    if result.entry is None:
                        self.output.left_out(record, result.problem)
                        with contextlib.suppress(RowProblem):
                            left_out.add(checked_slug(record.slug))
                    else:
                        # What is published somewhere has its files published.
                        self.output.publish_media(result.entry.slug, result.media)
                        if result.page is not None:
                            self.output.write(article_path(result.entry.slug), result.page)
                        elif result.problem is not None:  # its old page stays
                            self.output.problem(result.entry.id, result.problem)
                    then(record, result)

            return apply

        for chunk in _chunks(reader.range_rows(Selection(), now), CHUNK):
            self._submit(chunk, write(chunk))
        self._drain(0)
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
