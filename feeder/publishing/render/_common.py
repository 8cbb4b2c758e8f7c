"""What both feedgen-based renderers share."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from html import escape
from typing import Any

from feedgen.feed import FeedGenerator

from feeder._text import clean_line, clean_text
from feeder.entries import Channel, Entry, Link, Person, clean_person

GENERATOR = "feeder"
GENERATOR_URI = "https://pypi.org/project/feeder/"


def utc(value: datetime) -> datetime:
    """Refuse naive datetimes here, with a message, before feedgen does without one."""
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r} reached the renderer")
    return value.astimezone(UTC)


@lru_cache(maxsize=4096)
def iso_utc(value: datetime) -> str:
    """``utc(value).isoformat()``, formatted once for the several documents that write
    an article's dates (a microsecond each time, on an aware datetime)."""
    return utc(value).isoformat()


def person(value: Person) -> dict[str, Any]:
    clean = clean_person(value)
    data: dict[str, Any] = {"name": clean.name}
    if value.email:
        data["email"] = clean.email
    if value.uri:
        data["uri"] = clean.uri
    return data


def generator(channel: Channel, *, alternate_first: bool) -> FeedGenerator:
    """A FeedGenerator with every channel field set, ``updated`` included.

    Atom wants the site's link (alternate) first: clients that take the first
    link show it as the home page. RSS takes its ``<link>`` from the last one
    feedgen is given, which must be the site's.
    """
    fg = FeedGenerator()
    fg.id(clean_text(channel.id))
    fg.title(clean_line(channel.title))
    alternate = [link for link in channel.links if link.rel == "alternate"]
    others = [link for link in channel.links if link.rel != "alternate"]
    for link in alternate + others if alternate_first else others + alternate:
        extra = {"type": link.media_type} if link.media_type else {}
        fg.link(href=clean_text(link.href), rel=link.rel, **extra)
    fg.language(clean_text(channel.language))
    # feedgen would otherwise stamp "now" into every build.
    fg.updated(utc(channel.updated))
    fg.lastBuildDate(utc(channel.updated))
    fg.generator(GENERATOR, uri=GENERATOR_URI)
    return fg


_DECLARATION = b"<?xml version='1.0' encoding='UTF-8'?>\n"


def with_stylesheets(data: bytes, stylesheets: Sequence[Link]) -> bytes:
    """``data`` with an ``<?xml-stylesheet?>`` for browsers after its declaration, per link.

    A browser uses the first it can apply: XSLT where it still runs it, else CSS.
    """
    if not stylesheets:
        return data
    assert data.startswith(_DECLARATION), data[:60]
    instructions = "".join(
        f'<?xml-stylesheet type="{escape(link.media_type or "text/xsl", quote=True)}" '
        f'href="{escape(clean_text(link.href), quote=True)}"?>\n'
        for link in stylesheets
    )
    return _DECLARATION + instructions.encode() + data[len(_DECLARATION) :]


def summary_of(entry: Entry) -> str:
    """The plain-text summary (the title when there is none)."""
    return entry.summary or entry.title


def summary_html(entry: Entry) -> str:
    """The summary as HTML that shows exactly its text (readers treat RSS text as HTML)."""
    return escape(summary_of(entry), quote=False)


def body_html(entry: Entry) -> str:
    """The content, or the summary as an HTML paragraph when there is none."""
    return entry.content or f"<p>{summary_html(entry)}</p>"


# -- entries rendered once, spliced into many documents ----------------------------------
#
# An entry is written the same way in every document of a format that carries it
# (the site's feed, a tag's, an author's, their archive pages): its bytes depend on
# the entry, on ``summary_only`` and, in RSS, on the site's author. So a build renders
# each entry once per format and splices those bytes into the documents, which are
# rendered without entries. The result is byte for byte the document rendered with
# its entries (tests/test_render.py checks it).


def items_channel(author: Person) -> Channel:
    """A channel that carries only what an entry's bytes may depend on: the author."""
    when = datetime(2000, 1, 1, tzinfo=UTC)
    links = (
        Link("self", "https://items.invalid/feed", ""),
        Link("alternate", "https://items.invalid/", "text/html"),
    )
    return Channel("items", "items", "items", links, "", author, when)


def split_items(document: bytes, opening: bytes, closing: bytes, count: int) -> list[bytes]:
    """The ``count`` entries at the end of ``document``, each with the line break and
    indentation before it (``opening`` starts each; ``closing`` follows the last)."""
    if not count:
        return []
    start = document.index(opening)
    end = document.rindex(closing)
    parts = document[start:end].split(opening)[1:]
    if len(parts) != count:  # cannot happen: text and attributes escape "<"
        raise ValueError(f"found {len(parts)} entries where {count} were rendered")
    return [opening + part for part in parts]


def splice_items(document: bytes, closing: bytes, items: Sequence[bytes]) -> bytes:
    """``document`` (rendered without entries) with ``items`` before its last ``closing``."""
    end = document.rindex(closing)
    return b"".join((document[:end], *items, document[end:]))
