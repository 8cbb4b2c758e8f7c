"""Publishing a site: read one snapshot, render, write what changed.

A full build renders every feed and every article page and removes pages
that no longer belong. An incremental build renders every feed and the index
(cheap: at most ``max_items`` entries each) and only the pages of articles
that changed, came due or left since the last build, so its cost follows the
size of the change, not the size of the site.

A build publishes whatever it can. Each stored row is checked on its way out
(feeder._records); a row that cannot be published is left out of every feed and
page and reported once in :attr:`BuildReport.errors`, and the others are
published as usual. Every path the build writes or removes is made from a
checked slug and must resolve inside the output directory.

The settings that shape the output are fingerprinted: when they differ from
those of the last complete full build (a new title, another base URL, a newer
feeder), the next build is a full one, so no page keeps the old look.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from db import Reader, Selection, Storage, StoredArticle
from feeder._records import (
    ARTICLES_DIR,
    RowProblem,
    article_path,
    checked_slug,
    entry_of,
    has_page,
    who,
)
from feeder.config import Config
from feeder.entries import Entry, SiteInfo
from feeder.errors import PublishError
from feeder.publishing.feeds import (
    LATEST,
    FeedDocument,
    FeedSpec,
    channel_for,
    site_feeds,
    site_info,
)
from feeder.publishing.files import remove, sweep_temp, write_if_changed
from feeder.publishing.render import render_article, render_index

__all__ = [
    "ARTICLES_DIR",
    "OUTPUT_VERSION",
    "BuildReport",
    "article_path",
    "output_fingerprint",
    "run_build",
]

log = logging.getLogger("feeder.publishing.build")

INDEX = "index.html"
# Bump when a change to feeder changes what the same data renders to: every
# site then gets one full build after the upgrade.
OUTPUT_VERSION = 1


@dataclass(frozen=True)
class BuildReport:
    """What one build did."""

    full: bool
    revision: int
    entries: int
    written: tuple[str, ...]
    unchanged: int
    removed: tuple[str, ...]
    seconds: float
    errors: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.errors

    def summary(self) -> str:
        kind = "full" if self.full else "incremental"
        text = (
            f"{kind} build: {len(self.written)} written, {self.unchanged} unchanged, "
            f"{len(self.removed)} removed, {self.entries} entries, {self.seconds * 1000:.0f} ms"
        )
        if self.errors:
            text += f", {len(self.errors)} errors"
        return text


def output_fingerprint(config: Config) -> str:
    """A hash of every setting that shapes the published files."""
    shaping = {
        "version": OUTPUT_VERSION,
        "title": config.title,
        "description": config.description,
        "base_url": config.base_url,
        "language": config.language,
        "authority": config.authority,
        "author": [config.feed_author, config.author.email, config.author.uri],
        "max_items": config.max_items,
        "content": [
            config.content.max_content_bytes,
            config.content.max_title_chars,
            config.content.max_feed_bytes,
            config.content.allow_iframes,
        ],
        "output_dir": str(config.output_dir),
    }
    encoded = json.dumps(shaping, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


class _Writer:
    """Writes and removes files inside the output directory, and remembers what it did."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real_root = os.path.realpath(root)
        self.written: list[str] = []
        self.removed: list[str] = []
        self.unchanged = 0
        self.errors: list[str] = []
        self._reported: set[object] = set()

    def _inside(self, relative: str) -> Path:
        """``relative`` under the root; refused if it (or a symlinked folder) leads out."""
        path = self.root / relative
        parent = os.path.realpath(path.parent)
        if os.path.commonpath([parent, self._real_root]) != self._real_root or path.name in (
            "",
            ".",
            "..",
        ):
            raise PublishError(f"{relative}: resolves outside the output directory; not written")
        return path

    def write(self, relative: str, data: bytes) -> None:
        if write_if_changed(self._inside(relative), data):
            self.written.append(relative)
        else:
            self.unchanged += 1

    def remove(self, relative: str) -> None:
        if remove(self._inside(relative)):
            self.removed.append(relative)

    def problem(self, key: object, message: str) -> None:
        """Report ``message`` once per build for ``key`` (a row is found by several queries)."""
        if key not in self._reported:
            self._reported.add(key)
            self.errors.append(message)
            log.debug("%s", message)

    def left_out(self, record: StoredArticle, reason: object) -> None:
        how = "cannot be read and was left out" if record.problems else "was left out"
        self.problem(record.pk, f"{who(record.pk, record.slug)} {how}: {reason}")


