"""Writing: the site state, outputs and daemons, and batches of article changes.

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

from sqlalchemy import Connection, delete, func, insert, or_, select, update
from sqlalchemy.sql.expression import bindparam

from db import tombstones
from db.bulk import insert_many
from db.models import (
    Article,
    ArticleEpisode,
    ArticleMedia,
    Author,
    Base,
    Daemon,
    Output,
    PodcastGuid,
    Removal,
    State,
    Tag,
    article_tags,
)
from db.pages import record_moves
from db.queries import STATE_PK
from db.records import DaemonRecord, StoredArticle, article_columns, read_articles
from db.values import EpisodeValues, MediaValues

__all__ = [
    "ArticleValues",
    "EpisodeValues",
    "MediaValues",
    "PersonValues",
    "WritePlan",
    "apply",
    "bump_revision",
    "claim_output",
    "clear_daemon",
    "create_state",
    "find",
    "forget_output",
    "record_build",
    "record_daemon",
    "record_error",
    "release_output",
    "seal_key",
    "store_podcast_guids",
    "taken_slugs",
    "taken_uids",
]

_TABLES = Base.metadata.tables
_ARTICLES = _TABLES[Article.__tablename__]
_AUTHORS = _TABLES[Author.__tablename__]
_TAGS = _TABLES[Tag.__tablename__]
_REMOVALS = _TABLES[Removal.__tablename__]
_STATE = _TABLES[State.__tablename__]
_OUTPUTS = _TABLES[Output.__tablename__]
_DAEMONS = _TABLES[Daemon.__tablename__]
_MEDIA = _TABLES[ArticleMedia.__tablename__]
_EPISODES = _TABLES[ArticleEpisode.__tablename__]
_GUIDS = _TABLES[PodcastGuid.__tablename__]


# -- the state row ---------------------------------------------------------------------


def create_state(connection: Connection, created_at: datetime) -> None:
    """The state row of a new site; a second process doing the same at once does nothing."""
    connection.execute(
        _insert(connection)(_STATE)
        .values(pk=STATE_PK, revision=0, created_at=created_at, seal_key=secrets.token_hex(32))
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
    connection.execute(update(_STATE).where(_STATE.c.pk == STATE_PK).values(seal_key=key))
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


# -- output directories and daemons ---------------------------------------------------


def _insert(connection: Connection) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT (loaded on first use)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert


def _known_output(connection: Connection, output: str, now: datetime, **values: Any) -> None:
    """Make sure ``output`` has a row (a new one was never built), then set ``values``."""
    connection.execute(
        _insert(connection)(_OUTPUTS)
        .values(id=output, created_at=now, seen_at=now, built_revision=-1)
        .on_conflict_do_nothing(index_elements=[_OUTPUTS.c.id])
    )
    if values:
        connection.execute(update(_OUTPUTS).where(_OUTPUTS.c.id == output).values(**values))


def claim_output(
    connection: Connection,
    output: str,
    *,
    writer: str,
    token: str,
    path: str,
    host: str,
    now: datetime,
) -> None:
    """Mark ``output`` as written by ``writer`` (a build's ``token``) from ``now`` on."""
    _known_output(
        connection,
        output,
        now,
        writer=writer,
        writer_token=token,
        writing_since=now,
        seen_at=now,
        path=path,
        host=host,
    )


def release_output(
    connection: Connection, output: str, *, token: str | None = None, writer: str | None = None
) -> bool:
    """Clear the mark of the build ``token`` (or of any build by ``writer``); True if it was."""
    o = _OUTPUTS.c
    mine = o.writer_token == token if token is not None else o.writer == writer
    done = connection.execute(
        update(_OUTPUTS)
        .where(o.id == output, mine)
        .values(writer=None, writer_token=None, writing_since=None)
    )
    return bool(done.rowcount)


def record_build(
    connection: Connection,
    *,
    output: str,
    revision: int,
    now: datetime,
    seconds: float,
    result: str,
    fingerprint: str | None,
    error: str | None,
    token: str | None = None,
    stale_before: datetime,
) -> None:
    """What a build of ``output`` published: up to which revision and instant, and how.

    A build that marked the directory (``token``) records only while the mark is
    still its own, and clears it: if another build took the directory over
    meanwhile (this one lost its lock), the row describes that build. Then the
    bookkeeping that incremental builds read (``selection_changes``) is
    deleted up to the oldest revision an output still needs, counting only outputs
    seen since ``stale_before``. An output left behind by that (one not seen for
    so long) has its revision reset, so its next build is a full one.
    """
    o = _OUTPUTS.c
    values: dict[str, Any] = {
        "built_revision": revision,
        "built_until": now,
        "built_at": now,
        "build_seconds": seconds,
        "build_result": result,
        "seen_at": now,
    }
    if fingerprint is not None:
        values["built_settings"] = fingerprint
    if error is not None:
        values["last_error"], values["last_error_at"] = error, now
    if token is None:
        _known_output(connection, output, now, **values)
    else:
        values |= {"writer": None, "writer_token": None, "writing_since": None}
        connection.execute(
            update(_OUTPUTS).where(o.id == output, o.writer_token == token).values(**values)
        )
    floor = connection.execute(
        select(func.min(o.built_revision)).where(o.seen_at >= stale_before)
    ).scalar()
    if floor is None or floor < 0:
        return  # an output that was never built needs nothing, but may be building now
    changes = _TABLES["selection_changes"]
    connection.execute(delete(changes).where(changes.c.revision <= floor))
    connection.execute(
        update(_OUTPUTS)
        .where(o.built_revision < floor, o.built_revision >= 0)
        .values(built_revision=-1, built_settings=None)
    )


def record_error(connection: Connection, output: str, message: str, now: datetime) -> None:
    """Keep ``message`` as the last error of ``output`` (a build that failed)."""
    _known_output(connection, output, now, last_error=message, last_error_at=now)


def forget_output(connection: Connection, output: str) -> bool:
    """Drop ``output`` and the daemons that last reported for it; True if it was known."""
    gone = connection.execute(delete(_OUTPUTS).where(_OUTPUTS.c.id == output)).rowcount
    connection.execute(delete(_DAEMONS).where(_DAEMONS.c.output_id == output))
    return bool(gone)


def record_daemon(connection: Connection, daemon: DaemonRecord, forget_before: datetime) -> None:
    """Insert or refresh ``daemon``'s row; forget daemons silent since ``forget_before``."""
    values = {name: getattr(daemon, name) for name in DaemonRecord.__dataclass_fields__}
    connection.execute(
        _insert(connection)(_DAEMONS)
        .values(**values)
        .on_conflict_do_update(
            index_elements=[_DAEMONS.c.id],
            set_={name: value for name, value in values.items() if name != "id"},
        )
    )
    connection.execute(delete(_DAEMONS).where(_DAEMONS.c.heartbeat < forget_before))


def clear_daemon(connection: Connection, daemon_id: str) -> None:
    """Forget the daemon ``daemon_id`` (it stopped)."""
    connection.execute(delete(_DAEMONS).where(_DAEMONS.c.id == daemon_id))


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
    #: Its media files, in order within each role.
    media: tuple[MediaValues, ...] = ()
    episode: EpisodeValues | None = None
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
    #: stored articles this plan moves in or out of a selection (another publication
    #: instant, a tag or author left, a deletion): where they were is recorded first
    moved: set[int] = field(default_factory=set)
    #: pks of updated articles whose media files or episode fields changed
    media_changed: set[int] = field(default_factory=set)
    #: by pk of a deleted article: its tombstone's comment, and the feeds it goes to
    #: (("site", ""), ("tag", slug), ("author", name)); none: it leaves no tombstone
    tombstones: dict[int, tuple[str | None, tuple[tuple[str, str], ...]]] = field(
        default_factory=dict
    )
    #: ids whose every removal goes, tombstones included (their articles leave none)
    purged: set[str] = field(default_factory=set)

    def __bool__(self) -> bool:
        return bool(
            self.inserts
            or self.updates
            or self.renamed
            or self.deleted
            or self.details
            or self.purged
        )


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
    ]
    if removals:
        connection.execute(insert(_REMOVALS), removals)
    tombstones.purge(connection, plan.purged, now, revision)
    tombstones.record_deletions(
        connection,
        [(pk, uid, slug, *plan.tombstones.get(pk, (None, ()))) for pk, uid, slug in plan.deleted],
        nameless=plan.purged,
        now=now,
        revision=revision,
    )
    if plan.left:
        connection.execute(
            insert(_TABLES["selection_changes"]),
            [{"revision": revision, "kind": k, "key": key} for k, key in sorted(plan.left)],
        )
    record_moves(connection, plan.moved, revision)
    if plan.deleted:
        connection.execute(
            delete(_ARTICLES).where(_ARTICLES.c.pk.in_([pk for pk, _uid, _slug in plan.deleted]))
        )
        tombstones.forget(connection, plan.purged)  # what the triggers took for a deletion
    written = [values for _pk, values, _relink in plan.updates] + plan.inserts
    author_pks, stale = _authors(connection, plan, {v.author for v in written if v.author})
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
        # An id that comes back takes its tombstone out of the feeds it was in.
        tombstones.resurrect(connection, [values.uid for values in plan.inserts], revision)
    relinked = [(pk, values) for pk, values, relink in plan.updates if relink]
    _link_tags(
        connection,
        relinked
        + [(pk, values) for pk, values in zip(new_pks, plan.inserts, strict=True) if values.tags],
        replace=[pk for pk, _values in relinked],
    )
    remedia = [(pk, values) for pk, values, _relink in plan.updates if pk in plan.media_changed]
    _write_media(
        connection,
        remedia
        + [
            (pk, values)
            for pk, values in zip(new_pks, plan.inserts, strict=True)
            if values.media or values.episode
        ],
        replace=[pk for pk, _values in remedia],
    )
    _update_details(connection, stale, author_pks, revision)
    return revision


