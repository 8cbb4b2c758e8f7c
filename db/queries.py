"""Reading: the publisher's selections, listings and the site state, each on an index.

Every function takes a Core connection inside a transaction that
:class:`db.Storage` opened, and returns plain records (db.records).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Select,
    String,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
    type_coerce,
)
from sqlalchemy.types import NullType

from db.models import (
    Article,
    Author,
    Daemon,
    Output,
    Removal,
    SelectionChange,
    State,
    Tag,
    article_tags,
)
from db.records import (
    BuildState,
    DaemonRecord,
    OutputRecord,
    StateRecord,
    StoredArticle,
    StoredRemoval,
    article_columns,
    daemon_columns,
    output_columns,
    raw,
    read_articles,
    read_daemons,
    read_instant,
    read_outputs,
    read_removals,
    read_state,
    removal_columns,
)
from db.values import Selection

__all__ = [
    "STATE_PK",
    "Selection",
    "article_by_slug",
    "author_names",
    "authors_in_use",
    "build_state",
    "changed_selections",
    "changed_since",
    "count_articles",
    "daemons",
    "due_between",
    "listing",
    "newest",
    "next_due",
    "output",
    "output_writer",
    "outputs",
    "pending",
    "published",
    "removed_since",
    "revision",
    "state",
    "tags_in_use",
    "undated",
    "with_pages",
]

STATE_PK = 1
_A = Article.__table__.c
_T = article_tags.c
Status = Literal["all", "published", "scheduled"]


ALL = Selection()


def _select(
    selection: Selection, now: datetime, after: StoredArticle | None = None
) -> tuple[Select[Any], Any, Any]:
    """The articles of ``selection`` published by ``now`` (below ``after``, newest first),
    and its ordering columns."""
    query = article_columns()
    if selection.tag is not None:
        # article_tags carries each article's published_at (kept by triggers), so a
        # tag's newest articles are a range of its index, however many articles exist.
        tag_pk = select(Tag.__table__.c.pk).where(Tag.__table__.c.slug == selection.tag)
        query = query.join(article_tags, _T.article_pk == _A.pk).where(
            _T.tag_pk == tag_pk.scalar_subquery()
        )
        when: Any = _T.published_at
        pk: Any = _T.article_pk
    else:
        if selection.author is not None:
            author = select(Author.__table__.c.pk).where(
                Author.__table__.c.name == selection.author
            )
            query = query.where(_A.author_pk == author.scalar_subquery())
        when, pk = _A.published_at, _A.pk
    if after is None:
        return query.where(when <= now), when, pk
    # Below a row published by ``now``, everything is. Only this bound, not both: given
    # two upper bounds on published_at, SQLite seeks to ``now`` and steps over every
    # newer row, and a full build reading a million rows would take quadratic time.
    start = tuple_(literal(after.published_key, NullType()), literal(after.pk))
    return query.where(tuple_(when, pk) < start), when, pk


def newest(
    connection: Connection,
    selection: Selection,
    now: datetime,
    limit: int,
    *,
    after: StoredArticle | None = None,
) -> list[StoredArticle]:
    """The newest ``limit`` articles of ``selection`` published at or before ``now``.

    Ties are broken by pk, newest first. ``after``: continue below that record
    (a keyset page: each page starts where the last one ended, inside the index).
    """
    query, when, pk = _select(selection, now, after)
    return read_articles(connection, query.order_by(when.desc(), pk.desc()).limit(limit))


def published(
    connection: Connection, now: datetime, batch: int = 500, selection: Selection = ALL
) -> Iterator[StoredArticle]:
    """Every article of ``selection`` published at or before ``now``, newest first."""
    last: StoredArticle | None = None
    while rows := newest(connection, selection, now, batch, after=last):
        yield from rows
        last = rows[-1]


def listing(
    connection: Connection, now: datetime, status: Status, limit: int | None
) -> list[StoredArticle]:
    """Articles newest first (ties by pk, newest first), published, scheduled or all."""
    query = article_columns().order_by(_A.published_at.desc(), _A.pk.desc())
    if status == "published":
        query = query.where(_A.published_at <= now)
    elif status == "scheduled":
        query = query.where(_A.published_at > now)
    if limit is not None:
        query = query.limit(limit)
    return read_articles(connection, query)


def changed_since(connection: Connection, revision: int) -> list[StoredArticle]:
    """Articles written after ``revision`` (indexed on the revision column)."""
    return read_articles(connection, article_columns().where(_A.revision > revision))


def due_between(connection: Connection, after: datetime, until: datetime) -> list[StoredArticle]:
    """Articles whose publication instant falls in ``(after, until]``."""
    query = article_columns().where(_A.published_at > after, _A.published_at <= until)
    return read_articles(connection, query)


def with_pages(connection: Connection, slugs: list[str], now: datetime) -> set[str]:
    """Which of ``slugs`` belong to an article published by ``now`` that has no link of
    its own (the articles a site shows on a page of their own): one index lookup each."""
    query = select(_A.slug).where(
        _A.slug.in_(slugs), _A.published_at <= now, or_(_A.link.is_(None), _A.link == "")
    )
    return {slug for slug in connection.execute(query).scalars() if isinstance(slug, str)}


def article_by_slug(connection: Connection, slug: str) -> StoredArticle | None:
    found = read_articles(connection, article_columns().where(_A.slug == slug))
    return found[0] if found else None


def removed_since(connection: Connection, revision: int) -> list[StoredRemoval]:
    query = removal_columns().where(Removal.revision > revision).order_by(Removal.pk)
    return read_removals(connection, query)


def undated(connection: Connection) -> list[tuple[int, object, str]]:
    """``(pk, slug, problem)`` for each article whose publication date cannot be read.

    SQLite orders text that is no date after every real date, so such a row is
    in no range of dates: a full build asks for them here to report them.
    PostgreSQL only stores real dates.
    """
    if connection.dialect.name != "sqlite":
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
    for pk, slug, value in connection.execute(query):
        try:
            read_instant(value)
        except ValueError as exc:
            found.append((pk, slug, f"published_at: {exc}"))
    return found


def next_due(connection: Connection, after: datetime) -> datetime | None:
    """The earliest publication instant after ``after``: one index seek.

    SQLite sorts text that is no date after every real one; such values are skipped.
    """
    query = (
        select(_A.pk, raw(_A.published_at))
        .where(_A.published_at > after)
        .order_by(_A.published_at, _A.pk)
        .limit(1)
    )
    while row := connection.execute(query).first():
        try:
            return read_instant(row.published_at)
        except ValueError:
            query = query.where(
                tuple_(_A.published_at, _A.pk)
                > tuple_(literal(row.published_at, NullType()), literal(row.pk))
            )
    return None


def tags_in_use(connection: Connection, now: datetime) -> list[tuple[str, str]]:
    """``(slug, name)`` of each tag with an article published by ``now``, by slug."""
    t = Tag.__table__.c
    published = select(_T.tag_pk).where(_T.tag_pk == t.pk, _T.published_at <= now).limit(1).exists()
    query = select(t.slug, t.name).where(published).order_by(t.slug)
    return [(slug, name) for slug, name in connection.execute(query)]


def authors_in_use(connection: Connection, now: datetime) -> list[tuple[int, str]]:
    """``(pk, name)`` of each author with an article published by ``now``, by pk."""
    a = Author.__table__.c
    published = select(_A.pk).where(_A.author_pk == a.pk, _A.published_at <= now).limit(1).exists()
    query = select(a.pk, a.name).where(published).order_by(a.pk)
    return [(pk, name) for pk, name in connection.execute(query)]


def author_names(connection: Connection) -> list[tuple[int, str]]:
    """``(pk, name)`` of every author, by pk (their feed paths are derived in this order)."""
    a = Author.__table__.c
    return [(pk, name) for pk, name in connection.execute(select(a.pk, a.name).order_by(a.pk))]


def changed_selections(connection: Connection, revision: int) -> set[tuple[str, str]]:
    """``(kind, key)`` of each tag or author an article left after ``revision``."""
    c = SelectionChange.__table__.c
    query = select(c.kind, c.key).where(c.revision > revision)
    return {(kind, key) for kind, key in connection.execute(query)}


def count_articles(connection: Connection) -> int:
    return connection.execute(select(func.count()).select_from(Article.__table__)).scalar_one()


def state(connection: Connection) -> StateRecord:
    """The site's state row (LookupError before the site exists)."""
    return read_state(connection, STATE_PK)


