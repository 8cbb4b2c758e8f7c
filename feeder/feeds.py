"""Which feeds a site publishes: each is a selection of entries plus a format.

Today a site has one selection (the newest published articles) in two
formats; per-tag and per-author feeds add selections, JSON Feed adds a format,
without touching the build.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from feeder import render
from feeder.config import Config
from feeder.entries import Channel, Entry, FeedLink, Person, SiteInfo
from feeder.render import atom as _atom
from feeder.render import rss as _rss

__all__ = ["FORMATS", "FeedFormat", "FeedSpec", "channel_for", "site_feeds", "site_info"]

Renderer = Callable[[Channel, Sequence[Entry]], bytes]


@dataclass(frozen=True)
class FeedFormat:
    name: str
    label: str
    media_type: str
    render: Renderer


FORMATS: dict[str, FeedFormat] = {
    "rss": FeedFormat("rss", "RSS 2.0", _rss.MEDIA_TYPE, render.render_rss),
    "atom": FeedFormat("atom", "Atom 1.0", _atom.MEDIA_TYPE, render.render_atom),
}


@dataclass(frozen=True)
class FeedSpec:
    """One published file: where it goes, what it selects, how it is written."""

    path: str
    format: FeedFormat
    selection: str = "latest"
    title_suffix: str = ""


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
                f"{config.title}{spec.title_suffix} ({spec.format.label})",
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
        title=config.title + spec.title_suffix,
        description=config.description,
        home_url=config.base_url,
        self_url=config.url(spec.path),
        language=config.language,
        author=Person(config.feed_author, config.author.email or None, config.author.uri or None),
        updated=updated,
    )
