"""The stored data: articles, their authors and tags, removals and site state.

Nothing here knows what a feed is; ``feeder`` turns these rows into feeds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from db.types import UTCDateTime


class Base(DeclarativeBase):
    pass


article_tags = Table(
    "article_tags",
    Base.metadata,
    Column("article_pk", ForeignKey("articles.pk", ondelete="CASCADE"), primary_key=True),
    Column("tag_pk", ForeignKey("tags.pk", ondelete="CASCADE"), primary_key=True),
    # The article's publication instant, copied here (and kept equal by triggers) so
    # that a tag's newest articles are one range of an index.
    Column("published_at", UTCDateTime()),
    Index("ix_article_tags_published", "tag_pk", "published_at", "article_pk"),
)


class Author(Base):
    __tablename__ = "authors"

    pk: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(500), unique=True)
    email: Mapped[str | None] = mapped_column(String(500))
    uri: Mapped[str | None] = mapped_column(String(2000))


class Tag(Base):
    __tablename__ = "tags"

    pk: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    name: Mapped[str] = mapped_column(String(200))


class Article(Base):
    __tablename__ = "articles"

    pk: Mapped[int] = mapped_column(primary_key=True)
    # The public, immutable identity (Atom id / RSS guid). Minted once.
    uid: Mapped[str] = mapped_column(String(2000), unique=True)
    slug: Mapped[str] = mapped_column(String(200), unique=True)
    title: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(2000))
    summary: Mapped[str] = mapped_column(Text, default="")
    content: Mapped[str] = mapped_column(Text, default="")
    author_pk: Mapped[int | None] = mapped_column(ForeignKey("authors.pk", ondelete="SET NULL"))
    published_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Value of the site revision counter when this row last changed (another program
    # may leave it out: db/changes.py gives its rows a new revision).
    revision: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    # Derived from content when feeder writes it (migration 0007): the words of its
    # visible text, the hash of the content they were counted from (a count is used
    # only while it matches), and a seal saying feeder's sanitiser wrote the content.
    word_count: Mapped[int | None] = mapped_column(Integer)
    content_hash: Mapped[str | None] = mapped_column(String(32))
    content_seal: Mapped[str | None] = mapped_column(String(32))

    author: Mapped[Author | None] = relationship(lazy="joined")
    tags: Mapped[list[Tag]] = relationship(
        secondary=article_tags, order_by=lambda: Tag.slug, lazy="selectin"
    )

    __table_args__ = (
        # Newest-first listing and the next-due lookup are both range scans on this.
        Index("ix_articles_published", "published_at", "pk"),
        Index("ix_articles_author_published", "author_pk", "published_at", "pk"),
        Index("ix_articles_revision", "revision"),
    )


class ArticleMedia(Base):
    """A media file of an article: an enclosure, a transcript or a chapters file (0006).

    Either ``url`` (hosted elsewhere) or ``file`` (``<hash>/<name>`` in the site's
    media store, published under ``media/``) is set.
    """

    __tablename__ = "article_media"

    pk: Mapped[int] = mapped_column(primary_key=True)
    article_pk: Mapped[int] = mapped_column(ForeignKey("articles.pk", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(20))  # "enclosure", "transcript", "chapters"
    position: Mapped[int] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(String(2000))
    file: Mapped[str | None] = mapped_column(String(300))
    media_type: Mapped[str] = mapped_column(String(255))
    length: Mapped[int | None] = mapped_column(BigInteger)

    __table_args__ = (
        Index("ix_article_media_article", "article_pk", "role", "position", unique=True),
    )


class ArticleEpisode(Base):
    """The podcast episode fields of an article that has any (0006)."""

    __tablename__ = "article_episodes"

    article_pk: Mapped[int] = mapped_column(
        ForeignKey("articles.pk", ondelete="CASCADE"), primary_key=True
    )
    duration: Mapped[int | None] = mapped_column(Integer)  # seconds
    number: Mapped[int | None] = mapped_column(Integer)
    season: Mapped[int | None] = mapped_column(Integer)
    episode_type: Mapped[str | None] = mapped_column(String(20))


class PodcastGuid(Base):
    """A feed's podcast:guid, minted once from its URL and kept when the URL moves (0006)."""

    __tablename__ = "podcast_guids"

    path: Mapped[str] = mapped_column(String(500), primary_key=True)  # in the output directory
    guid: Mapped[str] = mapped_column(String(36))
    seed: Mapped[str] = mapped_column(String(2000))  # the feed URL it was minted from
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Removal(Base):
    """An article that left the site (deleted, or renamed away from a slug).

    Kept so that builds can remove stale pages, and so that deletion
    tombstones can be published later.
    """

    __tablename__ = "removals"

    pk: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(2000))
    slug: Mapped[str] = mapped_column(String(200))
    removed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revision: Mapped[int] = mapped_column(Integer, index=True)
    deleted: Mapped[bool] = mapped_column(Boolean, default=True)
    # Why it was deleted, for feed readers (RFC 6721 at:comment); see migration 0010.
    comment: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        # A tombstone is the newest deletion of its id; the live ones are a range of dates.
        Index("ix_removals_uid", "uid"),
        Index("ix_removals_removed_at", "removed_at"),
    )


