"""Which feeds a site publishes: each is a selection of entries plus a format.

A selection says which articles (the newest of all of them today; by tag and
by author next) and reaches the database as a query of its own, an index
range scan; a format says how a feed document is written. A build runs one
query per selection and renders it in each of its formats.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from db import Selection
from feeder.config import Config
from feeder.entries import Channel, Entry, FeedLink, Link, Person, SiteInfo
from feeder.publishing import render
from feeder.publishing.render import atom as _atom
from feeder.publishing.render import rss as _rss

__all__ = [
    "FORMATS",
    "LATEST",
    "FeedDocument",
    "FeedFormat",
    "FeedSpec",
    "Selection",
    "channel_for",
    "site_feeds",
    "site_info",
]

#: Every published article, newest first.
LATEST = Selection()


@dataclass(frozen=True)
class FeedDocument:
    """Everything a format may need to write one feed (tombstones and archives come here)."""

    channel: Channel
    entries: Sequence[Entry] = field(default_factory=tuple)


Renderer = Callable[[FeedDocument], bytes]


@dataclass(frozen=True)
class FeedFormat:
    name: str
    label: str
    media_type: str
    render: Renderer


FORMATS: dict[str, FeedFormat] = {
    "rss": FeedFormat(
        "rss", "RSS 2.0", _rss.MEDIA_TYPE, lambda doc: render.render_rss(doc.channel, doc.entries)
    ),
    "atom": FeedFormat(
        "atom",
        "Atom 1.0",
        _atom.MEDIA_TYPE,
        lambda doc: render.render_atom(doc.channel, doc.entries),
    ),
}


@dataclass(frozen=True)
class FeedSpec:
    """One published file: where it goes, what it selects, how it is written."""

    path: str
    format: FeedFormat
    selection: Selection = LATEST


def site_feeds(config: Config) -> tuple[FeedSpec, ...]:
    return (
        FeedSpec("rss.xml", FORMATS["rss"]),
        FeedSpec("atom.xml", FORMATS["atom"]),
    )


def site_info(config: Config) -> SiteInfo:
    return SiteInfo(
        title=config.title,
        description=config.description,
        language=config.language,
        home_url=config.base_url,
        feeds=tuple(
            FeedLink(
                f"{config.title} ({spec.format.label})",
                config.url(spec.path),
                spec.format.media_type,
            )
            for spec in site_feeds(config)
        ),
    )


def channel_for(
    config: Config,
    spec: FeedSpec,
    entries: Sequence[Entry],
    *,
    site_created: datetime,
) -> Channel:
    """The channel of ``spec``; its ``updated`` is the newest entry update, else site creation."""
    updated = max((entry.updated for entry in entries), default=site_created)
    return Channel(
        id=f"tag:{config.authority},{site_created:%Y-%m-%d}:/feeds/{spec.path}",
        title=config.title,
        description=config.description,
        links=(
            Link("self", config.url(spec.path), spec.format.media_type),
            Link("alternate", config.base_url, "text/html"),
        ),
        language=config.language,
        author=Person(config.feed_author, config.author.email or None, config.author.uri or None),
        updated=updated,
    )
