"""Writing: the site state, and batches of article changes in a few statements each.

The domain decides what to write (feeder._write applies the rules); this
module only looks articles up and carries out a :class:`WritePlan`: one
revision bump, removals for renamed and deleted slugs, authors created or
updated, rows updated with one ``executemany``, new rows inserted at the
driver's pace (db.bulk), and tag links replaced where they changed.
"""

from __future__ import annotations

import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, insert, or_, select, update
from sqlalchemy.sql.expression import bindparam

from db.bulk import insert_many
from db.models import Article, Author, Base, Removal, State, Tag, article_tags
from db.queries import STATE_PK
from db.records import StoredArticle, article_columns, read_articles

__all__ = [
    "ArticleValues",
    "PersonValues",
    "WritePlan",
    "apply",
    "bump_revision",
    "clear_daemon",
    "create_state",
    "find",
    "record_build",
    "record_daemon",
    "record_error",
    "seal_key",
    "taken_slugs",
    "taken_uids",
]

_TABLES = Base.metadata.tables
_ARTICLES = _TABLES[Article.__tablename__]
_AUTHORS = _TABLES[Author.__tablename__]
_TAGS = _TABLES[Tag.__tablename__]
_REMOVALS = _TABLES[Removal.__tablename__]
_STATE = _TABLES[State.__tablename__]


# -- the state row ---------------------------------------------------------------------


def create_state(connection: Connection, created_at: datetime) -> None:
    """The state row of a new site; a second process doing the same at once does nothing."""
    # Loaded here: only a new site needs them, and the PostgreSQL dialects load asyncio.
    from sqlalchemy.dialects import postgresql, sqlite

    insert_ = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(
        insert_(_STATE)
        .values(
            pk=STATE_PK,
            revision=0,
            built_revision=-1,
            created_at=created_at,
            seal_key=secrets.token_hex(32),
        )
        .on_conflict_do_nothing(index_elements=[_STATE.c.pk])
    )


def seal_key(connection: Connection) -> str:
    """The site's secret for content seals; made now if another program removed it."""
    key = connection.execute(
        select(_STATE.c.seal_key).where(_STATE.c.pk == STATE_PK)
    ).scalar_one_or_none()
    if isinstance(key, str) and len(key) >= 32:
        return key
    key = secrets.token_hex(32)
    _state(connection, seal_key=key)
    return key


def bump_revision(connection: Connection) -> int:
    """Advance the counter inside the caller's transaction and return the new value."""
    return int(
        connection.execute(
            update(_STATE)
            .where(_STATE.c.pk == STATE_PK)
            .values(revision=_STATE.c.revision + 1)
            .returning(_STATE.c.revision)
        ).scalar_one()
    )


def _state(connection: Connection, **values: Any) -> None:
    connection.execute(update(_STATE).where(_STATE.c.pk == STATE_PK).values(**values))


def record_build(
    connection: Connection,
    *,
    revision: int,
    now: datetime,
    seconds: float,
    result: str,
    fingerprint: str | None,
    error: str | None,
) -> None:
    """What a build published: up to which revision and instant, and how it went."""
    values: dict[str, Any] = {
        "built_revision": revision,
        "built_until": now,
        "built_at": now,
        "build_seconds": seconds,
        "build_result": result,
    }
    if fingerprint is not None:
        values["built_settings"] = fingerprint
    if error is not None:
        values["last_error"], values["last_error_at"] = error, now
    _state(connection, **values)
    # What an incremental build after this one needs to know starts after this revision.
    changes = _TABLES["selection_changes"]
    connection.execute(delete(changes).where(changes.c.revision <= revision))


def record_daemon(connection: Connection, pid: int, host: str, now: datetime) -> None:
    _state(connection, daemon_pid=pid, daemon_host=host, daemon_heartbeat=now)


def clear_daemon(connection: Connection, pid: int, host: str) -> None:
    """Forget the daemon ``pid`` on ``host`` (unless another one took over since)."""
    connection.execute(
        update(_STATE)
        .where(_STATE.c.pk == STATE_PK, _STATE.c.daemon_pid == pid, _STATE.c.daemon_host == host)
        .values(daemon_pid=None, daemon_host=None, daemon_heartbeat=None)
    )


