"""What both feedgen-based renderers share."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from feedgen.feed import FeedGenerator

from feeder._text import clean_text
from feeder.entries import Channel, Entry, Person

GENERATOR = "feeder"
GENERATOR_URI = "https://pypi.org/project/feeder/"


def utc(value: datetime) -> datetime:
    """Refuse naive datetimes here, with a message, before feedgen does without one."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} reached the renderer")
    return value.astimezone(UTC)


def person(value: Person) -> dict[str, Any]:
    data: dict[str, Any] = {"name": clean_text(value.name)}
    if value.email:
        data["email"] = clean_text(value.email)
    if value.uri:
        data["uri"] = clean_text(value.uri)
    return data


def generator(channel: Channel) -> FeedGenerator:
    """A FeedGenerator with every channel field set, ``updated`` included."""
    fg = FeedGenerator()
    fg.id(clean_text(channel.id))
    fg.title(clean_text(channel.title))
    # feedgen takes RSS <link> from the last link added: the site's (alternate) goes last.
    links = [link for link in channel.links if link.rel != "alternate"]
    links += [link for link in channel.links if link.rel == "alternate"]
    for link in links:
        extra = {"type": link.media_type} if link.media_type else {}
        fg.link(href=clean_text(link.href), rel=link.rel, **extra)
    fg.language(clean_text(channel.language))
    # feedgen would otherwise stamp "now" into every build.
    fg.updated(utc(channel.updated))
    fg.lastBuildDate(utc(channel.updated))
    fg.generator(GENERATOR, uri=GENERATOR_URI)
    return fg


def summary_of(entry: Entry) -> str:
    return clean_text(entry.summary) or clean_text(entry.title)
