"""RSS 2.0 with content:encoded, dc:creator, dcterms:modified, and atom:links to itself and
to its WebSub hubs."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.ext.dc import DcEntryExtension, DcExtension

from feeder._text import clean_line, clean_text
from feeder.entries import Channel, Entry, Link, Person, PodcastChannel
from feeder.publishing.render import _fast, _heads
from feeder.publishing.render._common import (
    body_html,
    generator,
    items_channel,
    splice_items,
    split_items,
    summary_html,
    utc,
    with_stylesheets,
)
from feeder.publishing.render._history import add_history
from feeder.publishing.render._media import add_rss_enclosures, prepare_rss
from feeder.publishing.render.podcast import add_episode, make_podcast

__all__ = ["MEDIA_TYPE", "feedgen_rss_items", "render_rss", "rss_items"]

MEDIA_TYPE = "application/rss+xml"
_DCTERMS = "http://purl.org/dc/terms/"
_ATOM = "http://www.w3.org/2005/Atom"


class _Dcterms(BaseExtension):  # type: ignore[misc]
    def extend_ns(self) -> dict[str, str]:
        return {"dcterms": _DCTERMS}


class _DctermsEntry(BaseEntryExtension):  # type: ignore[misc]
    """RSS 2.0 has no per-item update date; dcterms:modified carries it (W3CDTF)."""

    def __init__(self) -> None:
        self._modified: datetime | None = None

    def modified(self, value: datetime) -> None:
        self._modified = value

    def extend_rss(self, item: Any) -> Any:
        if self._modified is not None:
            element = item.makeelement(f"{{{_DCTERMS}}}modified", {})
            element.text = self._modified.isoformat()
            item.append(element)
        return item


class _Hubs(BaseExtension):  # type: ignore[misc]
    """WebSub hubs as ``atom:link rel="hub"``, next to the self link (feedgen writes only
    the self link of the channel's links into RSS)."""

    def __init__(self) -> None:
        self._hubs: list[str] = []

    def hubs(self, hrefs: Sequence[str]) -> None:
        self._hubs = list(hrefs)

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        after = channel.find(f"{{{_ATOM}}}link")
        index = list(channel).index(after) + 1 if after is not None else len(channel)
        for offset, href in enumerate(self._hubs):
            link = channel.makeelement(f"{{{_ATOM}}}link", {"href": href, "rel": "hub"})
            channel.insert(index + offset, link)
        return feed


def render_rss(
    channel: Channel,
    entries: Sequence[Entry],
    *,
    summary_only: bool = False,
    stylesheets: Sequence[Link] = (),
    archive: bool = False,
    podcast: PodcastChannel | None = None,
    items: Sequence[bytes] | None = None,
) -> bytes:
    """The RSS document for ``entries``, newest first as given. Same input, same bytes.

    ``summary_only``: items carry their summary (description) and no content:encoded.
    ``archive``: an RFC 5005 archive document (``fh:archive``).
    ``podcast``: a podcast feed (PSP-1), with the itunes and podcast namespaces.
    ``items``: ``entries`` already rendered by :func:`rss_items` (not for podcasts).
    """
    if items is not None and podcast is not None:
        raise ValueError("a podcast's items are rendered with their episodes")
    if items is None:
        return _document(channel, entries, summary_only, stylesheets, archive, podcast)
    # The channel alone, from the template of its shape, and the items spliced in.
    media = [entry for entry in entries if len(entry.enclosures) > 1][:1]
    head = _heads.head(
        ("rss", tuple(stylesheets), archive, bool(media)),
        channel,
        lambda shaped: _document(shaped, media, summary_only, stylesheets, archive, None, False),
    )
    return splice_items(head, _CHANNEL_END, items)


def _document(
    channel: Channel,
    entries: Sequence[Entry],
    summary_only: bool,
    stylesheets: Sequence[Link],
    archive: bool,
    podcast: PodcastChannel | None,
    with_items: bool = True,
) -> bytes:
    """The document, or with ``with_items`` false its channel alone (``entries`` still
    say which namespaces it declares)."""
    fg = generator(channel, alternate_first=False)
    # What load_extension("dc") registers, without looking for a module feedgen lacks
    # (dc_entry) on every call: that search took longer than rendering a feed.
    fg.register_extension("dc", DcExtension, DcEntryExtension, atom=False, rss=True)
    fg.register_extension("dcterms", _Dcterms, _DctermsEntry, atom=False, rss=True)
    add_history(fg, channel.links, archive=archive, rss=True)
    prepare_rss(fg, entries)
    if podcast is not None:
        make_podcast(fg, podcast)
    fg.description(clean_text(channel.description) or clean_text(channel.title))
    hubs = [clean_text(link.href) for link in channel.links if link.rel == "hub"]
    if hubs:
        fg.register_extension("websub", _Hubs, None, atom=False, rss=True)
        fg.websub.hubs(hubs)
    for entry in entries if with_items else ():
        fe = fg.add_entry(order="append")
        fe.guid(entry.id, permalink=False)  # clean: see Entry
        fe.title(entry.title)
        fe.link(href=entry.url)
        # RSS <author> must be an email address; dc:creator carries a name.
        fe.dc.dc_creator(entry.author.name if entry.author else clean_line(channel.author.name))
        # Readers show <description> as HTML: escaped, it shows exactly the summary's text.
        fe.description(summary_html(entry))
        if not summary_only:
            fe.content(body_html(entry))
        fe.pubDate(utc(entry.published))
        fe.dcterms.modified(utc(entry.updated))
        for tag in entry.tags:
            fe.category(term=tag.name)
        add_rss_enclosures(fe, entry)
        if podcast is not None:
            add_episode(fe, entry)
    return with_stylesheets(_title_references(fg.rss_str(pretty=True)), stylesheets)


_ITEM = b"\n    <item>"
_CHANNEL_END = b"\n  </channel>"


def rss_items(entries: Sequence[Entry], *, summary_only: bool, author: Person) -> list[bytes]:
    """Each entry's ``<item>`` as :func:`render_rss` writes it in a feed whose channel
    has ``author`` (an item without an author names the channel's): written directly
    where it can be (feeder.publishing.render._fast), else through feedgen."""
    return _fast.either(
        entries,
        lambda entry: _fast.rss_item(entry, summary_only=summary_only, author=author),
        lambda slow: feedgen_rss_items(slow, summary_only=summary_only, author=author),
    )


def feedgen_rss_items(
    entries: Sequence[Entry], *, summary_only: bool, author: Person
) -> list[bytes]:
    """:func:`rss_items`, every one through feedgen."""
    if not entries:
        return []
    document = render_rss(items_channel(author), entries, summary_only=summary_only)
    return split_items(document, _ITEM, _CHANNEL_END, len(entries))


_TITLE = re.compile(rb"<title>(.*?)</title>", re.DOTALL)


def _title_references(data: bytes) -> bytes:
    """Titles with ``&#x3C;`` and ``&#x26;`` for ``<`` and ``&``, as the RSS Best Practices
    Profile asks: a title is text, and these forms say so to readers that guess."""

    def hexadecimal(match: re.Match[bytes]) -> bytes:
        text = match.group(1).replace(b"&lt;", b"&#x3C;").replace(b"&amp;", b"&#x26;")
        return b"<title>" + text + b"</title>"

    return _TITLE.sub(hexadecimal, data)
