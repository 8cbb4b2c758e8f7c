"""Archive pages of a selection: ranges of its index, oldest first, with fixed ends.

Storage knows nothing of feeds: to it a page is a range of a selection's index
(published_at, pk), given by the key of the range's last row. What a page means,
and when one closes, is the publisher's business; this module stores the ends,
reads the rows of a range, and remembers where a write moved an article from.

Keys are handled as stored (``StoredArticle.published_key``, never converted):
another program may have written a date SQLite keeps as text of another form,
and only the stored value sorts the way the index does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    and_,
    column,
    delete,
    func,
    insert,
    literal,
    select,
    table,
    tuple_,
)
from sqlalchemy.types import NullType

from db.models import ArchivePage, Article, Author, Base, SelectionChange, Tag, article_tags
from db.queries import Selection, _select
from db.records import StoredArticle, raw, read_articles

__all__ = [
    "PageBounds",
    "PagesHead",
    "Position",
    "count_up_to",
    "extend_pages",
    "forget_pages",
    "moved_since",
    "page_bounds",
    "page_end",
    "page_of",
    "paged_selections",
    "pages_head",
    "positions_after",
    "range_rows",
    "record_moves",
    "selection_key",
    "store_pages",
]

_PAGES = Base.metadata.tables[ArchivePage.__tablename__]
_CHANGES = Base.metadata.tables[SelectionChange.__tablename__]
_P = _PAGES.c
# The same table with its key column untyped: a key goes in exactly as it was read.
_RAW_PAGES = table(
    _PAGES.name,
    *(column(c.name, NullType() if c.name == "last_published_at" else c.type) for c in _PAGES.c),
)
_C = _CHANGES.c
_A = Article.__table__.c
_T = article_tags.c


@dataclass(frozen=True, slots=True, order=False)
class Position:
    """Where a row sits in a selection's index: its ``published_at`` as stored, and pk."""

    key: Any
    pk: int

    @staticmethod
    def of(record: StoredArticle) -> Position:
        return Position(record.published_key, record.pk)

    def sort_key(self) -> tuple[tuple[int, Any], int]:
        return (_order(self.key), self.pk)


def _order(value: Any) -> tuple[int, Any]:
    """``value`` as SQLite orders a column's values: NULL, numbers, text, then BLOBs.

    PostgreSQL keeps only timestamps, which compare as they are.
    """
    if value is None:
        return (0, 0)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    if isinstance(value, str):
        return (2, value)
    if isinstance(value, bytes | bytearray | memoryview):
        return (3, bytes(value))
    return (1, value)  # a datetime (PostgreSQL)


@dataclass(frozen=True, slots=True)
class PageBounds:
    """A selection's closed pages (the position of each one's last row, oldest first),
    the page size they were closed at, and whether its pages are published."""

    size: int
    ends: tuple[Position, ...] = ()
    published: bool = False


def selection_key(selection: Selection) -> tuple[str, str]:
    """How a selection is named in ``archive_pages``, ``selection_changes`` and the
    tombstones' ``removal_selections``."""
    if selection.tag is not None:
        return ("tag", selection.tag)
    if selection.author is not None:
        return ("author", selection.author)
    return ("site", "")


def _stored(value: Any) -> ColumnElement[Any]:
    """A key bound exactly as it was read: no type conversion on the way back."""
    return literal(value, NullType())


def _author_pk(selection: Selection) -> Any:
    au = Author.__table__.c
    return select(au.pk).where(au.name == selection.author).scalar_subquery()


def _bounded(
    query: Any,
    selection: Selection,
    when: Any,
    pk: Any,
    after: Position | None,
    until: Position | None,
) -> Any:
    """``query`` limited to the keys in ``(after, until]``.

    An author's bounds lead with the author (a range of the author's index alone):
    given only the instant, SQLite may prefer the site's index and read every
    article of the window, not only the author's.
    """
    lead: tuple[Any, ...] = ()
    values: tuple[Any, ...] = ()
    if selection.author is not None:
        lead, values = (_A.author_pk,), (_author_pk(selection),)
    if after is not None:
        query = query.where(
            tuple_(*lead, when, pk) > tuple_(*values, _stored(after.key), literal(after.pk))
        )
    if until is not None:
        query = query.where(
            tuple_(*lead, when, pk) <= tuple_(*values, _stored(until.key), literal(until.pk))
        )
    return query


def _ordered(query: Any, selection: Selection, when: Any, pk: Any) -> Any:
    """Oldest first, in the index's own order (an author's index leads with the author)."""
    lead = (_A.author_pk,) if selection.author is not None else ()
    return query.order_by(*lead, when, pk)