def _entry(record: StoredArticle, config: Config, writer: _Writer) -> Entry | None:
    try:
        return entry_of(record, config)
    except RowProblem as problem:
        writer.left_out(record, problem)
        return None


def _newest(
    reader: Reader, selection: Selection, config: Config, now: datetime, writer: _Writer
) -> list[Entry]:
    """The newest ``max_items`` publishable entries of ``selection``.

    A row that is left out makes room for an older one.
    """
    wanted = config.max_items
    entries: list[Entry] = []
    last: StoredArticle | None = None
    while len(entries) < wanted:
        batch = reader.newest(selection, now, wanted - len(entries), after=last)
        if not batch:
            break
        for record in batch:
            entry = _entry(record, config, writer)
            if entry is not None:
                entries.append(entry)
        last = batch[-1]
    return entries


def _render(spec: FeedSpec, config: Config, entries: Sequence[Entry], created: datetime) -> bytes:
    channel = channel_for(config, spec, entries, site_created=created)
    return spec.format.render(FeedDocument(channel, entries))


def _render_feed(
    spec: FeedSpec,
    config: Config,
    entries: Sequence[Entry],
    site_created: datetime,
    writer: _Writer,
) -> None:
    """Render one feed; an entry that makes rendering fail is left out and reported."""
    try:
        data = _render(spec, config, entries, site_created)
    except Exception:  # one bad row must not stop the feed; find it and drop it
        good: list[Entry] = []
        for entry in entries:
            try:
                _render(spec, config, [entry], site_created)
            except Exception as exc:
                writer.problem(entry.id, f"article {entry.slug!r} was left out: {exc}")
            else:
                good.append(entry)
        entries = good
        data = _render(spec, config, entries, site_created)
    limit = config.content.max_feed_bytes
    if len(data) > limit and len(entries) > 1:
        size = len(data)
        data, kept = _within(spec, config, entries, site_created, limit)
        log.warning(
            "%s: %d entries make %d bytes, over content.max_feed_bytes (%d); "
            "it carries the newest %d",
            spec.path,
            len(entries),
            size,
            limit,
            kept,
        )
    writer.write(spec.path, data)


def _within(
    spec: FeedSpec, config: Config, entries: Sequence[Entry], created: datetime, limit: int
) -> tuple[bytes, int]:
    """The feed of as many of the newest entries as fit in ``limit`` bytes (at least one).

    Whole entries only: a feed is never cut inside one.
    """
    best, kept = _render(spec, config, entries[:1], created), 1
    low, high = 2, len(entries) - 1  # all of them are known to be too many
    while low <= high:
        middle = (low + high) // 2
        data = _render(spec, config, entries[:middle], created)
        if len(data) <= limit:
            best, kept, low = data, middle, middle + 1
        else:
            high = middle - 1
    return best, kept


def _write_page(site: SiteInfo, entry: Entry, writer: _Writer) -> None:
    try:
        data = render_article(site, entry)
    except Exception as exc:  # one bad row must not stop the others
        writer.problem(entry.id, f"{article_path(entry.slug)}: {exc}")
        return
    writer.write(article_path(entry.slug), data)


def _page_of(record: StoredArticle, config: Config, site: SiteInfo, writer: _Writer) -> str | None:
    """Write ``record``'s page; its slug, or None when the row was left out."""
    entry = _entry(record, config, writer)
    if entry is None:
        return None
    _write_page(site, entry, writer)
    return entry.slug


def _safe_slug(value: object) -> str | None:
    try:
        return checked_slug(value)
    except RowProblem:
        return None


