"""The queries the publisher needs, each written to use an index."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Select, String, and_, func, literal, or_, select, tuple_, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from db.models import Article, Removal, State
from db.records import (
    StoredArticle,
    StoredRemoval,
    article_columns,
    raw,
    read_articles,
    read_instant,
    read_removals,
    removal_columns,
)

__all__ = [
    "UNREADABLE",
    "article_by_slug",
    "bump_revision",
    "changed_since",
    "count_articles",
    "due_between",
    "get_state",
    "iter_published",
    "load_readable",
    "newest_published",
    "next_due",
    "removed_since",
    "revision",
    "undated",
]

STATE_PK = 1
_A = Article.__table__.c

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


def _published(now: datetime) -> Select[Any]:
    return article_columns().where(_A.published_at <= now)


_NEWEST_FIRST = (_A.published_at.desc(), _A.pk.desc())


def newest_published(
    session: Session, now: datetime, limit: int, *, after: StoredArticle | None = None
) -> list[StoredArticle]:
    """The newest ``limit`` articles published at or before ``now``; ties by pk, newest first.

    ``after``: continue below that record (a keyset page, an index range scan).
    """
    query = _published(now)
    if after is not None:
        # A row-value comparison on the stored values is an index range condition on
        # (published_at, pk): each page starts where the last one ended.
        query = query.where(
            tuple_(_A.published_at, _A.pk)
            < tuple_(literal(after.published_key, NullType()), literal(after.pk))
        )
    return read_articles(session.connection(), query.order_by(*_NEWEST_FIRST).limit(limit))


def iter_published(session: Session, now: datetime, batch: int = 500) -> Iterator[StoredArticle]:
    """Every article published at or before ``now``, newest first, read in batches."""
    last: StoredArticle | None = None
    while rows := newest_published(session, now, batch, after=last):
        yield from rows
        last = rows[-1]


def changed_since(session: Session, revision: int) -> list[StoredArticle]:
    """Articles written after ``revision`` (indexed on the revision column)."""
    return read_articles(session.connection(), article_columns().where(_A.revision > revision))


def due_between(session: Session, after: datetime, until: datetime) -> list[StoredArticle]:
    """Articles whose publication instant falls in ``(after, until]``."""
    query = article_columns().where(_A.published_at > after, _A.published_at <= until)
    return read_articles(session.connection(), query)


def article_by_slug(session: Session, slug: str) -> StoredArticle | None:
    found = read_articles(session.connection(), article_columns().where(_A.slug == slug))
    return found[0] if found else None


def removed_since(session: Session, revision: int) -> list[StoredRemoval]:
    query = removal_columns().where(Removal.revision > revision).order_by(Removal.pk)
    return read_removals(session.connection(), query)


def undated(session: Session) -> list[tuple[int, object, str]]:
    """``(pk, slug, problem)`` for each article whose publication date cannot be read.

    SQLite orders text that is no date after every real date, so such a row is
    in no range of dates: a full build asks for them here to report them.
    PostgreSQL only stores real dates.
    """
    if session.get_bind().dialect.name != "sqlite":
        return []
    stored = raw(_A.published_at)
    query = select(_A.pk, _A.slug, stored).where(
        or_(
            func.typeof(_A.published_at).not_in(["text", "integer", "real"]),
            and_(
                func.typeof(_A.published_at) == "text",
                type_coerce(_A.published_at, String()).op("NOT GLOB")(
                    "[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*"
                ),
            ),
        )
    )
    found = []
    for pk, slug, value in session.execute(query):
        try:
            read_instant(value)
        except ValueError as exc:
            found.append((pk, slug, f"published_at: {exc}"))
    return found


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
