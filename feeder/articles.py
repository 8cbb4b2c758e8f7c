"""Articles as the Python API hands them out: frozen, plain, timezone-aware."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feeder._content import reading_minutes, word_count
from feeder.entries import Enclosure, Episode, Person, TagRef

__all__ = ["Article", "Tombstone"]


@dataclass(frozen=True)
class Article:
    """One stored article. ``id`` is its permanent feed id; ``url`` where readers land."""

    id: str
    slug: str
    title: str
    link: str | None
    url: str
    summary: str
    content: str
    author: Person | None
    tags: tuple[TagRef, ...]
    published_at: datetime
    updated_at: datetime
    created_at: datetime
    #: Media files attached to it (RSS enclosures, Atom enclosure links, JSON attachments).
    enclosures: tuple[Enclosure, ...] = ()
    #: Podcast episode fields, transcripts and chapters (None when it has none).
    episode: Episode | None = None

    def is_scheduled(self, now: datetime) -> bool:
        """Whether the article is still waiting for its publication instant."""
        return self.published_at > now

    @property
    def word_count(self) -> int:
        return word_count(self.content)

    @property
    def reading_minutes(self) -> int:
        return reading_minutes(self.word_count)

    def to_dict(self, now: datetime | None = None) -> dict[str, Any]:
        """JSON-ready fields; datetimes as RFC 3339 strings."""
        data: dict[str, Any] = {
            "id": self.id,
            "slug": self.slug,
            "title": self.title,
            "link": self.link,
            "url": self.url,
            "summary": self.summary,
            "author": None
            if self.author is None
            else {
                "name": self.author.name,
                "email": self.author.email,
                "uri": self.author.uri,
            },
            "tags": [tag.name for tag in self.tags],
            "published": self.published_at.isoformat(),
            "updated": self.updated_at.isoformat(),
            "created": self.created_at.isoformat(),
            "word_count": self.word_count,
            "reading_minutes": self.reading_minutes,
            "enclosures": [_media(item) for item in self.enclosures],
            "episode": None if self.episode is None else _episode(self.episode),
        }
        if now is not None:
            data["status"] = "scheduled" if self.is_scheduled(now) else "published"
        return data


def _media(item: Enclosure) -> dict[str, Any]:
    return {"url": item.url, "type": item.media_type, "length": item.length}


def _episode(episode: Episode) -> dict[str, Any]:
    return {
        "duration": episode.duration,
        "episode": episode.number,
        "season": episode.season,
        "episode_type": episode.type,
        "transcripts": [_media(item) for item in episode.transcripts],
        "chapters": None if episode.chapters is None else _media(episode.chapters),
    }


@dataclass(frozen=True)
class Tombstone:
    """What is left of a deleted article: the notice feeds give readers (RFC 6721).

    ``feeds`` names where the notice goes: ``"site"``, ``"tag:<slug>"`` and
    ``"author:<name>"``, the feeds the article was in when it was deleted (none
    when it was never published). ``expires_at``: when it leaves them (None when
    ``feeds.tombstone_days`` is 0 or no feed is in Atom).
    """

    id: str
    slug: str
    deleted_at: datetime
    comment: str | None
    feeds: tuple[str, ...]
    expires_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields; datetimes as RFC 3339 strings."""
        return {
            "id": self.id,
            "slug": self.slug,
            "deleted": self.deleted_at.isoformat(),
            "comment": self.comment,
            "feeds": list(self.feeds),
            "expires": None if self.expires_at is None else self.expires_at.isoformat(),
        }
