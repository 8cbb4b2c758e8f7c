"""RSS items and Atom entries written as feedgen and lxml write them, without them.

A full build renders every article's item once per format (feeder.publishing.items);
building each through feedgen's objects and lxml's tree costs several times what
writing the same text does. These functions write an ordinary entry's bytes
directly: exactly what :func:`~feeder.publishing.render.rss.render_rss` and
:func:`~feeder.publishing.render.atom.render_atom` put in a feed for it (the same
elements in the same order, the same escaping and indentation). For anything
out of the ordinary (enclosures, an empty field feedgen would refuse or leave
out, a character lxml would escape in another way) they return None and the
entry goes through feedgen. tests/test_render.py holds the two to the same bytes,
over entries made at random too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from feeder._text import clean_line
from feeder.entries import Entry, Person
from feeder.publishing.render._common import (
    body_html,
    iso_utc,
    summary_html,
    summary_of,
    utc,
)

__all__ = ["atom_entry", "either", "rss_item"]

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _Unusual(Exception):
    """An entry these functions leave to feedgen."""


def _text(value: str) -> str:
    if "\r" in value:
        raise _Unusual
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    if any(c in value for c in "\r\n\t<>"):
        raise _Unusual
    return value.replace("&", "&amp;").replace('"', "&quot;")


def _rss_title(value: str) -> str:
    # As render_rss leaves titles: "<" and "&" as the RSS Best Practices Profile asks.
    if "\r" in value:
        raise _Unusual
    return value.replace("&", "&#x26;").replace("<", "&#x3C;").replace(">", "&gt;")


def _rfc2822(value: datetime) -> str:
    """What feedgen writes (strftime in the C locale), for years of four digits."""
    when = utc(value)
    if when.year < 1000:
        raise _Unusual
    return (
        f"{_DAYS[when.weekday()]}, {when.day:02d} {_MONTHS[when.month - 1]} {when.year} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} +0000"
    )


def _required(value: str) -> str:
    if not value:
        raise _Unusual
    return value


def rss_item(entry: Entry, *, summary_only: bool, author: Person) -> bytes | None:
    """The ``<item>`` of ``entry`` with the line break before it, or None: use feedgen."""
    try:
        if entry.enclosures:
            raise _Unusual
        parts = [
            "\n    <item>\n      <title>",
            _rss_title(_required(entry.title)),
            "</title>\n      <link>",
            _text(_required(entry.url)),
            "</link>\n      <description>",
            _text(summary_html(entry)),
            "</description>\n",
        ]
        if not summary_only:
            parts += ["      <content:encoded>", _text(body_html(entry)), "</content:encoded>\n"]
        parts += [
            '      <guid isPermaLink="false">',
            _text(_required(entry.id)),
            "</guid>\n",
        ]
        for tag in entry.tags:
            parts += ["      <category>", _text(_required(tag.name)), "</category>\n"]
        # An entry's texts are clean (see Entry); the channel's author is cleaned here.
        creator = _required(entry.author.name if entry.author else clean_line(author.name))
        parts += [
            "      <pubDate>",
            _rfc2822(entry.published),
            "</pubDate>\n      <dc:creator>",
            _text(creator),
            "</dc:creator>\n      <dcterms:modified>",
            iso_utc(entry.updated),
            "</dcterms:modified>\n    </item>",
        ]
        return "".join(parts).encode("utf-8")
    except (_Unusual, UnicodeError):
        return None


def atom_entry(entry: Entry, *, summary_only: bool) -> bytes | None:
    """The ``<entry>`` of ``entry`` with the line break before it, or None: use feedgen."""
    try:
        if entry.enclosures:
            raise _Unusual
        parts = [
            "\n  <entry>\n    <id>",
            _text(_required(entry.id)),
            "</id>\n    <title>",
            _text(_required(entry.title)),
            "</title>\n    <updated>",
            iso_utc(entry.updated),
            "</updated>\n",
        ]
        if entry.author is not None:
            who = entry.author
            parts += ["    <author>\n      <name>", _text(_required(who.name)), "</name>\n"]
            if who.email:
                parts += ["      <email>", _text(who.email), "</email>\n"]
            if who.uri:
                parts += ["      <uri>", _text(who.uri), "</uri>\n"]
            parts.append("    </author>\n")
        if not summary_only:
            parts += ['    <content type="html">', _text(body_html(entry)), "</content>\n"]
        parts += [
            '    <link href="',
            _attribute(_required(entry.url)),
            '"/>\n    <summary>',
            _text(summary_of(entry)),
            "</summary>\n",
        ]
        for tag in entry.tags:
            parts += ['    <category term="', _attribute(_required(tag.slug)), '"']
            label = tag.name
            if label:
                parts += [' label="', _attribute(label), '"']
            parts.append("/>\n")
        parts += ["    <published>", iso_utc(entry.published), "</published>\n  </entry>"]
        return "".join(parts).encode("utf-8")
    except (_Unusual, UnicodeError):
        return None


def either(
    entries: Sequence[Entry],
    direct: Callable[[Entry], bytes | None],
    feedgen: Callable[[list[Entry]], list[bytes]],
) -> list[bytes]:
    """Each entry's piece, in order: written ``direct``-ly where it can be, the others
    rendered together by ``feedgen``."""
    fast = [direct(entry) for entry in entries]
    made = iter(
        feedgen([entry for entry, piece in zip(entries, fast, strict=True) if piece is None])
    )
    return [piece if piece is not None else next(made) for piece in fast]