def _write_media(
    connection: Connection, written: list[tuple[int, ArticleValues]], *, replace: list[int]
) -> None:
    """Give each article in ``written`` exactly its media files and episode fields."""
    if replace:
        connection.execute(delete(_MEDIA).where(_MEDIA.c.article_pk.in_(replace)))
        connection.execute(delete(_EPISODES).where(_EPISODES.c.article_pk.in_(replace)))
    media = []
    for pk, values in written:
        positions: dict[str, int] = {}
        for item in values.media:
            position = positions[item.role] = positions.get(item.role, -1) + 1
            media.append(
                {
                    "article_pk": pk,
                    "role": item.role,
                    "position": position,
                    "url": item.url,
                    "file": item.file,
                    "media_type": item.media_type,
                    "length": item.length,
                }
            )
    if media:
        insert_many(connection, _MEDIA, _MEDIA_COLUMNS, media)
    episodes = [
        {"article_pk": pk, **_episode_columns(values.episode)}
        for pk, values in written
        if values.episode is not None
    ]
    if episodes:
        connection.execute(insert(_EPISODES), episodes)


_MEDIA_COLUMNS = ("article_pk", "role", "position", "url", "file", "media_type", "length")


def _episode_columns(episode: EpisodeValues) -> dict[str, Any]:
    return {
        "duration": episode.duration,
        "number": episode.number,
        "season": episode.season,
        "episode_type": episode.episode_type,
    }