def _ranged(
    selection: Selection, now: datetime, after: Position | None, until: Position | None
) -> tuple[Any, Any, Any]:
    query, when, pk = _select(selection, now)
    return _bounded(query, selection, when, pk, after, until), when, pk


def range_rows(
    connection: Connection,
    selection: Selection,
    now: datetime,
    *,
    after: Position | None = None,
    until: Position | None = None,
    batch: int = 500,
) -> Iterator[StoredArticle]:
    """The rows of ``selection`` published by ``now`` in ``(after, until]``, oldest first.

    Read in keyset batches of ``batch`` rows: memory does not grow with the range.
    """
    while True:
        query, when, pk = _ranged(selection, now, after, until)
        rows = read_articles(connection, _ordered(query, selection, when, pk).limit(batch))
        yield from rows
        if len(rows) < batch:
            return
        after = Position.of(rows[-1])


def positions_after(
    connection: Connection,
    selection: Selection,
    now: datetime,
    after: Position | None,
    limit: int,
) -> list[Position]:
    """The positions of the first ``limit`` rows after ``after``, oldest first (index only)."""
    _query, when, pk = _select(selection, now)
    query = _bounded(_position_query(selection, now, when, pk), selection, when, pk, after, None)
    rows = connection.execute(_ordered(query, selection, when, pk).limit(limit)).all()
    return [Position(row[0], row[1]) for row in rows]


def _position_query(selection: Selection, now: datetime, when: Any, pk: Any) -> Any:
    """Only the key columns of ``selection``'s rows: read from its index alone."""
    if selection.tag is not None:
        tag_pk = select(Tag.__table__.c.pk).where(Tag.__table__.c.slug == selection.tag)
        return select(raw(when), pk).where(
            _T.tag_pk == tag_pk.scalar_subquery(), _T.published_at <= now
        )
    query = select(raw(when), pk).where(_A.published_at <= now)
    if selection.author is not None:
        author_pk = select(Author.__table__.c.pk).where(Author.__table__.c.name == selection.author)
        query = query.where(_A.author_pk == author_pk.scalar_subquery())
    return query


def count_up_to(connection: Connection, selection: Selection, now: datetime, cap: int) -> int:
    """How many rows ``selection`` has published by ``now``, counting no further than ``cap``."""
    _query, when, pk = _select(selection, now)
    inner = _position_query(selection, now, when, pk).limit(cap).subquery()
    return int(connection.execute(select(func.count()).select_from(inner)).scalar_one())


def page_bounds(connection: Connection, selection: Selection) -> PageBounds | None:
    """The stored page ends of ``selection``, or None when it has none."""
    kind, key = selection_key(selection)
    query = (
        select(_P.number, _P.size, raw(_P.last_published_at), _P.last_pk)
        .where(_P.kind == kind, _P.key == key)
        .order_by(_P.number)
    )
    rows = connection.execute(query).all()
    if not rows:
        return None
    ends = tuple(Position(row[2], row[3]) for row in rows if row[3] is not None)
    published = any(row[3] is None for row in rows)
    return PageBounds(size=rows[0][1], ends=ends, published=published)


@dataclass(frozen=True, slots=True)
class PagesHead:
    """What is stored of a selection's pages, read without its every end: the page size,
    how many pages are closed, the end of the last one, and whether they are published.
    A build that touches a few rows asks :func:`page_of` and :func:`page_end` for the rest."""

    size: int
    closed: int
    last: Position | None
    published: bool


def pages_head(connection: Connection, selection: Selection) -> PagesHead | None:
    """The head of ``selection``'s stored pages (two rows read), or None when it has none."""
    kind, key = selection_key(selection)
    query = (
        select(_P.number, _P.size, raw(_P.last_published_at), _P.last_pk)
        .where(_P.kind == kind, _P.key == key)
        .order_by(_P.number.desc())
        .limit(2)
    )
    rows = connection.execute(query).all()
    if not rows:
        return None
    published = rows[0][3] is None  # the open page's row: no end
    ends = [row for row in rows if row[3] is not None]
    last = Position(ends[0][2], ends[0][3]) if ends else None
    closed = ends[0][0] if ends else 0
    return PagesHead(size=rows[0][1], closed=closed, last=last, published=published)


def page_of(connection: Connection, selection: Selection, position: Position) -> int | None:
    """The number of the closed page whose range holds ``position`` (the first whose end
    is at or after it); None when it is after every end (in the open page)."""
    kind, key = selection_key(selection)
    query = (
        select(_P.number)
        .where(
            _P.kind == kind,
            _P.key == key,
            _P.last_pk.is_not(None),
            tuple_(_P.last_published_at, _P.last_pk)
            >= tuple_(_stored(position.key), literal(position.pk)),
        )
        .order_by(_P.number)
        .limit(1)
    )
    number = connection.execute(query).scalar()
    return None if number is None else int(number)


