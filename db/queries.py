"""The queries the publisher needs, each written to use an index."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

from sqlalchemy import Select, func, literal, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from db.models import Article, Removal, State
from db.types import UTCDateTime

__all__ = [
    "UNREADABLE",
    "bump_revision",
    "changed_since",
    "changed_since_query",
    "count_articles",
    "due_between",
    "due_between_query",
    "get_state",
    "iter_published",
    "load_readable",
    "newest_published",
    "newest_published_query",
    "next_due",
    "published_query",
    "removed_since",
    "revision",
]

STATE_PK = 1

# What reading a row that another tool filled with nonsense raises (see db.types).
UNREADABLE = (ValueError, TypeError, OverflowError)


def load_readable(
    session: Session, query: Select[Article]
) -> tuple[list[Article], list[tuple[int, str, str]]]:
    """The articles ``query`` selects, and ``(pk, slug, reason)`` for each one left out.

    Another tool may have written a value its column type cannot hold (a date
    that is no date, in SQLite); such a row must not hide the others. The fast
    path loads everything at once; only when that fails is it row by row.
    """
    try:
        return list(session.execute(query).unique().scalars()), []
    except UNREADABLE:
        session.expunge_all()
    rows: list[Article] = []
    skipped: list[tuple[int, str, str]] = []
    keys = query.with_only_columns(Article.pk, Article.slug)
    for pk, slug in session.execute(keys).all():
        try:
            one = select(Article).where(Article.pk == pk)
            rows.append(session.execute(one).unique().scalar_one())
        except UNREADABLE as exc:
            skipped.append((pk, slug, str(exc)))
    return rows, skipped


def get_state(session: Session, *, created_at: datetime | None = None) -> State:
    """The site's state row; created on first use when ``created_at`` is given."""
    state = session.get(State, STATE_PK)
    if state is None:
        if created_at is None:
            raise LookupError("the database has no state row")
        # Two processes may open a new database at once: the second one's insert
        # waits for the first one's, then does nothing, and both read the same row.
        insert = (
            postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
        )
        session.execute(
            insert(State)
            .values(pk=STATE_PK, revision=0, built_revision=-1, created_at=created_at)
            .on_conflict_do_nothing(index_elements=[State.pk])
        )
        state = session.get(State, STATE_PK, populate_existing=True)
        assert state is not None
    return state


def revision(session: Session) -> int:
    """The revision counter: one primary-key read, whatever the number of articles."""
    value = session.execute(select(State.revision).where(State.pk == STATE_PK)).scalar()
    return -1 if value is None else value


def bump_revision(session: Session) -> int:
    """Advance the counter inside the caller's transaction and return the new value."""
    new = session.execute(
        update(State)
        .where(State.pk == STATE_PK)
        .values(revision=State.revision + 1)
        .returning(State.revision)
    ).scalar_one()
    return new


def published_query(now: datetime) -> Select[Article]:
    """Articles published at or before ``now``, newest first, ties by pk (newest first)."""
    return (
        select(Article)
        .where(Article.published_at <= now)
        .order_by(Article.published_at.desc(), Article.pk.desc())
    )


def newest_published_query(now: datetime, limit: int) -> Select[Article]:
    return published_query(now).limit(limit)


def newest_published(session: Session, now: datetime, limit: int) -> Sequence[Article]:
    """The newest ``limit`` articles published at or before ``now``; ties by pk."""
    return session.execute(newest_published_query(now, limit)).unique().scalars().all()


def iter_published(session: Session, now: datetime, batch: int = 500) -> Iterator[Article]:
    """Every article published at or before ``now``, streamed in batches."""
    last: tuple[datetime, int] | None = None
    while True:
        query = select(Article).where(Article.published_at <= now)
        if last is not None:
            # A row-value comparison is an index range condition on (published_at, pk),
            # so each page starts where the last one ended instead of re-reading it.
            query = query.where(
                tuple_(Article.published_at, Article.pk)
                < tuple_(literal(last[0], UTCDateTime()), literal(last[1]))
            )
        rows = (
            session.execute(
                query.order_by(Article.published_at.desc(), Article.pk.desc()).limit(batch)
            )
            .unique()
            .scalars()
            .all()
        )
        if not rows:
            return
        key = (rows[-1].published_at, rows[-1].pk)
        if key == last:
            # No progress: a value another tool stored (e.g. a number in SQLite) sorts
            # differently from the instant it is read as. Stop rather than loop.
            return
        yield from rows
        last = key
        session.expunge_all()


def changed_since_query(revision: int) -> Select[Article]:
    return select(Article).where(Article.revision > revision)


def changed_since(session: Session, revision: int) -> Sequence[Article]:
    """Articles written after ``revision`` (indexed on the revision column)."""
    return session.execute(changed_since_query(revision)).unique().scalars().all()


def due_between_query(after: datetime, until: datetime) -> Select[Article]:
    return select(Article).where(Article.published_at > after, Article.published_at <= until)


def due_between(session: Session, after: datetime, until: datetime) -> Sequence[Article]:
    """Articles whose publication instant falls in ``(after, until]``."""
    return session.execute(due_between_query(after, until)).unique().scalars().all()


def removed_since(session: Session, revision: int) -> Sequence[Removal]:
    return session.execute(select(Removal).where(Removal.revision > revision)).scalars().all()


def next_due(session: Session, now: datetime) -> datetime | None:
    """The earliest publication instant after ``now``: one index seek."""
    query = (
        select(Article.published_at)
        .where(Article.published_at > now)
        .order_by(Article.published_at)
    )
    try:
        return session.execute(query.limit(1)).scalar()
    except UNREADABLE:
        pass
    # SQLite sorts text that is no date after every real one: skip such values.
    for pk in session.execute(query.with_only_columns(Article.pk)).scalars().all():
        try:
            return session.execute(select(Article.published_at).where(Article.pk == pk)).scalar()
        except UNREADABLE:
            continue
    return None


def count_articles(session: Session) -> int:
    return session.execute(select(func.count()).select_from(Article)).scalar_one()