def podcast_guids(connection: Connection) -> dict[str, object]:
    """The stored podcast:guid of each feed, by its path in the output directory."""
    return dict(connection.execute(select(_GUIDS.c.path, _GUIDS.c.guid)).all())


def store_podcast_guids(
    connection: Connection, minted: dict[str, tuple[str, str]], now: datetime
) -> None:
    """Keep ``minted`` (path: (guid, the URL it was made from)); a stored guid is never replaced."""
    if not minted:
        return
    from sqlalchemy.dialects import postgresql, sqlite

    insert_ = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    connection.execute(
        insert_(_GUIDS).on_conflict_do_nothing(index_elements=[_GUIDS.c.path]),
        [
            {"path": path, "guid": guid, "seed": seed, "created_at": now}
            for path, (guid, seed) in sorted(minted.items())
        ],
    )


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


def _authors(
    connection: Connection, plan: WritePlan, named: Iterable[str]
) -> tuple[dict[str, int], list[PersonValues]]:
    """Author pks by name, creating missing authors; and the stored details to replace.

    The stale details (``plan.details`` that differ from what is stored) are written
    last, by :func:`_update_details`.
    """
    wanted = set(named) | set(plan.details)
    if not wanted:
        return {}, []
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
    if not missing:
        return {name: row.pk for name, row in stored.items()}, stale
    pks = connection.execute(select(au.name, au.pk).where(au.name.in_(list(wanted)))).all()
    return dict(pks), stale


def _update_details(
    connection: Connection, stale: list[PersonValues], author_pks: dict[str, int], revision: int
) -> None:
    """Replace stored author details; every article by those authors shows them.

    Their articles are stamped with the transaction's revision first, so the next
    build rewrites their pages and feeds, and the triggers of db.changes, which do
    the same for another program's change to an author, see nothing left to do.
    """
    if not stale:
        return
    connection.execute(
        update(_ARTICLES)
        .where(
            _ARTICLES.c.author_pk.in_([author_pks[p.name] for p in stale]),
            _ARTICLES.c.revision != revision,
        )
        .values(revision=revision)
    )
    connection.execute(
        update(_AUTHORS).where(_AUTHORS.c.name == bindparam("b_name")),
        [{"b_name": p.name, "email": p.email, "uri": p.uri} for p in stale],
    )


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