def record_error(connection: Connection, message: str, now: datetime) -> None:
    _state(connection, last_error=message, last_error_at=now)


# -- articles --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonValues:
    name: str
    email: str | None = None
    uri: str | None = None


@dataclass(frozen=True, slots=True)
class ArticleValues:
    """Every stored field of one article (its author by name, its tags as (slug, name))."""

    uid: str
    slug: str
    title: str
    link: str | None
    summary: str
    content: str
    author: str | None
    tags: tuple[tuple[str, str], ...]
    published_at: datetime
    updated_at: datetime
    created_at: datetime
    #: Derived from ``content`` by the domain (see migration 0007); None: not known.
    word_count: int | None = None
    content_hash: str | None = None
    content_seal: str | None = None


@dataclass
class WritePlan:
    """What one transaction writes."""

    inserts: list[ArticleValues] = field(default_factory=list)
    #: (pk, new values, whether its tags changed)
    updates: list[tuple[int, ArticleValues, bool]] = field(default_factory=list)
    #: (uid, the slug it left): a removal, so builds delete the old page
    renamed: list[tuple[str, str]] = field(default_factory=list)
    #: (pk, uid, slug)
    deleted: list[tuple[int, str, str]] = field(default_factory=list)
    #: authors the articles name, created when missing (with these details)
    people: dict[str, PersonValues] = field(default_factory=dict)
    #: authors whose stored email and uri these details replace
    details: dict[str, PersonValues] = field(default_factory=dict)
    #: ("tag", slug) or ("author", name) that an article left: their feeds must change
    left: set[tuple[str, str]] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(self.inserts or self.updates or self.renamed or self.deleted or self.details)


def find(
    connection: Connection, uids: Collection[str], slugs: Collection[str]
) -> list[StoredArticle]:
    """The stored articles that have one of ``uids`` or one of ``slugs``."""
    if not uids and not slugs:
        return []
    a = _ARTICLES.c
    conditions = []
    if uids:
        conditions.append(a.uid.in_(list(uids)))
    if slugs:
        conditions.append(a.slug.in_(list(slugs)))
    return read_articles(connection, article_columns().where(or_(*conditions)))


def taken_uids(connection: Connection, candidates: Collection[str]) -> set[str]:
    """Which of ``candidates`` an article has, or had before it was deleted (never reused)."""
    if not candidates:
        return set()
    wanted = list(candidates)
    found = set(
        connection.execute(select(_ARTICLES.c.uid).where(_ARTICLES.c.uid.in_(wanted))).scalars()
    )
    found |= set(
        connection.execute(select(_REMOVALS.c.uid).where(_REMOVALS.c.uid.in_(wanted))).scalars()
    )
    return found


def taken_slugs(connection: Connection, candidates: Collection[str]) -> set[str]:
    if not candidates:
        return set()
    query = select(_ARTICLES.c.slug).where(_ARTICLES.c.slug.in_(list(candidates)))
    return set(connection.execute(query).scalars())


def apply(
    connection: Connection, plan: WritePlan, now: datetime, revision: int | None = None
) -> int:
    """Carry out ``plan`` in the caller's transaction; the revision its rows carry.

    ``revision``: the transaction's, if it already moved the counter (it moves once).
    """
    if revision is None:
        revision = bump_revision(connection)
    removals = [
        {"uid": uid, "slug": slug, "removed_at": now, "revision": revision, "deleted": False}
        for uid, slug in plan.renamed
    ] + [
        {"uid": uid, "slug": slug, "removed_at": now, "revision": revision, "deleted": True}
        for _pk, uid, slug in plan.deleted
    ]
    if removals:
        connection.execute(insert(_REMOVALS), removals)
    if plan.left:
        connection.execute(
            insert(_TABLES["selection_changes"]),
            [{"revision": revision, "kind": k, "key": key} for k, key in sorted(plan.left)],
        )
    if plan.deleted:
        connection.execute(
            delete(_ARTICLES).where(_ARTICLES.c.pk.in_([pk for pk, _uid, _slug in plan.deleted]))
        )
    written = [values for _pk, values, _relink in plan.updates] + plan.inserts
    author_pks = _authors(connection, plan, {v.author for v in written if v.author})
    if plan.updates:
        connection.execute(
            update(_ARTICLES).where(_ARTICLES.c.pk == bindparam("b_pk")),
            [
                {"b_pk": pk, **_columns(values, author_pks, revision)}
                for pk, values, _relink in plan.updates
            ],
        )
    new_pks: list[int] = []
    if plan.inserts:
        insert_many(
            connection,
            _ARTICLES,
            _INSERTED,
            [
                _columns(values, author_pks, revision) | {"uid": values.uid}
                for values in plan.inserts
            ],
        )
        pks = dict(
            connection.execute(
                select(_ARTICLES.c.uid, _ARTICLES.c.pk).where(
                    _ARTICLES.c.uid.in_([values.uid for values in plan.inserts])
                )
            ).all()
        )
        new_pks = [pks[values.uid] for values in plan.inserts]
    relinked = [(pk, values) for pk, values, relink in plan.updates if relink]
    _link_tags(
        connection,
        relinked
        + [(pk, values) for pk, values in zip(new_pks, plan.inserts, strict=True) if values.tags],
        replace=[pk for pk, _values in relinked],
    )
    return revision


