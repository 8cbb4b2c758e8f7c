"""Stored articles as plain records, read so that no single row can fail a query.

Another program may write anything into the tables: text that is not UTF-8
or a BLOB where a title belongs (SQLite keeps what it is given), a date that
is no date, a NUL byte in a slug. The ORM would raise on the first such value
and take the whole result with it. These readers use Core, select the date
columns as they are stored and convert them row by row: a value that cannot
be read becomes a line in that row's ``problems``, and the other rows come
back as usual. What the values *mean* (is this slug safe for a path? is this
link a web address?) is for the domain to judge; storage only hands them over
untouched, which is why the text fields are typed ``object``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Select, select, type_coerce
from sqlalchemy.types import NullType

from db.models import (
    Article,
    ArticleEpisode,
    ArticleMedia,
    Author,
    Daemon,
    Output,
    Removal,
    State,
    Tag,
    article_tags,
)
from db.values import StoredArticle, StoredEpisode, StoredMedia, StoredPerson

__all__ = [
    "BuildState",
    "DaemonRecord",
    "OutputRecord",
    "StateRecord",
    "StoredArticle",
    "StoredEpisode",
    "StoredMedia",
    "StoredPerson",
    "StoredRemoval",
    "article_columns",
    "daemon_columns",
    "output_columns",
    "raw",
    "read_articles",
    "read_daemons",
    "read_instant",
    "read_outputs",
    "read_removals",
    "read_state",
    "removal_columns",
]


@dataclass(frozen=True, slots=True)
class StoredRemoval:
    """An article that left a slug (deleted, or renamed away)."""

    uid: object
    slug: object
    removed_at: datetime | None
    deleted: bool


def read_instant(value: object) -> datetime:
    """A stored date as an aware UTC datetime; ValueError if it is none.

    PostgreSQL hands back aware datetimes. SQLite holds whatever a writer sent:
    feeder's own naive UTC text, or another tool's ISO 8601 with a 'T', a 'Z'
    or an offset, or Unix seconds; each is read as the instant it names.
    """
    if type(value) is str:
        # Feeder's own naive UTC text, the common case: parsed again as UTC rather than
        # given the zone with replace(), which takes five times as long as a parse.
        try:
            parsed = datetime.fromisoformat(value)
            if parsed.tzinfo is None:
                return datetime.fromisoformat(value + "+00:00")
        except ValueError:
            pass  # the long way: spaces around it, or a date alone
    try:
        if isinstance(value, datetime):
            return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(value, UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.strip())
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise ValueError(f"{_shown(value)} is not a date and time")


def _shown(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def raw(column: Any) -> ColumnElement[Any]:
    """``column`` selected as stored, without its type's conversion."""
    return type_coerce(column, NullType()).label(column.key)


_A = Article.__table__.c
_AU = Author.__table__.c
_DATES = ("published_at", "updated_at", "created_at")


def article_columns() -> Select[Any]:
    """A select of every article column (dates as stored) and its author's fields."""
    return select(
        _A.pk,
        _A.uid,
        _A.slug,
        _A.title,
        _A.link,
        _A.summary,
        _A.content,
        _A.revision,
        _A.word_count,
        _A.content_hash,
        _A.content_seal,
        *(raw(_A[name]) for name in _DATES),
        _AU.name.label("author_name"),
        _AU.email.label("author_email"),
        _AU.uri.label("author_uri"),
    ).select_from(Article.__table__.outerjoin(Author.__table__, _A.author_pk == _AU.pk))


_ARTICLE_KEYS = tuple(column.key for column in article_columns().selected_columns)


def read_articles(connection: Connection, query: Select[Any]) -> list[StoredArticle]:
    """The records of ``query`` (built on :func:`article_columns`), in its order."""
    result = connection.execute(query)
    if tuple(result.keys()) != _ARTICLE_KEYS:
        raise ValueError(f"not a query of article_columns(): {tuple(result.keys())}")
    # Plain tuples: a row's fields by name cost ten times what they do by position.
    rows = [tuple(row) for row in result.fetchall()]
    if not rows:
        return []
    tags: dict[int, list[tuple[object, object]]] = {row[0]: [] for row in rows}
    for article_pk, slug, name in connection.execute(
        select(article_tags.c.article_pk, Tag.__table__.c.slug, Tag.__table__.c.name)
        .join(Tag.__table__, Tag.__table__.c.pk == article_tags.c.tag_pk)
        .where(article_tags.c.article_pk.in_(list(tags)))
        .order_by(article_tags.c.article_pk, Tag.__table__.c.slug)
    ).all():
        tags[article_pk].append((slug, name))
    media, episodes = _media(connection, list(tags))
    return [
        _record(row, tuple(tags[row[0]]), tuple(media.get(row[0], ())), episodes.get(row[0]))
        for row in rows
    ]


_M = ArticleMedia.__table__.c
_E = ArticleEpisode.__table__.c


