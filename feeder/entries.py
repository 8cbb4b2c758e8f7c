"""Plain data handed to renderers: no database, no I/O, tz-aware UTC datetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feeder._text import clean_line, clean_text

__all__ = [
    "Channel",
    "DeletedEntry",
    "Enclosure",
    "Entry",
    "Episode",
    "FeedLink",
    "Link",
    "Media",
    "Person",
    "PodcastChannel",
    "SiteInfo",
    "TagRef",
    "clean_person",
]


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
class Media:
    """A media file to attach to an article, as given: a URL, or a local file to publish.

    ``source`` is an http(s) URL or a path. For a path, feeder reads the length
    and the type from the file and publishes a copy with the site; for a URL the
    type is guessed from its extension unless given, and ``length`` (bytes) is
    what you say it is (None: unknown, written as 0 where a format requires it).
    """

    source: str
    media_type: str | None = None
    length: int | None = None


@dataclass(frozen=True)
class Enclosure:
    """A media file of an article (an enclosure, a transcript, chapters), as published."""

    url: str
    media_type: str
    length: int | None = None  # bytes; None when unknown
    #: ``<hash>/<name>`` in the site's media store when feeder publishes the file itself
    #: (under ``media/`` in the output directory); None for a file hosted elsewhere.
    file: str | None = None


@dataclass(frozen=True)
class Episode:
    """What makes an article a podcast episode, beyond its enclosures."""

    duration: int | None = None  # seconds
    number: int | None = None
    season: int | None = None
    type: str | None = None  # "full", "trailer" or "bonus"
    transcripts: tuple[Enclosure, ...] = ()
    chapters: Enclosure | None = None


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
    enclosures: tuple[Enclosure, ...] = ()
    episode: Episode | None = None
    #: Words in ``content`` as stored when it was written; None: count them.
    words: int | None = None

    def __post_init__(self) -> None:
        # Every text of an entry is cleaned here, once (clean_text; clean_line for a
        # title or a name), and the documents that carry it (the feeds of three
        # formats, the page) write it as it is. Its media files are cleaned where
        # they are written.
        put = object.__setattr__
        for name in ("id", "url", "summary", "content"):
            value = getattr(self, name)
            if isinstance(value, str):
                put(self, name, clean_text(value))
        if isinstance(self.title, str):
            put(self, "title", clean_line(self.title))
        if self.author is not None:
            put(self, "author", clean_person(self.author))
        if self.tags:
            put(self, "tags", tuple(_clean_tag(tag) for tag in self.tags))


def clean_person(person: Person) -> Person:
    """``person`` with its name cleaned as a line and its email and URI as text (the
    same object when it is clean already): every document's rule for a person."""
    name, email, uri = (
        clean_line(person.name),
        person.email and clean_text(person.email),
        person.uri and clean_text(person.uri),
    )
    if (name, email, uri) == (person.name, person.email, person.uri):
        return person
    return Person(name, email, uri)


def _clean_tag(tag: TagRef) -> TagRef:
    slug, name = clean_text(tag.slug), clean_line(tag.name)
    return tag if (slug, name) == (tag.slug, tag.name) else TagRef(slug, name)


@dataclass(frozen=True)
class DeletedEntry:
    """An entry that was deleted, as a feed announces it (an RFC 6721 tombstone)."""

    ref: str  # the id the entry had
    when: datetime
    by: Person | None = None
    comment: str | None = None


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


@dataclass(frozen=True)
class PodcastChannel:
    """What a podcast feed adds to its channel (PSP-1: the itunes and podcast namespaces)."""

    guid: str
    image: str  # an absolute URL of the artwork
    categories: tuple[tuple[str, ...], ...]  # ("Technology",), ("Arts", "Books")
    explicit: bool
    author: str
    owner_name: str = ""
    owner_email: str = ""
    locked: bool = True
    type: str = "episodic"  # or "serial"
    complete: bool = False
    funding_url: str = ""
    funding_text: str = ""
