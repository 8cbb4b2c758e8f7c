"""The human side: an index page and one page per article, plain HTML5."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from html import escape

from feeder._content import reading_minutes, word_count
from feeder._text import clean_line, clean_text
from feeder.entries import Enclosure, Entry, FeedLink, SiteInfo

__all__ = ["MEDIA_TYPE", "Listing", "render_article", "render_group", "render_index"]

MEDIA_TYPE = "text/html"

_STYLE = (
    "body{font:1.05rem/1.6 system-ui,sans-serif;max-width:42rem;margin:2rem auto;padding:0 1rem;"
    "color:#222}a{color:#0645ad}header,footer{color:#555}ol{padding-left:1.2rem}"
    "li{margin:.4rem 0}time{color:#666;font-size:.9em}img{max-width:100%}"
    "pre{overflow:auto;background:#f6f6f6;padding:.6rem}"
)


def _text(value: str) -> str:
    return escape(clean_text(value), quote=True)


def _line(value: str) -> str:
    """A title or a name, isolated: its direction does not reorder what is beside it."""
    return _isolated(clean_line(value))


def _isolated(value: str) -> str:
    """:func:`_line` for a text that is clean already (an entry's: see Entry)."""
    return f"<bdi>{escape(value, quote=True)}</bdi>"


def _date(value: datetime) -> str:
    iso = value.isoformat()
    # strftime("%Y-%m-%d %H:%M") for years of four digits, in a tenth of the time.
    shown = f"{iso[:10]} {iso[11:16]}" if value.year >= 1000 else value.strftime("%Y-%m-%d %H:%M")
    return f'<time datetime="{iso}">{shown} UTC</time>'


@lru_cache(maxsize=256)  # the same few lists on every page of a build
def _alternates(feeds: tuple[FeedLink, ...]) -> str:
    return "".join(
        f'<link rel="alternate" type="{feed.media_type}" title="{_text(feed.title)}" '
        f'href="{_text(feed.url)}">\n'
        for feed in feeds
    )


def _head(site: SiteInfo, title: str, feeds: Sequence[FeedLink] = ()) -> str:
    links = _alternates((*feeds, *site.feeds))
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="{_text(site.language)}">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{_text(title)}</title>\n{links}<style>{_STYLE}</style>\n</head>\n<body>\n"
    )


def _feed_list(feeds: Sequence[FeedLink]) -> str:
    return _feed_items(tuple(feeds))


@lru_cache(maxsize=256)
def _feed_items(feeds: tuple[FeedLink, ...]) -> str:
    items = "".join(
        f'<li><a href="{_text(feed.url)}">{_text(feed.title)}</a> '
        f"<code>{_text(feed.url)}</code></li>\n"
        for feed in feeds
    )
    return f"<ul>\n{items}</ul>\n"


def _entries(entries: Sequence[Entry]) -> str:
    latest = "".join(
        f'<li><a href="{escape(entry.url, quote=True)}">{_isolated(entry.title)}</a> '
        f"{_date(entry.published)}</li>\n"
        for entry in entries
    )
    return f"<ol>\n{latest}</ol>\n" if latest else "<p>Nothing published yet.</p>\n"


@dataclass(frozen=True)
class Listing:
    """A page of feeds and pages one can follow: tags or authors, with their addresses."""

    heading: str
    #: (name, URL of its page, its feeds as (short format name, feed)), e.g. ("RSS", ...)
    links: tuple[tuple[str, str, tuple[tuple[str, FeedLink], ...]], ...]


