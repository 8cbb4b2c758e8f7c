"""A full build's rendering: in worker processes when that pays, written by this process.

A full build renders a page for every published article and every feed of
every group (the site, each tag, each author). Turning stored rows into
entries (checking them, sanitising content that has no seal) and entries into
HTML, XML and JSON is pure CPU work, so on a machine with more than one CPU,
for a site big enough to pay for starting them, it runs in worker processes
(feeder._processes) while this process reads the database and writes the
files. Work goes out and comes back in order, so the files and the report are
the same whichever process rendered them, and a worker that dies leaves its
work to this process.

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
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from db import StoredArticle
from feeder._derived import Sealer
from feeder._processes import WorkerGone, Workers
from feeder._records import ARTICLES_DIR, RowProblem, article_path, checked_slug, entry_of, has_page
from feeder.config import Config
from feeder.entries import Enclosure, Entry, Link, SiteInfo
from feeder.publishing.media import local_files
from feeder.publishing.render.page import render_article

if TYPE_CHECKING:
    from db import Reader
    from feeder.publishing.build import GroupExtras, GroupFiles
    from feeder.publishing.feeds import FeedGroup

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
#: Pages (and feed entries) below which a full build renders in this process only:
#: starting a worker costs about as much as rendering a few hundred pages.
WORKERS_FROM = 2000
#: How many stale-page candidates are checked against the database at once.
_NAMES_PER_QUERY = 1000


class Output(Protocol):
    """What a build writes through (feeder.publishing.build._Writer)."""

    def write(self, relative: str, data: bytes) -> None: ...
    def remove(self, relative: str) -> None: ...
    def flush(self) -> None: ...
    def problem(self, key: object, message: str) -> None: ...
    def note(self, message: str) -> None: ...
    def left_out(self, record: StoredArticle, reason: object) -> None: ...
    def publish_media(self, slug: str, files: Sequence[Enclosure]) -> None: ...


@dataclass(frozen=True)
class BuildContext:
    """What rendering needs besides the rows (sent once to each worker)."""

    config: Config
    site: SiteInfo
    seal_key: str | None
    created: datetime  # the site's creation: the date of a feed without entries
    stylesheets: tuple[Link, ...]


class Rendered(NamedTuple):
    """One row's page, or why it has none."""

    slug: str | None  # the checked slug (None: the row was left out)
    page: bytes | None  # None: left out, or rendering failed
    problem: str | None  # why (the row's reason, or the rendering error)
    entry_id: str | None = None  # set when rendering failed: problems are reported per entry
    media: tuple[Enclosure, ...] = ()  # its local media files, published with its page


_sealers: dict[tuple[str | None, bool], Sealer | None] = {}


def render_chunk(records: list[StoredArticle], context: BuildContext) -> list[Rendered]:
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
            failure = f"{article_path(entry.slug)}: {exc}"
            rendered.append(Rendered(entry.slug, None, failure, entry.id))
            continue
        rendered.append(Rendered(entry.slug, page, None, media=local_files(entry)))
    return rendered


def render_group(
    job: tuple[FeedGroup, list[Entry], GroupExtras], context: BuildContext
) -> GroupFiles:
    """Every file of one group (its feeds, its page) for its newest entries."""
    from feeder.publishing.build import group_files

    group, entries, extras = job
    return group_files(
        group, entries, context.config, context.site, context.created, context.stylesheets, extras
    )


def work(job: tuple[str, Any], context: BuildContext) -> Any:
    """What a worker process computes: a chunk of pages or a group's files."""
    kind, payload = job
    if kind == "pages":
        return render_chunk(payload, context)
    return render_group(payload, context)


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
    """Renders a build's pages and groups, in workers or here, and writes them in order.

    Use as a context manager (which stops the workers); :meth:`group` queues a
    group's files, :meth:`finish` writes what is still queued.
    """

    def __init__(self, context: BuildContext, output: Output, processes: int = 0) -> None:
        self.context = context
        self.output = output
        self._count = processes
        self._workers: Workers | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[Future[Any], Callable[[Any], None]]] = deque()
        if processes > 0:
            self._pool = ThreadPoolExecutor(processes, thread_name_prefix="feeder-render")
            self._workers = Workers(f"{__name__}:work", context, processes)

    def __enter__(self) -> Rendering:
        return self

    def __exit__(self, *_exc: object) -> None:
        """Stop the workers (what is still pending after an error is dropped)."""
        for future, _apply in self._pending:
            future.cancel()
        self._pending.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)
        if self._workers is not None:
            self._workers.close()

    def finish(self) -> None:
        """Write everything still pending."""
        self._drain(0)

    def later(self, write: Callable[[], None]) -> None:
        """Run ``write`` (made in this process) in order with what is queued before it."""
        if not self._pending:
            write()
            return
        done: Future[Any] = Future()
        done.set_result(None)
        self._pending.append((done, lambda _result: write()))
        self._drain(2 * self._count)  # what waits to be written stays a few jobs long

    # -- in order, in workers or here -----------------------------------------------

    def _submit(self, job: tuple[str, Any], apply: Callable[[Any], None]) -> None:
        if self._pool is None:
            apply(work(job, self.context))
            return
        self._pending.append((self._pool.submit(self._compute, job), apply))
        self._drain(2 * self._count)

    def _compute(self, job: tuple[str, Any]) -> Any:
        if self._workers is not None:
            with contextlib.suppress(WorkerGone):
                return self._workers.run(job)
        return work(job, self.context)  # no worker left: in this process

    def _drain(self, keep: int) -> None:
        while len(self._pending) > keep:
            future, apply = self._pending.popleft()
            apply(future.result())

    # -- pages ---------------------------------------------------------------------

    def pages(self, reader: Reader, now: datetime) -> set[str]:
        """Write the page of every article published by ``now``; the slugs of rows
        that were left out (their old pages must go)."""
        left_out: set[str] = set()  # grows with bad rows only

        def write(chunk: list[StoredArticle]) -> Callable[[list[Rendered]], None]:
            def apply(results: list[Rendered]) -> None:
                for record, result in zip(chunk, results, strict=True):
                    if result.page is not None and result.slug is not None:
                        self.output.publish_media(result.slug, result.media)
                        self.output.write(article_path(result.slug), result.page)
                    elif result.entry_id is not None and result.problem is not None:
                        self.output.problem(result.entry_id, result.problem)  # old page stays
                    else:
                        self.output.left_out(record, result.problem)
                        with contextlib.suppress(RowProblem):
                            left_out.add(checked_slug(record.slug))

            return apply

        records = (record for record in reader.published(now) if has_page(record))
        for chunk in _chunks(records, CHUNK):
            self._submit(("pages", chunk), write(chunk))
        self._drain(0)
        return left_out

    # -- groups --------------------------------------------------------------------

    def group(self, group: FeedGroup, entries: list[Entry], extras: GroupExtras) -> None:
        """Queue the feeds and page of ``group`` for its newest ``entries``."""
        self._submit(("group", (group, entries, extras)), lambda files: files.apply(self.output))


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