def _full_pages(
    records: Iterable[StoredArticle],
    config: Config,
    site: SiteInfo,
    writer: _Writer,
) -> None:
    keep: set[str] = set()
    for record in records:
        if has_page(record):
            slug = _page_of(record, config, site, writer)
            if slug is not None:
                keep.add(f"{slug}.html")
    directory = writer.root / ARTICLES_DIR
    if directory.is_dir() and not directory.is_symlink():
        for name in sorted(os.listdir(directory)):
            if name.endswith(".html") and name not in keep and _safe_slug(name[:-5]):
                writer.remove(f"{ARTICLES_DIR}/{name}")


def _incremental_pages(
    reader: Reader,
    state_revision: int,
    since: datetime,
    now: datetime,
    config: Config,
    site: SiteInfo,
    writer: _Writer,
) -> None:
    touched: dict[int, StoredArticle] = {}
    for record in reader.changed_since(state_revision):
        touched[record.pk] = record
    for record in reader.due_between(since, now):
        touched[record.pk] = record
    live: set[str] = set()
    stale: set[str] = set()
    for record in touched.values():
        if record.published_at is None:
            writer.left_out(record, "; ".join(record.problems))
        elif record.published_at <= now and has_page(record):
            slug = _page_of(record, config, site, writer)
            if slug is not None:
                live.add(slug)
                continue
        # Scheduled, linked elsewhere, or left out: no page under this slug.
        slug = _safe_slug(record.slug)
        if slug is not None:
            stale.add(slug)
    for gone in reader.removed_since(state_revision):
        slug = _safe_slug(gone.slug)
        if slug is None:
            writer.problem(
                ("removal", repr(gone.slug)),
                f"a removal names the slug {gone.slug!r}, which is not safe; nothing removed",
            )
        else:
            stale.add(slug)
    for slug in sorted(stale - live):
        holder = reader.article(slug)
        if holder is not None and holder.pk not in touched and has_page(holder):
            published = holder.published_at
            if published is not None and published <= now:
                continue  # another article holds the slug and keeps its page
        writer.remove(article_path(slug))


def run_build(
    storage: Storage, config: Config, *, now: datetime, full: bool = False
) -> BuildReport:
    """Build the site as of ``now`` and record the result in the database.

    The caller holds the publish lock (:meth:`feeder.Site.build` takes it).
    """
    started = time.perf_counter()
    writer = _Writer(config.output_dir)
    site = site_info(config)
    fingerprint = output_fingerprint(config)
    try:
        config.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"{config.output_dir}: cannot be created: {exc.strerror}") from exc
    with storage.read() as reader:
        state = reader.state()
        revision = state.revision
        full = (
            full
            or state.built_revision < 0
            or state.built_until is None
            or state.built_settings != fingerprint
        )
        # One query per selection, rendered in each of its formats.
        selected: dict[Selection, list[Entry]] = {}
        for spec in site_feeds(config):
            if spec.selection not in selected:
                selected[spec.selection] = _newest(reader, spec.selection, config, now, writer)
            _render_feed(spec, config, selected[spec.selection], state.created_at, writer)
        newest = selected.get(LATEST) or _newest(reader, LATEST, config, now, writer)
        writer.write(INDEX, render_index(site, newest))
        if full:
            _full_pages(reader.published(now), config, site, writer)
            for pk, slug, reason in reader.undated():
                writer.problem(pk, f"{who(pk, slug)} cannot be read and was left out: {reason}")
        else:
            assert state.built_until is not None
            since = min(state.built_until, now)
            _incremental_pages(reader, state.built_revision, since, now, config, site, writer)
    if full:
        sweep_temp(config.output_dir)
    report = BuildReport(
        full=full,
        revision=revision,
        entries=len(newest),
        written=tuple(writer.written),
        unchanged=writer.unchanged,
        removed=tuple(writer.removed),
        seconds=time.perf_counter() - started,
        errors=tuple(writer.errors),
    )
    with storage.write() as recorder:
        recorder.record_build(
            revision=report.revision,
            now=now,
            seconds=report.seconds,
            result=report.summary(),
            fingerprint=fingerprint if full else None,
            error=report.errors[0] if report.errors else None,
        )
    return report
