"""Tombstones: what storage keeps of a deleted article, and where it goes.

A deletion leaves a row in ``removals`` (``deleted`` true) and, in
``removal_selections``, each feed the article was in at that moment: the
site's (``("site", "")``), its tags' (``("tag", slug)``) and its author's
(``("author", name)``). A tombstone is *live* from its deletion until a given
instant (the domain derives it from ``feeds.tombstone_days``) as long as:

- it is the newest deletion of its id (an article deleted, brought back and
  deleted again has one tombstone, the last one), and
- no article has that id again (re-adding the id resurrects the article, and
  its tombstone disappears from every feed at once).

A purge removes every removal of an id, tombstones included, so the id leaves
no trace and may be used again; each slug it had keeps a nameless removal so
that the next build still removes the page.

Like every reader in ``db/``, these hand values over as stored (typed
``object``); the domain checks them on the way out.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, delete, exists, insert, literal, select, tuple_
from sqlalchemy.types import NullType

from db.models import Article, Author, Base, Removal, RemovalSelection, Tag
from db.pages import selection_key
from db.queries import Selection
from db.records import raw, read_instant

__all__ = [
    "StoredTombstone",
    "deletion",
    "expired_selections",
    "held",
    "live",
    "next_deletion",
    "purge",
    "record_deletions",
    "resurrect",
]

_REMOVALS = Base.metadata.tables[Removal.__tablename__]
_SELECTIONS = Base.metadata.tables[RemovalSelection.__tablename__]
_CHANGES = Base.metadata.tables["selection_changes"]
_R = _REMOVALS.c
_S = _SELECTIONS.c
_A = Article.__table__.c

#: What a tombstone needs, per deleted article: (pk, uid, slug, comment, selections).
Deletion = tuple[int, str, str, str | None, tuple[tuple[str, str], ...]]


@dataclass(frozen=True, slots=True)
class StoredTombstone:
    """The newest deletion of an id, as stored."""

    pk: int
    uid: object
    slug: object
    removed_at: datetime | None  # None: the stored value is no date
    comment: object
    #: (kind, key) of each feed it goes to, sorted; filled only where asked for.
    selections: tuple[tuple[object, object], ...] = ()


def _newest_of_its_id() -> Any:
    later = _REMOVALS.alias("later")
    return ~exists().where(later.c.uid == _R.uid, later.c.deleted.is_(True), later.c.pk > _R.pk)


def _tombstones(since: datetime) -> Select[Any]:
    """Every live tombstone deleted after ``since``."""
    return select(_R.pk, _R.uid, _R.slug, raw(_R.removed_at), _R.comment).where(
        _R.deleted.is_(True),
        _R.removed_at > since,
        ~exists().where(_A.uid == _R.uid),
        _newest_of_its_id(),
    )


def _in(kind: str, key: str) -> Any:
    return exists().where(_S.removal_pk == _R.pk, _S.kind == kind, _S.key == key)


def _read(connection: Connection, query: Select[Any], selections: bool) -> list[StoredTombstone]:
    rows = connection.execute(query).all()
    chosen: dict[int, list[tuple[object, object]]] = {row.pk: [] for row in rows}
    if selections and chosen:
        for pk, kind, key in connection.execute(
            select(_S.removal_pk, _S.kind, _S.key)
            .where(_S.removal_pk.in_(list(chosen)))
            .order_by(_S.removal_pk, _S.kind, _S.key)
        ):
            chosen[pk].append((kind, key))
    found = []
    for row in rows:
        try:
            when: datetime | None = read_instant(row.removed_at)
        except ValueError:
            when = None
        found.append(
            StoredTombstone(row.pk, row.uid, row.slug, when, row.comment, tuple(chosen[row.pk]))
        )
    return found


def live(
    connection: Connection,
    selection: Selection,
    since: datetime,
    limit: int | None,
    *,
    selections: bool = False,
) -> list[StoredTombstone]:
    """The live tombstones of ``selection``, newest first (the site's: every one)."""
    kind, key = selection_key(selection)
    query = _tombstones(since)
    if kind == "site":
        # Newest first along the dates' index, until ``limit`` are found.
        query = query.where(_in(kind, key))
    else:
        # From the selection's own deletions (an index range), however many others there are.
        query = query.select_from(_SELECTIONS.join(_REMOVALS, _R.pk == _S.removal_pk)).where(
            _S.kind == kind, _S.key == key
        )
    query = query.order_by(_R.removed_at.desc(), _R.pk.desc())
    if limit is not None:
        query = query.limit(limit)
    return _read(connection, query, selections)


def held(
    connection: Connection, since: datetime
) -> tuple[list[tuple[object, object]], list[tuple[int, object]]]:
    """The tags ``(slug, name)``, by slug, and authors ``(pk, name)``, by pk, of live tombstones."""
    pks = _tombstones(since).with_only_columns(_R.pk).scalar_subquery()

    def keys(kind: str) -> Any:
        return select(_S.key).where(_S.kind == kind, _S.removal_pk.in_(pks))

    t, a = Tag.__table__.c, Author.__table__.c
    tags = connection.execute(
        select(t.slug, t.name).where(t.slug.in_(keys("tag"))).order_by(t.slug)
    )
    authors = connection.execute(
        select(a.pk, a.name).where(a.name.in_(keys("author"))).order_by(a.pk)
    )
    return [(slug, name) for slug, name in tags], [(pk, name) for pk, name in authors]


def expired_selections(
    connection: Connection, after: datetime, until: datetime
) -> set[tuple[str, str]]:
    """``(kind, key)`` of the feeds of deletions made in ``(after, until]``."""
    query = (
        select(_S.kind, _S.key)
        .distinct()
        .join(_REMOVALS, _R.pk == _S.removal_pk)
        .where(_R.deleted.is_(True), _R.removed_at > after, _R.removed_at <= until)
    )
    return {(kind, key) for kind, key in connection.execute(query)}


def next_deletion(connection: Connection, after: datetime) -> datetime | None:
    """The earliest instant after ``after`` at which an article that left a tombstone
    was deleted (one index seek); stored values that are no date are skipped."""
    query = (
        select(_R.pk, raw(_R.removed_at))
        .where(_R.deleted.is_(True), _R.removed_at > after, _in("site", ""))
        .order_by(_R.removed_at, _R.pk)
        .limit(1)
    )
    while row := connection.execute(query).first():
        try:
            return read_instant(row.removed_at)
        except ValueError:
            query = query.where(
                tuple_(_R.removed_at, _R.pk)
                > tuple_(literal(row.removed_at, NullType()), literal(row.pk))
            )
    return None


def deletion(
    connection: Connection, *, slug: str | None = None, uid: str | None = None
) -> StoredTombstone | None:
    """The newest deletion of the article with ``uid``, or that had ``slug``, at any age."""
    query = select(_R.pk, _R.uid, _R.slug, raw(_R.removed_at), _R.comment).where(
        _R.deleted.is_(True)
    )
    query = query.where(_R.uid == uid) if uid is not None else query.where(_R.slug == slug)
    found = _read(connection, query.order_by(_R.pk.desc()).limit(1), True)
    return found[0] if found else None


# -- writing ---------------------------------------------------------------------------


def record_deletions(
    connection: Connection,
    deletions: Sequence[Deletion],
    *,
    nameless: Collection[str],
    now: datetime,
    revision: int,
) -> None:
    """The removal of each deleted article, and the feeds its tombstone goes to.

    An article whose id is in ``nameless`` (it is being purged) leaves a removal
    without its id, deleted=false: the next build removes its page, and no
    tombstone is ever published.
    """
    rows = []
    for _pk, uid, slug, comment, _selections in deletions:
        purged = uid in nameless
        rows.append(
            {
                "uid": "" if purged else uid,
                "slug": slug,
                "removed_at": now,
                "revision": revision,
                "deleted": not purged,
                "comment": None if purged else comment,
            }
        )
    if not rows:
        return
    pks = connection.execute(
        insert(_REMOVALS).returning(_R.pk, sort_by_parameter_order=True), rows
    ).scalars()
    links = [
        {"removal_pk": pk, "kind": kind, "key": key}
        for pk, (_apk, uid, _slug, _comment, selections) in zip(pks, deletions, strict=True)
        if uid not in nameless
        for kind, key in selections
    ]
    if links:
        connection.execute(insert(_SELECTIONS), links)


def _changes(connection: Connection, removal_pks: Any, revision: int) -> None:
    """Note the feeds of these removals' tombstones as changed by ``revision``."""
    kinds = (
        select(_S.kind, _S.key).distinct().where(_S.removal_pk.in_(removal_pks), _S.kind != "site")
    )
    rows = [{"revision": revision, "kind": k, "key": key} for k, key in connection.execute(kinds)]
    if rows:
        connection.execute(insert(_CHANGES), rows)


def resurrect(connection: Connection, uids: Iterable[str], revision: int) -> None:
    """Articles were stored with these ids: the feeds of their tombstones change."""
    wanted = list(uids)
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        removed = select(_R.pk).where(_R.uid.in_(chunk), _R.deleted.is_(True))
        if connection.execute(removed.limit(1)).first() is not None:
            _changes(connection, removed.scalar_subquery(), revision)


def forget(connection: Connection, uids: Collection[str]) -> None:
    """Remove the removals of ``uids`` and what they record, nothing else.

    A purge deletes an article after its removals went: the triggers that record
    another program's deletions (db.changes) cannot tell it from one, and leave a
    removal of its id behind, which this takes away again.
    """
    if not uids:
        return
    removed = select(_R.pk).where(_R.uid.in_(list(uids)))
    connection.execute(delete(_SELECTIONS).where(_S.removal_pk.in_(removed.scalar_subquery())))
    connection.execute(delete(_REMOVALS).where(_R.uid.in_(list(uids))))


def purge(connection: Connection, uids: Collection[str], now: datetime, revision: int) -> None:
    """Remove every removal (tombstones included) of ``uids``, for good.

    The feeds their tombstones were in change; each slug they had keeps a
    nameless removal, so the next build still removes a page that may be there.
    """
    if not uids:
        return
    removed = select(_R.pk).where(_R.uid.in_(list(uids)))
    _changes(connection, removed.scalar_subquery(), revision)
    # A slug another program stored as something else than text names no page.
    slugs = sorted(
        slug
        for slug in connection.execute(
            select(_R.slug).distinct().where(_R.uid.in_(list(uids)))
        ).scalars()
        if isinstance(slug, str)
    )
    connection.execute(delete(_SELECTIONS).where(_S.removal_pk.in_(removed.scalar_subquery())))
    connection.execute(delete(_REMOVALS).where(_R.uid.in_(list(uids))))
    if slugs:
        connection.execute(
            insert(_REMOVALS),
            [
                {"uid": "", "slug": slug, "removed_at": now, "revision": revision, "deleted": False}
                for slug in slugs
            ],
        )
