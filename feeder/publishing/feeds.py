"""Which feeds a site publishes: each is a selection of entries plus a format.

A selection says which articles (all of them, one tag's, one author's) and
reaches the database as a query of its own, an index range scan; a format
says how a feed document is written. A :class:`FeedGroup` is one selection
published in every format the site chose, with a page of its own; a build
runs one query per group and renders it in each of its formats.

Paths, titles and channel ids follow from the tag's slug or the author's
name, so they stay put as long as those do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from db import Selection
from feeder._ids import slugify
from feeder.config import Config
from feeder.entries import (
    Channel,
    DeletedEntry,
    Entry,
    FeedLink,
    Link,
    Person,
    PodcastChannel,
    SiteInfo,
)
from feeder.publishing import render
from feeder.publishing.render import atom as _atom
from feeder.publishing.render import jsonfeed as _jsonfeed
from feeder.publishing.render import rss as _rss

__all__ = [
    "FORMATS",
    "LATEST",
    "OPML",
    "STYLESHEETS",
    "FeedDocument",
    "FeedFormat",
    "FeedGroup",
    "FeedSpec",
    "Selection",
    "author_slugs",
    "channel_for",
    "feed_groups",
    "site_author",
    "site_feeds",
    "site_group",
    "site_info",
    "stylesheet_links",
]

#: Every published article, newest first.
LATEST = Selection()
OPML = "feeds.opml"
#: What feeds point browsers at, and the build copies into the output directory, for
#: each feeds.stylesheet: XSLT, with CSS where a browser no longer runs XSLT; or CSS.
STYLESHEETS = {
    "xslt": (("feed.xsl", "text/xsl"), ("feed.css", "text/css")),
    "css": (("feed.css", "text/css"),),
    "none": (),
}


@dataclass(frozen=True)
class FeedDocument:
    """Everything a format may need to write one feed (tombstones and archives come here)."""

    channel: Channel
    entries: Sequence[Entry] = field(default_factory=tuple)
    summary_only: bool = False
    #: ``<?xml-stylesheet?>`` for browsers, in order: href and type (XML formats only).
    stylesheets: tuple[Link, ...] = ()
    #: An RFC 5005 archive page (fh:archive), not the feed readers subscribe to.
    archive: bool = False
    #: Podcast mode: what the channel adds (RSS only), see feeder.publishing.podcast.
    podcast: PodcastChannel | None = None
    #: Entries deleted from this selection, newest first (RFC 6721; Atom carries them).
    tombstones: tuple[DeletedEntry, ...] = ()
    #: ``entries`` already rendered by the format's ``items`` (with this ``summary_only``
    #: and the channel's author), spliced in as they are; None: rendered here.
    items: Sequence[bytes] | None = None


Renderer = Callable[[FeedDocument], bytes]
#: Entries rendered as a format writes them inside a document: (entries, summary_only,
#: the channel's author) -> one piece per entry.
ItemRenderer = Callable[[Sequence[Entry], bool, Person], list[bytes]]


@dataclass(frozen=True)
class FeedFormat:
    name: str
    label: str
    media_type: str
    file: str  # the file name every selection uses for this format
    render: Renderer
    items: ItemRenderer

    def __reduce__(self) -> tuple[Callable[[str], FeedFormat], tuple[str]]:
        # By name: groups cross to the worker processes of a full build, and a
        # renderer (a lambda) cannot be pickled.
        return _format_named, (self.name,)


def _format_named(name: str) -> FeedFormat:
    return FORMATS[name]


FORMATS: dict[str, FeedFormat] = {
    "rss": FeedFormat(
        "rss",
        "RSS 2.0",
        _rss.MEDIA_TYPE,
        "rss.xml",
        lambda doc: render.render_rss(
            doc.channel,
            doc.entries,
            summary_only=doc.summary_only,
            stylesheets=doc.stylesheets,
            archive=doc.archive,
            podcast=doc.podcast,
            items=doc.items,
        ),
        lambda entries, summary_only, author: _rss.rss_items(
            entries, summary_only=summary_only, author=author
        ),
    ),
    "atom": FeedFormat(
        "atom",
        "Atom 1.0",
        _atom.MEDIA_TYPE,
        "atom.xml",
        lambda doc: render.render_atom(
            doc.channel,
            doc.entries,
            summary_only=doc.summary_only,
            stylesheets=doc.stylesheets,
            archive=doc.archive,
            tombstones=doc.tombstones,
            items=doc.items,
        ),
        lambda entries, summary_only, author: _atom.atom_items(
            entries, summary_only=summary_only, author=author
        ),
    ),
    "json": FeedFormat(
        "json",
        "JSON Feed 1.1",
        _jsonfeed.MEDIA_TYPE,
        "feed.json",
        lambda doc: _jsonfeed.render_json_feed(
            doc.channel,
            doc.entries,
            summary_only=doc.summary_only,
            archive=doc.archive,
            items=doc.items,
        ),
        lambda entries, summary_only, author: _jsonfeed.json_items(
            entries, summary_only=summary_only, author=author
        ),
    ),
}


@dataclass(frozen=True)
class FeedSpec:
    """One published file: where it goes, what it selects, how it is written."""

    path: str
    format: FeedFormat
    selection: Selection = LATEST


@dataclass(frozen=True)
class FeedGroup:
    """One selection in every format the site publishes, and the page that lists it."""

    kind: str  # "site", "tags" or "authors" (the names feeds.summary_only uses)
    label: str  # the tag's or the author's name ("" for the site)
    directory: str  # "" or e.g. "tags/python/", inside the output directory
    selection: Selection
    title: str
    description: str
    specs: tuple[FeedSpec, ...]
    summary_only: bool

    @property
    def page(self) -> str:
        return f"{self.directory}index.html"


def _specs(config: Config, directory: str, selection: Selection) -> tuple[FeedSpec, ...]:
    return tuple(
        FeedSpec(f"{directory}{FORMATS[name].file}", FORMATS[name], selection)
        for name in config.feeds.formats
    )


def site_group(config: Config) -> FeedGroup:
    return FeedGroup(
        kind="site",
        label="",
        directory="",
        selection=LATEST,
        title=config.title,
        description=config.description,
        specs=_specs(config, "", LATEST),
        summary_only="site" in config.feeds.summary_only,
    )


def site_feeds(config: Config) -> tuple[FeedSpec, ...]:
    """The site's own feeds (every article), one per format."""
    return site_group(config).specs


