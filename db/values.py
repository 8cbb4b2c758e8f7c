"""The plain values storage hands out, with nothing of SQLAlchemy in them.

They cross to worker processes (a full build renders pages and feeds there),
which import this module and not the database machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "EpisodeValues",
    "MediaValues",
    "Selection",
    "StoredArticle",
    "StoredEpisode",
    "StoredMedia",
    "StoredPerson",
]


@dataclass(frozen=True)
class Selection:
    """Which published articles: all of them, those with a tag, or those by an author.

    Each is an index range scan on (its key, published_at, pk), newest first.
    """

    tag: str | None = None  # a tag slug
    author: str | None = None  # an author name

    def __post_init__(self) -> None:
        if self.tag is not None and self.author is not None:
            raise ValueError("a selection is by tag or by author, not both")


@dataclass(frozen=True, slots=True)
class StoredPerson:
    name: object
    email: object
    uri: object

    def __reduce__(self) -> tuple[type[StoredPerson], tuple[object, ...]]:
        return StoredPerson, (self.name, self.email, self.uri)


@dataclass(frozen=True, slots=True)
class StoredMedia:
    """One ``article_media`` row (an enclosure, a transcript, chapters), as stored."""

    role: object
    url: object
    file: object
    media_type: object
    length: object

    def __reduce__(self) -> tuple[type[StoredMedia], tuple[object, ...]]:
        return StoredMedia, (self.role, self.url, self.file, self.media_type, self.length)


@dataclass(frozen=True, slots=True)
class StoredEpisode:
    """An ``article_episodes`` row, as stored."""

    duration: object
    number: object
    season: object
    episode_type: object

    def __reduce__(self) -> tuple[type[StoredEpisode], tuple[object, ...]]:
        return StoredEpisode, (self.duration, self.number, self.season, self.episode_type)


@dataclass(frozen=True, slots=True)
class StoredArticle:
    """One ``articles`` row and its author and tags, exactly as stored."""

    pk: int
    uid: object
    slug: object
    title: object
    link: object
    summary: object
    content: object
    author: StoredPerson | None
    tags: tuple[tuple[object, object], ...]  # (slug, name), by slug
    published_at: datetime | None
    updated_at: datetime | None
    created_at: datetime | None
    revision: int
    #: What storage could not read, one line each (e.g. a date that is no date).
    problems: tuple[str, ...] = ()
    #: ``published_at`` as stored: where a keyset page of newest-first rows resumes.
    published_key: Any = None
    #: What feeder derived from the content when it wrote it (migration 0007), as stored.
    word_count: object = None
    content_hash: object = None
    content_seal: object = None
    #: Its media files by role, then position.
    media: tuple[StoredMedia, ...] = ()
    episode: StoredEpisode | None = None

    def __reduce__(self) -> tuple[type[StoredArticle], tuple[object, ...]]:
        # Records cross to worker processes by the thousand (a full build's pages):
        # a plain tuple pickles in half the time a slotted dataclass does by default.
        return StoredArticle, (
            self.pk, self.uid, self.slug, self.title, self.link, self.summary, self.content,
            self.author, self.tags, self.published_at, self.updated_at, self.created_at,
            self.revision, self.problems, self.published_key, self.word_count,
            self.content_hash, self.content_seal, self.media, self.episode,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class MediaValues:
    """One media file of an article: ``url`` (hosted elsewhere) or ``file`` (in the store)."""

    role: str  # "enclosure", "transcript", "chapters"
    url: str | None
    file: str | None
    media_type: str
    length: int | None


@dataclass(frozen=True, slots=True)
class EpisodeValues:
    duration: int | None = None
    number: int | None = None
    season: int | None = None
    episode_type: str | None = None