class RemovalSelection(Base):
    """A feed a deleted article was in: its tombstone goes there (see migration 0010).

    ``kind`` is "site" (key ""), "tag" (the tag's slug) or "author" (the name).
    """

    __tablename__ = "removal_selections"

    removal_pk: Mapped[int] = mapped_column(
        ForeignKey("removals.pk", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(10), primary_key=True)
    key: Mapped[str] = mapped_column(String(500), primary_key=True)

    __table_args__ = (Index("ix_removal_selections_key", "kind", "key", "removal_pk"),)


class SelectionChange(Base):
    """A selection that a write took an article away from (migrations 0004 and 0005).

    With ``published_at`` and ``article_pk``: where in the selection the article
    was before the write (its key as stored), so the range it left is known.
    """

    __tablename__ = "selection_changes"

    pk: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "site", "tag" or "author"
    key: Mapped[str] = mapped_column(String(500))  # "", the tag's slug, the author's name
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    article_pk: Mapped[int | None] = mapped_column(Integer)


class ArchivePage(Base):
    """Where one closed page of a selection ends, or (no key) that its pages are out.

    See migration 0005: a closed page keeps its last key for good.
    """

    __tablename__ = "archive_pages"

    kind: Mapped[str] = mapped_column(String(10), primary_key=True)  # as in selection_changes
    key: Mapped[str] = mapped_column(String(500), primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    size: Mapped[int] = mapped_column(Integer)
    last_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_pk: Mapped[int | None] = mapped_column(Integer)


class State(Base):
    """One row per site: the revision counter, bumped by every write.

    Every write to articles bumps ``revision`` in the same transaction, so
    "did anything change?" is a single primary-key read. Nothing else writes
    this row: what each output directory got is in ``outputs``, and each
    daemon's heartbeat in ``daemons`` (migration 0011), so writers and
    daemons never wait for one another on it.
    """

    __tablename__ = "state"

    pk: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # The secret that articles' content seals are keyed with (migration 0007).
    seal_key: Mapped[str | None] = mapped_column(String(64))


class Output(Base):
    """One published output directory: what it last got, and who writes it now.

    Keyed by the id in the directory's ``.feeder-output`` file, so daemons that
    share a directory share a row, and directories that merely have the same
    path on different hosts do not. Only the builds of that directory write it.
    """

    __tablename__ = "outputs"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    # Where the last build of it ran, for people reading ``feeder status``.
    path: Mapped[str | None] = mapped_column(String(2000))
    host: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Last time a build of it started: an output not seen for long stops holding
    # back the bookkeeping that incremental builds read.
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    built_revision: Mapped[int] = mapped_column(Integer, default=-1)
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Publication instant up to which the last build included articles.
    built_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Fingerprint of the settings the last complete full build rendered with.
    built_settings: Mapped[str | None] = mapped_column(String(64))
    build_seconds: Mapped[float | None] = mapped_column(Float)
    build_result: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The build that holds the directory now (set before its first file operation,
    # cleared when it ends): a build that finds another's mark waits out its lease.
    writer: Mapped[str | None] = mapped_column(String(500))
    writer_token: Mapped[str | None] = mapped_column(String(64))
    writing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Daemon(Base):
    """One ``feeder run`` process: which directory it publishes or stands by for."""

    __tablename__ = "daemons"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    output_id: Mapped[str | None] = mapped_column(String(64))
    output_dir: Mapped[str] = mapped_column(String(2000))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(10))  # "leader" or "standby"
    version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    heartbeat: Mapped[datetime] = mapped_column(UTCDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebSubPing(Base):
    """What one WebSub hub was last told about one feed (see migration 0009).

    ``owed_since`` is set while a change of the feed has not reached the hub; a
    ping that could not be sent is sent again by a later build.
    """

    __tablename__ = "websub_pings"

    hub: Mapped[str] = mapped_column(String(2000), primary_key=True)
    topic: Mapped[str] = mapped_column(String(2000), primary_key=True)
    owed_since: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Failed attempts since the change was owed.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_ok_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The failure not made good since (cleared when the hub takes a ping for the feed).
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def _length(table: Table, column: str) -> int:
    length = getattr(table.c[column].type, "length", None)
    assert isinstance(length, int)
    return length


#: How many characters each limited field holds (PostgreSQL refuses more).
LIMITS: dict[str, int] = {
    "id": _length(Base.metadata.tables["articles"], "uid"),
    "slug": _length(Base.metadata.tables["articles"], "slug"),
    "link": _length(Base.metadata.tables["articles"], "link"),
    "author": _length(Base.metadata.tables["authors"], "name"),
    "author email": _length(Base.metadata.tables["authors"], "email"),
    "author uri": _length(Base.metadata.tables["authors"], "uri"),
    "tag": _length(Base.metadata.tables["tags"], "name"),
    "media url": _length(Base.metadata.tables["article_media"], "url"),
    "media file": _length(Base.metadata.tables["article_media"], "file"),
    "media type": _length(Base.metadata.tables["article_media"], "media_type"),
}