# Every column of a new article but its pk.
_INSERTED = (
    "uid",
    "slug",
    "title",
    "link",
    "summary",
    "content",
    "author_pk",
    "published_at",
    "updated_at",
    "created_at",
    "revision",
    "word_count",
    "content_hash",
    "content_seal",
)


def _columns(values: ArticleValues, author_pks: dict[str, int], revision: int) -> dict[str, Any]:
    return {
        "slug": values.slug,
        "title": values.title,
        "link": values.link,
        "summary": values.summary,
        "content": values.content,
        "author_pk": author_pks[values.author] if values.author else None,
        "published_at": values.published_at,
        "updated_at": values.updated_at,
        "created_at": values.created_at,
        "revision": revision,
        "word_count": values.word_count,
        "content_hash": values.content_hash,
        "content_seal": values.content_seal,
    }


def _authors(connection: Connection, plan: WritePlan, named: Iterable[str]) -> dict[str, int]:
    """Author pks by name, creating missing authors; ``plan.details`` replace stored ones."""
    wanted = set(named) | set(plan.details)
    if not wanted:
        return {}
    au = _AUTHORS.c
    stored = {
        row.name: row
        for row in connection.execute(
            select(au.pk, au.name, au.email, au.uri).where(au.name.in_(list(wanted)))
        )
    }
    missing = [
        plan.details.get(name) or plan.people.get(name) or PersonValues(name)
        for name in sorted(wanted)
        if name not in stored
    ]
    stale = [
        person
        for name, person in plan.details.items()
        if name in stored and (person.email, person.uri) != (stored[name].email, stored[name].uri)
    ]
    if missing:
        connection.execute(
            insert(_AUTHORS), [{"name": p.name, "email": p.email, "uri": p.uri} for p in missing]
        )
    if stale:
        connection.execute(
            update(_AUTHORS).where(au.name == bindparam("b_name")),
            [{"b_name": p.name, "email": p.email, "uri": p.uri} for p in stale],
        )
    if not missing:
        return {name: row.pk for name, row in stored.items()}
    return dict(connection.execute(select(au.name, au.pk).where(au.name.in_(list(wanted)))).all())


def _link_tags(
    connection: Connection, linked: list[tuple[int, ArticleValues]], *, replace: list[int]
) -> None:
    """Give each article in ``linked`` exactly its tags (creating tags that are new)."""
    if replace:
        connection.execute(delete(article_tags).where(article_tags.c.article_pk.in_(replace)))
    names = {slug: name for _pk, values in linked for slug, name in values.tags}
    if not names:
        return
    t = _TAGS.c
    pks = dict(connection.execute(select(t.slug, t.pk).where(t.slug.in_(list(names)))).all())
    missing = [{"slug": s, "name": n} for s, n in sorted(names.items()) if s not in pks]
    if missing:
        connection.execute(insert(_TAGS), missing)
        pks.update(
            connection.execute(
                select(t.slug, t.pk).where(t.slug.in_([row["slug"] for row in missing]))
            ).all()
        )
    links = [
        {"article_pk": pk, "tag_pk": pks[slug], "published_at": values.published_at}
        for pk, values in linked
        for slug, _name in values.tags
    ]
    if links:
        insert_many(connection, article_tags, ("article_pk", "tag_pk", "published_at"), links)