def _media(
    connection: Connection, pks: list[int]
) -> tuple[dict[int, list[StoredMedia]], dict[int, StoredEpisode]]:
    """The media rows and episode fields of the articles ``pks``, values as stored.

    Selected without their types' conversions: another program may have put text
    in a number column, and that must fail its article, not the query.
    """
    media: dict[int, list[StoredMedia]] = {}
    for row in connection.execute(
        select(
            _M.article_pk,
            *(raw(_M[name]) for name in ("role", "url", "file", "media_type", "length")),
        )
        .where(_M.article_pk.in_(pks))
        .order_by(_M.article_pk, _M.role, _M.position)
    ):
        media.setdefault(row.article_pk, []).append(
            StoredMedia(row.role, row.url, row.file, row.media_type, row.length)
        )
    episodes = {
        row.article_pk: StoredEpisode(row.duration, row.number, row.season, row.episode_type)
        for row in connection.execute(
            select(
                _E.article_pk,
                *(raw(_E[name]) for name in ("duration", "number", "season", "episode_type")),
            ).where(_E.article_pk.in_(pks))
        )
    }
    return media, episodes


def _record(
    row: tuple[Any, ...],
    tags: tuple[tuple[object, object], ...],
    media: tuple[StoredMedia, ...] = (),
    episode: StoredEpisode | None = None,
) -> StoredArticle:
    (
        pk,
        uid,
        slug,
        title,
        link,
        summary,
        content,
        revision,
        word_count,
        content_hash,
        content_seal,
        published_at,
        updated_at,
        created_at,
        author_name,
        author_email,
        author_uri,
    ) = row
    problems: list[str] = []
    dates: list[datetime | None] = []
    for name, value in zip(_DATES, (published_at, updated_at, created_at), strict=True):
        try:
            dates.append(read_instant(value))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
            dates.append(None)
    author = None if author_name is None else StoredPerson(author_name, author_email, author_uri)
    return StoredArticle(
        pk=pk,
        uid=uid,
        slug=slug,
        title=title,
        link=link,
        summary=summary,
        content=content,
        author=author,
        tags=tags,
        published_at=dates[0],
        updated_at=dates[1],
        created_at=dates[2],
        revision=revision,
        problems=tuple(problems),
        published_key=published_at,
        word_count=word_count,
        content_hash=content_hash,
        content_seal=content_seal,
        media=media,
        episode=episode,
    )


def read_removals(connection: Connection, query: Select[Any]) -> list[StoredRemoval]:
    removals = []
    for uid, slug, removed_at, deleted in connection.execute(query):
        try:
            when: datetime | None = read_instant(removed_at)
        except ValueError:
            when = None
        removals.append(StoredRemoval(uid, slug, when, bool(deleted)))
    return removals


def removal_columns() -> Select[Any]:
    r = Removal.__table__.c
    return select(r.uid, r.slug, raw(r.removed_at), r.deleted)


@dataclass(frozen=True, slots=True)
class StateRecord:
    """The site's state row: its revision counter and when the site was made."""

    revision: int
    created_at: datetime
    #: The secret that articles' content seals are keyed with (migration 0007).
    seal_key: str | None = None


_STATE_FIELDS = tuple(StateRecord.__dataclass_fields__)


def read_state(connection: Connection, pk: int) -> StateRecord:
    table = State.__table__
    row = connection.execute(
        select(*(table.c[name] for name in _STATE_FIELDS)).where(table.c.pk == pk)
    ).one_or_none()
    if row is None:
        raise LookupError("the database has no state row")
    return StateRecord(*row)


@dataclass(frozen=True, slots=True)
class BuildState:
    """What a build of one output directory starts from: the site now, and what it got.

    An output never built (or one that fell too far behind, see
    :func:`db.writes.record_build`) has ``built_revision`` -1: a full build.
    """

    revision: int
    created_at: datetime
    built_revision: int = -1
    built_until: datetime | None = None
    built_settings: str | None = None
    #: The secret that content seals are keyed with (migration 0007).
    seal_key: str | None = None


@dataclass(frozen=True, slots=True)
class OutputRecord:
    """One ``outputs`` row: an output directory, what it last got, who writes it now."""

    id: str
    path: str | None
    host: str | None
    created_at: datetime
    seen_at: datetime
    built_revision: int
    built_at: datetime | None
    built_until: datetime | None
    built_settings: str | None
    build_seconds: float | None
    build_result: str | None
    last_error: str | None
    last_error_at: datetime | None
    writer: str | None
    writer_token: str | None
    writing_since: datetime | None


@dataclass(frozen=True, slots=True)
class DaemonRecord:
    """One ``daemons`` row: a ``feeder run`` process and what it last said."""

    id: str
    output_id: str | None
    output_dir: str
    host: str
    pid: int
    role: str
    version: str
    started_at: datetime
    heartbeat: datetime
    last_error: str | None = None
    last_error_at: datetime | None = None


def read_outputs(connection: Connection, query: Select[Any]) -> list[OutputRecord]:
    return [OutputRecord(*row) for row in connection.execute(query)]


def output_columns() -> Select[Any]:
    table = Output.__table__
    return select(*(table.c[name] for name in OutputRecord.__dataclass_fields__))


def read_daemons(connection: Connection, query: Select[Any]) -> list[DaemonRecord]:
    return [DaemonRecord(*row) for row in connection.execute(query)]


def daemon_columns() -> Select[Any]:
    table = Daemon.__table__
    return select(*(table.c[name] for name in DaemonRecord.__dataclass_fields__))
