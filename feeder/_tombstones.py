"""Deletions as tombstones (RFC 6721): which feeds announce them, and until when.

A deleted article leaves a tombstone in the Atom feeds it was in when it was
deleted (the site's, its tags', its author's) for ``feeds.tombstone_days``,
so that a reader holding the entry learns it is gone. RSS and JSON Feed have
no such notice: the entry just leaves them. The rules live here once:

- tombstones are on when ``tombstone_days`` is above 0 and the site
  publishes Atom;
- a tombstone is in a feed from its deletion until ``tombstone_days`` later,
  and leaves it then without any other change (a build rewrites the feeds
  whose tombstones expired since the last one, and the daemon wakes for it);
- a tag or author whose last article was deleted keeps its feeds while a
  tombstone is in them: subscribers learn of the deletion rather than finding
  the feed gone; the index and feeds.opml no longer offer it;
- a stored tombstone is input like any row: one whose id or date cannot be
  published is left out and reported once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from db import Reader, Selection, StoredTombstone
from feeder._records import RowProblem, checked_slug, text
from feeder.articles import Tombstone
from feeder.config import Config
from feeder.entries import DeletedEntry, Person

__all__ = [
    "COMMENT_MAX",
    "deleted_entries",
    "enabled",
    "expired_selections",
    "held",
    "next_expiry",
    "tombstone_of",
    "window",
]

#: Characters of a deletion's comment (readers show it beside the notice).
COMMENT_MAX = 1000

Report = Callable[[object, str], None]


def enabled(config: Config) -> bool:
    """Whether feeds carry tombstones: some days of them, and a feed in Atom."""
    return config.feeds.tombstone_days > 0 and "atom" in config.feeds.formats


def window(config: Config) -> timedelta:
    """How long a tombstone stays in the feeds."""
    return timedelta(days=config.feeds.tombstone_days)


def _since(config: Config, now: datetime) -> datetime:
    """Tombstones of deletions after this instant are in the feeds at ``now``."""
    return now - window(config)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:79] + "…"


def _id(value: object) -> str:
    uid = text("id", value, required=True).strip()
    if any(ch.isspace() for ch in uid):
        raise RowProblem(f"id: {uid[:60]!r} has spaces in it")
    return uid


def _deleted_at(stored: StoredTombstone) -> datetime:
    if stored.removed_at is None:
        raise RowProblem("removed_at: is not a date and time")
    return stored.removed_at


def _comment(value: object) -> str | None:
    return text("comment", value).strip()[:COMMENT_MAX] or None


def deleted_entry(stored: StoredTombstone, by: Person | None) -> DeletedEntry:
    """The notice renderers get; RowProblem if the stored row cannot be published."""
    return DeletedEntry(
        ref=_id(stored.uid), when=_deleted_at(stored), by=by, comment=_comment(stored.comment)
    )


def deleted_entries(
    reader: Reader, selection: Selection, config: Config, now: datetime, report: Report
) -> tuple[DeletedEntry, ...]:
    """The tombstones ``selection``'s feeds carry at ``now``, newest first.

    At most ``max_items``: a reader holds no more entries of a feed than it was
    shown, and a feed stays a feed, not a list of deletions.
    """
    if not enabled(config):
        return ()
    by = Person(config.feeds.deleted_by.strip()) if config.feeds.deleted_by.strip() else None
    found = []
    for stored in reader.tombstones(selection, _since(config, now), config.max_items):
        try:
            found.append(deleted_entry(stored, by))
        except RowProblem as problem:
            report(
                ("tombstone", stored.pk),
                f"the tombstone of {_shown(stored.uid)} (removal #{stored.pk}) was left out: "
                f"{problem}",
            )
    return tuple(found)


def held(
    reader: Reader,
    config: Config,
    now: datetime,
    tags: Iterable[tuple[str, str]],
    authors: Iterable[str],
    report: Report,
) -> tuple[list[tuple[str, str]], list[str]]:
    """The tags ``(slug, name)`` and authors that only tombstones keep: none of their
    articles is published, but a deletion from their feeds is still announced."""
    if not enabled(config):
        return [], []
    held_tags, held_authors = reader.held_by_tombstones(_since(config, now))
    have_tags = {slug for slug, _name in tags}
    have_authors = set(authors)
    kept_tags = []
    for slug, name in held_tags:
        try:
            checked = checked_slug(text("tag slug", slug))
            shown = text("tag", name).strip() or checked
        except RowProblem as problem:
            report(("tag", repr(slug)), f"tag {slug!r} has no feed: {problem}")
            continue
        if checked not in have_tags:
            kept_tags.append((checked, shown))
    kept_authors = []
    for pk, name in held_authors:
        try:
            person = text("author", name).strip()
        except RowProblem as problem:
            report(("author", pk), f"author #{pk} has no feed: {problem}")
            continue
        if person and person not in have_authors:
            kept_authors.append(person)
    return kept_tags, kept_authors


def expired_selections(
    reader: Reader, config: Config, after: datetime, now: datetime
) -> set[tuple[str, str]]:
    """``("tag", slug)`` and ``("author", name)`` whose feeds lost a tombstone to time
    in ``(after, now]``: an incremental build rewrites them (the site's it always does)."""
    if not enabled(config) or now <= after:
        return set()
    days = window(config)
    return {
        (kind, key)
        for kind, key in reader.tombstone_selections(after - days, now - days)
        if kind in ("tag", "author")
    }


def next_expiry(reader: Reader, config: Config, after: datetime) -> datetime | None:
    """The first instant after ``after`` at which a tombstone leaves the feeds."""
    if not enabled(config):
        return None
    deleted = reader.next_deletion(after - window(config))
    return None if deleted is None else deleted + window(config)


def _feed_name(kind: object, key: object) -> str:
    return "site" if kind == "site" else f"{kind}:{key}"


def tombstone_of(stored: StoredTombstone, config: Config) -> Tombstone:
    """What the Python API shows of a deletion; RowProblem if it cannot be read."""
    deleted_at = _deleted_at(stored)
    order = {"site": 0, "tag": 1, "author": 2}
    feeds = tuple(
        _feed_name(kind, text("feed", key))
        for kind, key in sorted(stored.selections, key=lambda pair: order.get(str(pair[0]), 3))
    )
    expires = deleted_at + window(config) if enabled(config) and feeds else None
    return Tombstone(
        id=_id(stored.uid),
        slug=text("slug", stored.slug),
        deleted_at=deleted_at,
        comment=_comment(stored.comment),
        feeds=feeds,
        expires_at=expires,
    )