def revision(connection: Connection) -> int:
    """The revision counter: one primary-key read, whatever the number of articles."""
    value = connection.execute(
        select(State.__table__.c.revision).where(State.__table__.c.pk == STATE_PK)
    ).scalar()
    return -1 if value is None else int(value)


def pending(connection: Connection, output: str) -> bool:
    """Whether articles changed since ``output`` was last built: one statement.

    Two primary-key lookups (the state row and the output's row) in one read,
    whatever the number of articles, outputs or daemons.
    """
    s, o = State.__table__.c, Output.__table__.c
    row = connection.execute(
        select(s.revision, o.built_revision)
        .select_from(State.__table__.outerjoin(Output.__table__, o.id == output))
        .where(s.pk == STATE_PK)
    ).one_or_none()
    return row is not None and row.revision != row.built_revision


def build_state(connection: Connection, output: str) -> BuildState:
    """The site's revision and what ``output`` last got (LookupError before the site exists)."""
    site = read_state(connection, STATE_PK)
    o = Output.__table__.c
    row = connection.execute(
        select(o.built_revision, o.built_until, o.built_settings).where(o.id == output)
    ).one_or_none()
    if row is None:
        return BuildState(site.revision, site.created_at, seal_key=site.seal_key)
    return BuildState(site.revision, site.created_at, *row, seal_key=site.seal_key)


def output(connection: Connection, output_id: str) -> OutputRecord | None:
    found = read_outputs(connection, output_columns().where(Output.__table__.c.id == output_id))
    return found[0] if found else None


def output_writer(connection: Connection, output: str) -> tuple[str, datetime | None] | None:
    """Who marked ``output`` as being written, and since when; None when nobody did."""
    row = connection.execute(
        select(Output.__table__.c.writer, Output.__table__.c.writing_since).where(
            Output.__table__.c.id == output, Output.__table__.c.writer_token.is_not(None)
        )
    ).one_or_none()
    return None if row is None else (str(row.writer), row.writing_since)


def outputs(connection: Connection) -> list[OutputRecord]:
    """Every output directory the site has, the most recently seen first."""
    o = Output.__table__.c
    return read_outputs(connection, output_columns().order_by(o.seen_at.desc(), o.id))


def daemons(connection: Connection) -> list[DaemonRecord]:
    """Every daemon that reported in (stale ones too, until they are forgotten), by output."""
    d = Daemon.__table__.c
    query = daemon_columns().order_by(d.output_id, d.role, d.host, d.pid, d.id)
    return read_daemons(connection, query)