def author_slugs(authors: Iterable[tuple[int, str]]) -> dict[str, str]:
    """Each author's directory name, by name: stable, and unique in pk order.

    ``José`` and ``Jose`` both make ``jose``; the later one gets its pk after it.
    """
    slugs: dict[str, str] = {}
    taken: set[str] = set()
    for pk, name in authors:
        slug = slugify(name) or "author"
        if slug in taken:
            slug = f"{slug}-{pk}"
        taken.add(slug)
        slugs[name] = slug
    return slugs


def tag_group(config: Config, slug: str, name: str) -> FeedGroup:
    directory = f"tags/{slug}/"
    return FeedGroup(
        kind="tags",
        label=name,
        directory=directory,
        selection=Selection(tag=slug),
        title=f"{config.title}: {name}",
        description=f"Articles tagged {name} from {config.title}",
        specs=_specs(config, directory, Selection(tag=slug)),
        summary_only="tags" in config.feeds.summary_only,
    )


def author_group(config: Config, name: str, slug: str) -> FeedGroup:
    directory = f"authors/{slug}/"
    return FeedGroup(
        kind="authors",
        label=name,
        directory=directory,
        selection=Selection(author=name),
        title=f"{config.title}: {name}",
        description=f"Articles by {name} from {config.title}",
        specs=_specs(config, directory, Selection(author=name)),
        summary_only="authors" in config.feeds.summary_only,
    )


def feed_groups(
    config: Config,
    tags: Iterable[tuple[str, str]],
    authors: Iterable[str],
    slugs: Mapping[str, str],
) -> list[FeedGroup]:
    """The site's group, then one per tag (by slug) and per author, as config enables."""
    groups = [site_group(config)]
    if config.feeds.tags:
        groups += [tag_group(config, slug, name) for slug, name in tags]
    if config.feeds.authors:
        groups += [author_group(config, name, slugs[name]) for name in authors]
    return groups


def site_info(config: Config) -> SiteInfo:
    return SiteInfo(
        title=config.title,
        description=config.description,
        language=config.language,
        home_url=config.base_url,
        feeds=feed_links(config, site_group(config)),
    )


def feed_links(config: Config, group: FeedGroup) -> tuple[FeedLink, ...]:
    """The group's feeds as pages advertise them."""
    return tuple(
        FeedLink(
            f"{group.title} ({spec.format.label})", config.url(spec.path), spec.format.media_type
        )
        for spec in group.specs
    )


def stylesheet_links(config: Config) -> tuple[Link, ...]:
    """Where feeds point browsers for a readable page (paths on the site's own origin)."""
    return tuple(
        Link("stylesheet", urlsplit(config.url(name)).path, media_type)
        for name, media_type in STYLESHEETS[config.feeds.stylesheet]
    )


def channel_for(
    config: Config,
    spec: FeedSpec,
    entries: Sequence[Entry],
    *,
    site_created: datetime,
    group: FeedGroup | None = None,
) -> Channel:
    """The channel of ``spec``; its ``updated`` is the newest entry update, else site creation."""
    group = group or site_group(config)
    updated = max((entry.updated for entry in entries), default=site_created)
    return Channel(
        id=f"tag:{config.authority},{site_created:%Y-%m-%d}:/feeds/{spec.path}",
        title=group.title,
        description=group.description,
        links=(
            Link("self", config.url(spec.path), spec.format.media_type),
            Link("alternate", config.url(group.directory), "text/html"),
            # WebSub (section 4): subscribers find the hubs next to the feed's own URL.
            *(Link("hub", hub) for hub in config.websub_hub),
        ),
        language=config.language,
        author=site_author(config),
        updated=updated,
    )


def site_author(config: Config) -> Person:
    """The author of every channel (and of each entry that names none)."""
    return Person(config.feed_author, config.author.email or None, config.author.uri or None)
