"""The stored data: articles, their authors and tags, removals and site state.

Nothing here knows what a feed is; ``feeder`` turns these rows into feeds.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
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
    # Value of the site revision counter when this row last changed.
    revision: Mapped[int] = mapped_column(Integer, default=0)
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


class SelectionChange(Base):
    """A tag or author that a write took an article away from (see migration 0004)."""

    __tablename__ = "selection_changes"

    pk: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(10))  # "tag" or "author"
    key: Mapped[str] = mapped_column(String(500))  # the tag's slug, the author's name


class State(Base):
    """One row per site: the revision counter and what the publisher last did.

    Every write to articles bumps ``revision`` in the same transaction, so
    "did anything change?" is a single primary-key read.
    """

    __tablename__ = "state"

    pk: Mapped[int] = mapped_column(primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
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
    daemon_pid: Mapped[int | None] = mapped_column(Integer)
    daemon_host: Mapped[str | None] = mapped_column(String(500))
    daemon_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The secret that articles' content seals are keyed with (migration 0007).
    seal_key: Mapped[str | None] = mapped_column(String(64))


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
}