def page_end(connection: Connection, selection: Selection, number: int) -> Position | None:
    """The end of closed page ``number``; None when there is no such page."""
    kind, key = selection_key(selection)
    query = select(raw(_P.last_published_at), _P.last_pk).where(
        _P.kind == kind, _P.key == key, _P.number == number, _P.last_pk.is_not(None)
    )
    row = connection.execute(query).first()
    return None if row is None else Position(row[0], row[1])


def extend_pages(
    connection: Connection,
    selection: Selection,
    head: PagesHead,
    closed: Sequence[Position],
    published: bool,
) -> None:
    """Store pages closed after those of ``head`` (their ends, oldest first) and whether
    the pages are published, leaving the ends already stored as they are."""
    kind, key = selection_key(selection)
    connection.execute(
        delete(_PAGES).where(_P.kind == kind, _P.key == key, _P.number > head.closed)
    )
    _insert_pages(connection, kind, key, head.size, head.closed, closed, published)


def store_pages(connection: Connection, selection: Selection, bounds: PageBounds | None) -> None:
    """Replace what is stored of ``selection``'s pages by ``bounds`` (None: nothing)."""
    kind, key = selection_key(selection)
    connection.execute(delete(_PAGES).where(_P.kind == kind, _P.key == key))
    if bounds is None:
        return
    _insert_pages(connection, kind, key, bounds.size, 0, bounds.ends, bounds.published)


def _insert_pages(
    connection: Connection,
    kind: str,
    key: str,
    size: int,
    after: int,
    ends: Sequence[Position],
    published: bool,
) -> None:
    """Rows for pages ``after + 1`` on: one per end, and the open page's when published."""
    rows: list[dict[str, Any]] = [
        {"number": number, "last_pk": end.pk, "at": end.key}
        for number, end in enumerate(ends, start=after + 1)
    ]
    if published:
        rows.append({"number": after + len(ends) + 1, "last_pk": None, "at": None})
    # The key goes in as it was read (bound untyped), so it stays equal to the row's.
    for chunk in _chunks(rows, 500):
        connection.execute(
            insert(_RAW_PAGES),
            [
                {
                    "kind": kind,
                    "key": key,
                    "size": size,
                    "number": row["number"],
                    "last_pk": row["last_pk"],
                    "last_published_at": row["at"],
                }
                for row in chunk
            ],
        )


def _chunks(rows: Sequence[dict[str, Any]], size: int) -> Iterable[Sequence[dict[str, Any]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def paged_selections(connection: Connection) -> set[tuple[str, str]]:
    """``(kind, key)`` of every selection with stored page ends."""
    return {(kind, key) for kind, key in connection.execute(select(_P.kind, _P.key).distinct())}


def forget_pages(connection: Connection, names: Collection[tuple[str, str]]) -> None:
    """Drop the stored pages of the selections ``names`` (``(kind, key)``)."""
    for kind, key in sorted(names):
        connection.execute(delete(_PAGES).where(_P.kind == kind, _P.key == key))


def record_moves(connection: Connection, pks: Collection[int], revision: int) -> None:
    """Note where the articles ``pks`` are now, in every selection, before a write moves them.

    Copied inside the database (INSERT ... SELECT), so each key is kept exactly as stored.
    """
    if not pks:
        return
    wanted = sorted(pks)
    table = _CHANGES
    columns = ["revision", "kind", "key", "published_at", "article_pk"]
    au = Author.__table__.c
    t = Tag.__table__.c
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rev = literal(revision)
        sources = [
            select(rev, literal("site"), literal(""), _A.published_at, _A.pk).where(
                _A.pk.in_(chunk)
            ),
            select(rev, literal("author"), au.name, _A.published_at, _A.pk)
            .join(Author.__table__, au.pk == _A.author_pk)
            .where(_A.pk.in_(chunk)),
            select(rev, literal("tag"), t.slug, _T.published_at, _T.article_pk)
            .join(Tag.__table__, t.pk == _T.tag_pk)
            .where(_T.article_pk.in_(chunk)),
        ]
        for source in sources:
            connection.execute(insert(table).from_select(columns, source))


def moved_since(connection: Connection, revision: int) -> list[tuple[str, str, Position]]:
    """``(kind, key, position)`` of each place a write after ``revision`` moved an article from."""
    query = select(_C.kind, _C.key, raw(_C.published_at), _C.article_pk).where(
        and_(_C.revision > revision, _C.article_pk.is_not(None))
    )
    return [(kind, key, Position(at, pk)) for kind, key, at, pk in connection.execute(query)]
