"""Plain data handed to renderers: no database, no I/O, tz-aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

__all__ = ["Channel", "Entry", "FeedLink", "Link", "Person", "SiteInfo", "TagRef"]


@dataclass(frozen=True)
class Person:
    name: str
    email: str | None = None
    uri: str | None = None


@dataclass(frozen=True)
class TagRef:
    slug: str
    name: str


@dataclass(frozen=True)
class Entry:
    """One article as every feed format sees it."""

    id: str
    slug: str
    title: str
    url: str
    summary: str
    content: str
    author: Person | None
    tags: tuple[TagRef, ...]
    published: datetime
    updated: datetime
    #: Words in ``content`` as stored when it was written; None: count them.
    words: int | None = None


@dataclass(frozen=True)
class Link:
    """A link of a feed: ``self``, ``alternate`` (the site), and later ``hub``, archives."""

    rel: str
    href: str
    media_type: str | None = None


@dataclass(frozen=True)
class Channel:
    """A feed's own metadata. ``updated`` is derived from its entries, never "now"."""

    id: str
    title: str
    description: str
    links: tuple[Link, ...]
    language: str
    author: Person
    updated: datetime

    def link(self, rel: str) -> str:
        """The address of the first link with ``rel`` (every channel has self and alternate)."""
        for link in self.links:
            if link.rel == rel:
                return link.href
        raise LookupError(f"the channel has no {rel!r} link")


@dataclass(frozen=True)
class FeedLink:
    """A published feed, as pages advertise it for autodiscovery."""

    title: str
    url: str
    media_type: str


@dataclass(frozen=True)
class SiteInfo:
    """What the HTML pages show about the site."""

    title: str
    description: str
    language: str
    home_url: str
    feeds: tuple[FeedLink, ...]
