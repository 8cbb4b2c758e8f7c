"""Publishing a site: read one snapshot, render, write what changed.

A full build renders every feed and every article page and removes pages
that no longer belong. An incremental build renders every feed and the index
(cheap: at most ``max_items`` entries each) and only the pages of articles
that changed, came due or left since the last build, so its cost follows the
size of the change, not the size of the site.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from urllib.parse import urljoin

from sqlalchemy import Engine, Select, select
from sqlalchemy.orm import Session

from db import queries
from db.engine import read_session, write_session
from db.models import Article as ArticleRow
from feeder.config import Config
from feeder.entries import Entry, Person, SiteInfo, TagRef
from feeder.errors import PublishError
from feeder.feeds import FeedSpec, channel_for, site_feeds, site_info
from feeder.publish import remove, sweep_temp, write_if_changed
from feeder.render import render_article, render_index

__all__ = ["ARTICLES_DIR", "BuildReport", "article_path", "entry_from_row", "run_build"]

log = logging.getLogger("feeder.build")

ARTICLES_DIR = "articles"
INDEX = "index.html"


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


def article_path(slug: str) -> str:
    return f"{ARTICLES_DIR}/{slug}.html"


def entry_from_row(row: ArticleRow, config: Config) -> Entry:
    author = row.author
    return Entry(
        id=row.uid,
        slug=row.slug,
        title=row.title,
        # urljoin keeps absolute links and anchors a relative one another tool stored.
        url=urljoin(config.base_url, row.link) if row.link else config.url(article_path(row.slug)),
        summary=row.summary,
        content=row.content,
        author=Person(author.name, author.email, author.uri) if author is not None else None,
        tags=tuple(TagRef(tag.slug, tag.name) for tag in row.tags),
        published=row.published_at,
        updated=row.updated_at,
    )


def _has_page(row: ArticleRow, now: datetime) -> bool:
    return row.link is None and row.published_at <= now


class _Writer:
    """Collects what a build writes, so the report can say it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.written: list[str] = []
        self.removed: list[str] = []
        self.unchanged = 0
        self.errors: list[str] = []

    def write(self, relative: str, data: bytes) -> None:
        if write_if_changed(self.root / relative, data):
            self.written.append(relative)
        else:
            self.unchanged += 1

    def remove(self, relative: str) -> None:
        if remove(self.root / relative):
            self.removed.append(relative)


def _load(session: Session, query: Select[ArticleRow], writer: _Writer) -> list[ArticleRow]:
    """The rows ``query`` selects; a row another tool left unreadable is reported and skipped."""
    rows, skipped = queries.load_readable(session, query)
    for pk, slug, reason in skipped:
        writer.errors.append(f"article #{pk} ({slug}) cannot be read and was left out: {reason}")
        log.error("article #%s (%s) cannot be read: %s", pk, slug, reason)
    return rows


def _render_feed(
    spec: FeedSpec,
    config: Config,
    entries: Sequence[Entry],
    site_created: datetime,
    writer: _Writer,
) -> None:
    """Render one feed; an entry that makes rendering fail is left out and reported."""
    channel = channel_for(config, spec, entries, site_created=site_created)
    try:
        data = spec.format.render(channel, entries)
    except Exception:  # one bad row must not stop the feed; find it and drop it
        good: list[Entry] = []
        for entry in entries:
            try:
                spec.format.render(channel, [entry])
            except Exception as exc:
                writer.errors.append(f"{spec.path}: article {entry.slug!r} left out: {exc}")
                log.error("%s: article %r cannot be rendered: %s", spec.path, entry.slug, exc)
            else:
                good.append(entry)
        channel = channel_for(config, spec, good, site_created=site_created)
        data = spec.format.render(channel, good)
    writer.write(spec.path, data)


def _write_page(site: SiteInfo, entry: Entry, writer: _Writer) -> None:
    try:
        data = render_article(site, entry)
    except Exception as exc:  # one bad row must not stop the others
        writer.errors.append(f"{article_path(entry.slug)}: {exc}")
        log.error("page for %r cannot be rendered: %s", entry.slug, exc)
        return
    writer.write(article_path(entry.slug), data)


def _full_pages(
    rows: Iterable[ArticleRow], config: Config, site: SiteInfo, now: datetime, writer: _Writer
) -> None:
    keep: set[str] = set()
    for row in rows:
        if _has_page(row, now):
            keep.add(f"{row.slug}.html")
            _write_page(site, entry_from_row(row, config), writer)
    directory = writer.root / ARTICLES_DIR
    if directory.is_dir():
        for name in sorted(os.listdir(directory)):
            if name.endswith(".html") and name not in keep:
                writer.remove(f"{ARTICLES_DIR}/{name}")


def run_build(engine: Engine, config: Config, *, now: datetime, full: bool = False) -> BuildReport:
    """Build the site as of ``now`` and record the result in the database."""
    started = time.perf_counter()
    writer = _Writer(config.output_dir)
    site = site_info(config)
    try:
        config.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"{config.output_dir}: cannot be created: {exc.strerror}") from exc
    with read_session(engine) as session:
        state = queries.get_state(session)
        revision = state.revision
        full = full or state.built_revision < 0 or state.built_until is None
        newest = [
            entry_from_row(row, config)
            for row in _load(session, queries.newest_published_query(now, config.max_items), writer)
        ]
        for spec in site_feeds(config):
            _render_feed(spec, config, newest, state.created_at, writer)
        writer.write(INDEX, render_index(site, newest))
        if full:
            try:
                _full_pages(queries.iter_published(session, now), config, site, now, writer)
            except queries.UNREADABLE:
                # Start over row by row; pages already written are not written twice.
                session.expunge_all()
                rows = _load(session, queries.published_query(now), writer)
                _full_pages(rows, config, site, now, writer)
        else:
            assert state.built_until is not None
            touched: dict[int, ArticleRow] = {}
            for row in _load(session, queries.changed_since_query(state.built_revision), writer):
                touched[row.pk] = row
            since = min(state.built_until, now)
            for row in _load(session, queries.due_between_query(since, now), writer):
                touched[row.pk] = row
            live = {row.slug for row in touched.values() if _has_page(row, now)}
            for row in touched.values():
                if _has_page(row, now):
                    _write_page(site, entry_from_row(row, config), writer)
                elif row.slug not in live:
                    writer.remove(article_path(row.slug))
            for gone in queries.removed_since(session, state.built_revision):
                if gone.slug in live:
                    continue
                holder = (
                    session.execute(select(ArticleRow).where(ArticleRow.slug == gone.slug))
                    .unique()
                    .scalar_one_or_none()
                )
                if holder is None or not _has_page(holder, now):
                    writer.remove(article_path(gone.slug))
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
    _record(engine, report, now)
    return report


def _record(engine: Engine, report: BuildReport, now: datetime) -> None:
    with write_session(engine) as session:
        state = queries.get_state(session)
        state.built_revision = report.revision
        state.built_until = now
        state.built_at = now
        state.build_seconds = report.seconds
        state.build_result = report.summary()
        if report.errors:
            state.last_error = report.errors[0]
            state.last_error_at = now
