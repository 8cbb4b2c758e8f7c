"""Atom 1.0 (RFC 4287) with self and alternate links, and tombstones (RFC 6721)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feedgen.ext.base import BaseExtension

from feeder._text import clean_text
from feeder.entries import Channel, DeletedEntry, Entry, Link, Person
from feeder.publishing.render import _fast, _heads
from feeder.publishing.render._common import (
    body_html,
    generator,
    items_channel,
    person,
    splice_items,
    split_items,
    summary_of,
    utc,
    with_stylesheets,
)
from feeder.publishing.render._history import add_history
from feeder.publishing.render._media import add_atom_enclosures, prepare_atom

__all__ = ["MEDIA_TYPE", "TOMBSTONES", "atom_items", "feedgen_atom_items", "render_atom"]

MEDIA_TYPE = "application/atom+xml"
_ATOM = "http://www.w3.org/2005/Atom"
TOMBSTONES = "http://purl.org/atompub/tombstones/1.0"


class _Tombstones(BaseExtension):  # type: ignore[misc]
    """``at:deleted-entry`` elements, after the feed's own elements and before its entries.

    That is where RFC 4287's schema puts extension elements of a feed (and where RFC
    6721's example has them); feedparser and the validators read them there.
    """

    def __init__(self) -> None:
        self.deleted: Sequence[DeletedEntry] = ()

    def extend_ns(self) -> dict[str, str]:
        return {"at": TOMBSTONES}

    def extend_atom(self, feed: Any) -> Any:
        for gone in self.deleted:
            element = feed.makeelement(
                f"{{{TOMBSTONES}}}deleted-entry",
                {"ref": clean_text(gone.ref), "when": utc(gone.when).isoformat()},
            )
            if gone.by is not None:
                by = element.makeelement(f"{{{TOMBSTONES}}}by", {})
                for field, value in person(gone.by).items():
                    child = by.makeelement(f"{{{_ATOM}}}{field}", {})
                    child.text = value
                    by.append(child)
                element.append(by)
            if gone.comment:
                comment = element.makeelement(f"{{{TOMBSTONES}}}comment", {"type": "text"})
                comment.text = clean_text(gone.comment)
                element.append(comment)
            feed.append(element)
        return feed


def render_atom(
    channel: Channel,
    entries: Sequence[Entry],
    *,
    summary_only: bool = False,
    stylesheets: Sequence[Link] = (),
    archive: bool = False,
    tombstones: Sequence[DeletedEntry] = (),
    items: Sequence[bytes] | None = None,
) -> bytes:
    """The Atom document for ``entries``, newest first as given. Same input, same bytes.

    ``summary_only``: entries carry their summary and no content.
    ``archive``: an RFC 5005 archive document (``fh:archive``).
    ``tombstones``: entries deleted from this feed, as given (newest first); with some,
    the feed's ``updated`` is the latest of its entries' and their deletions'.
    ``items``: ``entries`` already rendered by :func:`atom_items`.
    """
    if items is None:
        return _document(channel, entries, summary_only, stylesheets, archive, tombstones)
    if tombstones:  # they set the feed's date: no template
        head = _document(channel, entries, summary_only, stylesheets, archive, tombstones, False)
        return splice_items(head, _FEED_END, items)
    # The feed's head alone, from the template of its shape, and the entries spliced in.
    enclosed = [entry for entry in entries if entry.enclosures][:1]
    head = _heads.head(
        ("atom", tuple(stylesheets), archive, bool(enclosed)),
        channel,
        lambda shaped: _document(shaped, enclosed, summary_only, stylesheets, archive, (), False),
    )
    return splice_items(head, _FEED_END, items)


def _document(
    channel: Channel,
    entries: Sequence[Entry],
    summary_only: bool,
    stylesheets: Sequence[Link],
    archive: bool,
    tombstones: Sequence[DeletedEntry],
    with_items: bool = True,
) -> bytes:
    """The document, or with ``with_items`` false its head alone (``entries`` still
    say which namespaces it declares)."""
    fg = generator(channel, alternate_first=True)
    add_history(fg, channel.links, archive=archive, rss=False)
    if channel.description:
        fg.subtitle(clean_text(channel.description))
    fg.author(person(channel.author))
    prepare_atom(fg, entries)
    if tombstones:
        fg.register_extension("tombstones", _Tombstones, atom=True, rss=False)
        fg.tombstones.deleted = tombstones
        fg.updated(max(utc(channel.updated), *(utc(gone.when) for gone in tombstones)))
    for entry in entries if with_items else ():
        fe = fg.add_entry(order="append")
        fe.id(entry.id)  # clean: see Entry
        fe.title(entry.title)
        fe.link(href=entry.url, rel="alternate", type="text/html")
        if entry.author is not None:
            fe.author(person(entry.author))
        fe.summary(summary_of(entry))
        if not summary_only:
            fe.content(body_html(entry), type="html")
        fe.published(utc(entry.published))
        fe.updated(utc(entry.updated))
        for tag in entry.tags:
            fe.category(term=tag.slug, label=tag.name)
        add_atom_enclosures(fe, entry)
    return with_stylesheets(fg.atom_str(pretty=True), stylesheets)


_ENTRY = b"\n  <entry>"
_FEED_END = b"\n</feed>"


def atom_items(entries: Sequence[Entry], *, summary_only: bool, author: Person) -> list[bytes]:
    """Each entry's ``<entry>`` as :func:`render_atom` writes it in a feed (an entry
    without an author has none of its own: ``author`` is not used): written directly
    where it can be (feeder.publishing.render._fast), else through feedgen."""
    return _fast.either(
        entries,
        lambda entry: _fast.atom_entry(entry, summary_only=summary_only),
        lambda slow: feedgen_atom_items(slow, summary_only=summary_only, author=author),
    )


def feedgen_atom_items(
    entries: Sequence[Entry], *, summary_only: bool, author: Person
) -> list[bytes]:
    """:func:`atom_items`, every one through feedgen."""
    if not entries:
        return []
    document = render_atom(items_channel(author), entries, summary_only=summary_only)
    return split_items(document, _ENTRY, _FEED_END, len(entries))
