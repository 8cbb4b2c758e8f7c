"""JSON Feed 1.1 (https://www.jsonfeed.org/version/1.1/), written without feedgen.

Keys come in the order the specification defines them, ``version`` first as it
asks; a key whose value would be empty is left out rather than written as "".
The output is UTF-8 JSON indented by two spaces, non-ASCII characters as they
are (not ``\\u`` escapes), with a trailing newline.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TypeAlias
from urllib.parse import quote

from feeder._text import clean_line, clean_text
from feeder.entries import Channel, Enclosure, Entry, Person, clean_person
from feeder.publishing.render import _json
from feeder.publishing.render._common import body_html, iso_utc, summary_of, utc

__all__ = ["ARCHIVE_EXTENSION", "MEDIA_TYPE", "VERSION", "json_items", "render_json_feed"]

MEDIA_TYPE = "application/feed+json"
VERSION = "https://jsonfeed.org/version/1.1"

# Top-level keys taken from channel links other than self, alternate and hub (written
# as ``hubs``), which the renderer knows. Links with any other rel are not written.
# ``next_url`` is "the next n items": older ones, so the older archive page (RFC 5005
# prev-archive).
_LINK_KEYS: tuple[tuple[str, str], ...] = (("prev-archive", "next_url"),)
# An archive page says so in an extension object (JSON Feed has no word for it),
# with the links RFC 5005 section 4 gives its Atom and RSS twins.
ARCHIVE_EXTENSION = "_archive"
_ARCHIVE_ABOUT = "https://www.rfc-editor.org/rfc/rfc5005#section-4"
_ARCHIVE_KEYS = (
    ("self", "url"),
    ("current", "current"),
    ("prev-archive", "prev_archive"),
    ("next-archive", "next_archive"),
)

Json: TypeAlias = dict[str, object]


def render_json_feed(
    channel: Channel,
    entries: Sequence[Entry],
    *,
    summary_only: bool = False,
    archive: bool = False,
    items: Sequence[bytes] | None = None,
) -> bytes:
    """The JSON Feed for ``entries``, newest first as given. Same input, same bytes.

    With ``summary_only`` items carry their plain-text summary as ``content_text``
    instead of the article as ``content_html``. An ``archive`` page keeps the
    feed's ``feed_url`` (the current feed's: it identifies the feed) and says
    where it is itself in ``_archive``. ``items``: ``entries`` already rendered by
    :func:`json_items`.
    """
    # JSON Feed has no feed date; a naive one is refused all the same, as in every format.
    utc(channel.updated)
    identity = _first_link(channel, "current") if archive else ""
    feed: Json = {
        "version": VERSION,
        "title": clean_line(channel.title),
        "home_page_url": clean_text(channel.link("alternate")),
        "feed_url": clean_text(identity or channel.link("self")),
    }
    _put(feed, "description", clean_text(channel.description))
    for rel, key in _LINK_KEYS:
        _put(feed, key, clean_text(_first_link(channel, rel)))
    author = _author(channel.author)
    if author:
        feed["authors"] = [author]
    _put(feed, "language", clean_text(channel.language))
    hubs = [
        {"type": "WebSub", "url": href}
        for href in (clean_text(link.href) for link in channel.links if link.rel == "hub")
        if href
    ]
    if hubs:
        feed["hubs"] = hubs
    if archive:
        marker: Json = {"about": _ARCHIVE_ABOUT, "archive": True}
        for rel, key in _ARCHIVE_KEYS:
            _put(marker, key, clean_text(_first_link(channel, rel)))
        feed[ARCHIVE_EXTENSION] = marker
    if items is None:
        feed["items"] = [_item(entry, summary_only=summary_only) for entry in entries]
        text = _json.dumps(feed)  # json.dumps(feed, ensure_ascii=False, indent=2), faster
        return (text + "\n").encode("utf-8")
    feed["items"] = []
    data = (_json.dumps(feed) + "\n").encode("utf-8")
    if not items:
        return data
    assert data.endswith(_NO_ITEMS), data[-40:]
    return b"".join((data[: -len(_NO_ITEMS)], b"[\n    ", b",\n    ".join(items), b"\n  ]\n}\n"))


_NO_ITEMS = b"[]\n}\n"


def json_items(entries: Sequence[Entry], *, summary_only: bool, author: Person) -> list[bytes]:
    """Each entry's item as :func:`render_json_feed` writes it (``author`` is not used:
    an item without authors has none)."""
    return [
        _json.dumps(_item(entry, summary_only=summary_only), depth=2).encode("utf-8")
        for entry in entries
    ]


def _item(entry: Entry, *, summary_only: bool) -> Json:
    item: Json = {"id": entry.id}  # its texts are clean: see Entry
    _put(item, "url", entry.url)
    _put(item, "title", entry.title)
    if summary_only:
        # One of content_html and content_text is required: never empty, the
        # title stands in for a missing summary as in the other formats.
        item["content_text"] = summary_of(entry)
    else:
        item["content_html"] = body_html(entry)
    _put(item, "summary", entry.summary)
    item["date_published"] = _date(entry.published)
    item["date_modified"] = _date(entry.updated)
    if entry.author is not None:
        author = _author(entry.author)
        if author:
            item["authors"] = [author]
    tags = [tag.name for tag in entry.tags if tag.name]
    if tags:
        item["tags"] = tags
    if entry.enclosures:
        duration = entry.episode.duration if entry.episode is not None else None
        item["attachments"] = [_attachment(e, duration) for e in entry.enclosures]
    return item


def _attachment(enclosure: Enclosure, duration: int | None) -> Json:
    """An attachment; an episode's duration goes with its audio and video files."""
    media_type = clean_text(enclosure.media_type)
    attachment: Json = {"url": clean_text(enclosure.url), "mime_type": media_type}
    if enclosure.length is not None:
        attachment["size_in_bytes"] = enclosure.length
    if duration is not None and media_type.startswith(("audio/", "video/")):
        attachment["duration_in_seconds"] = duration
    return attachment


def _author(person: Person) -> Json:
    """A JSON Feed author: name, and a URL (the web page, else a mailto: link) when known.

    Empty when nothing is known: the specification wants at least one member.
    """
    author: Json = {}
    clean = clean_person(person)
    _put(author, "name", clean.name)
    uri, email = clean.uri or "", clean.email or ""
    if uri:
        author["url"] = uri
    elif email:
        # RFC 6068: the address with what a mailto: URL reserves percent-encoded.
        author["url"] = "mailto:" + quote(email, safe="@!$'()*+,;:")
    return author


def _date(value: datetime) -> str:
    """RFC 3339 in UTC with ``Z``; microseconds only when there are any."""
    return iso_utc(value).removesuffix("+00:00") + "Z"


def _first_link(channel: Channel, rel: str) -> str:
    return next((link.href for link in channel.links if link.rel == rel), "")


def _put(data: Json, key: str, value: str) -> None:
    if value:
        data[key] = value
