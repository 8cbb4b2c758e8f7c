"""Importing article drafts: read, checked in worker processes, written in batches.

An import is idempotent. A draft becomes an ``upsert`` intent (feeder._write,
the one write path every writer shares): matched to a stored article by
``id``, else by ``slug`` (given, or derived from the title); a match whose
visible fields are all equal is left alone, so importing the same input twice
writes nothing and the feeds keep their bytes. A changed draft updates its
article and its ``updated_at``; the id never changes.

Checking and sanitising the drafts (the costly, pure part) runs in worker
processes while this process writes the previous batch. Without ``strict`` a
bad draft is reported and skipped and every batch is its own transaction; with
``strict`` the whole import is one transaction that the first bad draft
aborts. ``dry_run`` does everything in one transaction and rolls it back, so
the report says exactly what would happen.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path

from db import Storage
from feeder import _write
from feeder._processes import WorkerGone, Workers
from feeder._write import Change, Intent
from feeder.config import Config
from feeder.errors import FeederError, InputError
from feeder.importing.formats import Draft, Line, Pending, Source, resolve

__all__ = ["BATCH_SIZE", "Change", "ImportReport", "run"]

BATCH_SIZE = 1000
#: Articles added or updated by one import from which the database's query planner
#: statistics are refreshed afterwards (db.Storage.refresh_statistics).
ANALYZE_FROM = 1000
# What an import reads: drafts, input still to parse, and inputs already refused.
Item = Draft | FeederError | Pending
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    added: int
    updated: int
    unchanged: int
    failures: tuple[FeederError, ...]
    changes: tuple[Change, ...]
    dry_run: bool = False

    @property
    def rejected(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0, or the exit code of the first failure."""
        return self.failures[0].exit_code if self.failures else 0

    def summary(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected} rejected"
        )
        return text + " (dry run: nothing was written)" if self.dry_run else text


def check(draft: Draft, config: Config) -> Intent:
    """The upsert intent for ``draft``; InputError naming its origin and field if it is bad."""
    return _write.import_intent(
        config,
        origin=draft.origin,
        title=draft.title,
        slug=draft.slug,
        link=draft.link,
        summary=draft.summary,
        content=draft.content,
        author=draft.author,
        tags=draft.tags,
        published=draft.published,
        updated=draft.updated,
        id=draft.id,
        foreign_id=draft.foreign_id,
        media=_write.MediaFields(
            enclosures=draft.enclosures,
            transcripts=draft.transcripts,
            chapters=draft.chapters,
            duration=draft.duration,
            number=draft.episode,
            season=draft.season,
            type=draft.episode_type,
            base=Path(draft.media_base) if draft.media_base else None,
            paths=draft.media_base is not None,
        ),
    )


def check_all(items: Sequence[Item], config: Config) -> list[Intent | FeederError]:
    """Each item parsed (if it is not yet) and checked, or the error that refuses it."""
    checked: list[Intent | FeederError] = []
    for item in items:
        if isinstance(item, Source | Line):
            item = resolve(item)
        if isinstance(item, FeederError):
            checked.append(item)
            continue
        try:
            checked.append(check(item, config))
        except InputError as exc:
            checked.append(exc)
    return checked


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _checked_batches(
    items: Iterable[Item], config: Config, size: int, processes: int | None = None
) -> Generator[list[Intent | FeederError]]:
    """Checked batches, in input order, checked ahead of the writer.

    The first batch is checked in a thread; from the second on (a bulk import),
    by ``processes`` worker processes (default: one per CPU, at most four; none
    on a single CPU), so that checking does not compete with the writer for
    the interpreter.
    """
    cpus = os.cpu_count() or 1
    # On one CPU a worker process would only take turns with the writer.
    count = (min(4, cpus) if cpus > 1 else 0) if processes is None else processes
    workers: Workers | None = None

    def check(batch: list[Item]) -> list[Intent | FeederError]:
        if workers is not None:
            try:
                result: list[Intent | FeederError] = workers.run(batch)
                return result
            except WorkerGone:
                pass
        return check_all(batch, config)

    with ThreadPoolExecutor(max(1, count), thread_name_prefix="feeder-import") as pool:
        pending: deque[Future[list[Intent | FeederError]]] = deque()
        try:
            for n, batch in enumerate(_batches(items, size)):
                if n == 1 and count > 0:
                    workers = Workers(f"{__name__}:check_all", config, count)
                pending.append(pool.submit(check, batch))
                if len(pending) > max(1, count):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)
            if workers is not None:
                workers.close()


def run(
    storage: Storage,
    config: Config,
    drafts: Iterable[Item],
    *,
    now: datetime,
    strict: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    processes: int | None = None,
) -> ImportReport:
    """Import ``drafts`` (errors in the stream count as rejected inputs).

    ``processes`` worker processes check drafts beyond the first batch (default:
    one per CPU, at most four, none on a single CPU; 0: check in a thread here).
    """
    with closing(_checked_batches(drafts, config, batch_size, processes)) as batches:
        counts = _write.write(
            storage.write_or_roll_back,
            config,
            batches,
            now=now,
            strict=strict,
            dry_run=dry_run,
            progress=progress,
            clash_hint="; run the import again",
        )
    if not dry_run and counts.added + counts.updated >= ANALYZE_FROM:
        storage.refresh_statistics()  # the next build's reads are planned from them
    return ImportReport(
        added=counts.added,
        updated=counts.updated,
        unchanged=counts.unchanged,
        failures=tuple(counts.failures),
        changes=tuple(counts.changes),
        dry_run=dry_run,
    )