def render_index(
    site: SiteInfo,
    entries: Sequence[Entry],
    listings: Sequence[Listing] = (),
    opml: str | None = None,
) -> bytes:
    """The home page: feeds to subscribe to, the latest articles, and what else to follow."""
    more = "".join(
        f"<h2>{_text(listing.heading)}</h2>\n<ul>\n"
        + "".join(
            f'<li><a href="{_text(url)}">{_line(name)}</a>'
            + "".join(
                f' <a href="{_text(feed.url)}" type="{_text(feed.media_type)}" '
                f'title="{_text(feed.title)}">{_text(short)}</a>'
                for short, feed in feeds
            )
            + "</li>\n"
            for name, url, feeds in links
        )
        + "</ul>\n"
        for listing in listings
        if (links := listing.links)
    )
    every = (
        f'<p>Every feed of this site, for a feed reader to import: <a href="{_text(opml)}">'
        f"<code>{_text(opml)}</code></a> (OPML)</p>\n"
        if opml
        else ""
    )
    body = (
        f'<header><h1 dir="auto">{_text(site.title)}</h1>\n'
        + (f'<p dir="auto">{_text(site.description)}</p>\n' if site.description else "")
        + "</header>\n<main>\n<h2>Subscribe</h2>\n"
        + _feed_list(site.feeds)
        + every
        + "<h2>Latest articles</h2>\n"
        + _entries(entries)
        + more
        + "</main>\n"
    )
    return (_head(site, site.title) + body + "</body>\n</html>\n").encode()


def render_group(
    site: SiteInfo,
    title: str,
    description: str,
    feeds: Sequence[FeedLink],
    entries: Sequence[Entry],
) -> bytes:
    """The page of one tag or author: its feeds and its newest articles."""
    body = (
        f'<header><p><a href="{_text(site.home_url)}">{_text(site.title)}</a></p>\n'
        f'<h1 dir="auto">{_text(clean_line(title))}</h1>\n'
        f'<p dir="auto">{_text(description)}</p></header>\n<main>\n<h2>Subscribe</h2>\n'
        + _feed_list(feeds)
        + "<h2>Latest articles</h2>\n"
        + _entries(entries)
        + "</main>\n"
    )
    return (_head(site, clean_line(title), feeds) + body + "</body>\n</html>\n").encode()


def _size(length: int | None) -> str:
    if length is None:
        return ""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if length >= scale:
            return f", {length / scale:.1f} {unit}"
    return f", {length} bytes"


def _media(enclosures: Sequence[Enclosure]) -> str:
    """A player for the first audio or video file, and a link to every file."""
    if not enclosures:
        return ""
    player = ""
    for enclosure in enclosures:
        kind = clean_text(enclosure.media_type).split("/", 1)[0]
        if kind in ("audio", "video"):
            source = _text(enclosure.url)
            player = f'<p><{kind} controls preload="none" src="{source}"></{kind}></p>\n'
            break
    links = "".join(
        f'<li><a href="{_text(e.url)}">{_text(e.url.rsplit("/", 1)[-1] or e.url)}</a> '
        f"({_text(e.media_type)}{_size(e.length)})</li>\n"
        for e in enclosures
    )
    return f'<section class="media">\n{player}<ul>\n{links}</ul>\n</section>\n'


def render_article(site: SiteInfo, entry: Entry) -> bytes:
    """A page for one article; its content is trusted to be sanitised already."""
    meta = [f"Published {_date(entry.published)}"]
    if entry.updated > entry.published:
        meta.append(f"updated {_date(entry.updated)}")
    if entry.author is not None:
        meta.append(f"by {_isolated(entry.author.name)}")
    words = entry.words if entry.words is not None else word_count(entry.content or entry.summary)
    length = f" · {words:,} words, {reading_minutes(words)} min read" if words else ""
    tags = ", ".join(_isolated(tag.name) for tag in entry.tags)
    body = (
        f'<header><p><a href="{_text(site.home_url)}">{_text(site.title)}</a></p></header>\n'
        f'<main>\n<article dir="auto">\n<h1 dir="auto">{escape(entry.title, quote=True)}</h1>\n'
        f"<p>{', '.join(meta)}{length}</p>\n"
        + (f"<p>Tags: {tags}</p>\n" if tags else "")
        + f"{entry.content or '<p>' + escape(entry.summary, quote=True) + '</p>'}\n"
        + _media(entry.enclosures)
        + "</article>\n</main>\n<footer>\n<p>Subscribe:</p>\n"
        + _feed_list(site.feeds)
        + "</footer>\n"
    )
    return (_head(site, f"{entry.title} – {site.title}") + body + "</body>\n</html>\n").encode()
