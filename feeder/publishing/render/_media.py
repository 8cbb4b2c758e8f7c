"""Enclosures in the feedgen-based formats.

RSS allows one ``<enclosure>`` per item: the first enclosure is that one, and
the others are ``media:content`` elements (Media RSS), which podcast apps and
feed readers that know several files per item read.

Atom carries each enclosure as ``<link rel="enclosure" href type length>``.
feedgen 1.0 cannot write that: its entry link loop rebinds the name of the
link it is writing, so ``rel``, ``type`` and ``length`` of every entry link
are lost (python-feedgen issues 135 and 143), and an enclosure would turn into
a second alternate link, which RFC 4287 forbids for the same type. So the
enclosure links are added by an entry extension after feedgen wrote the
entry, right after its alternate link; for an entry with enclosures that
link also says ``rel="alternate"`` in so many words, so that no reader takes
an enclosure for the article. Entries without enclosures are written exactly
as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feedgen.entry import FeedEntry
from feedgen.ext.base import BaseEntryExtension, BaseExtension
from feedgen.ext.media import MediaEntryExtension, MediaExtension
from feedgen.feed import FeedGenerator

from feeder._text import clean_text
from feeder.entries import Enclosure, Entry

__all__ = ["add_atom_enclosures", "add_rss_enclosures", "prepare_atom", "prepare_rss"]

_ATOM_ENCLOSURES = "feeder_enclosures"


def medium(media_type: str) -> str:
    """Media RSS's ``medium`` for a media type."""
    kind = media_type.split("/", 1)[0]
    return kind if kind in ("audio", "video", "image") else "document"


def prepare_rss(fg: FeedGenerator, entries: Sequence[Entry]) -> None:
    """Load what the items need before they are added (a namespace only when used)."""
    if any(len(entry.enclosures) > 1 for entry in entries):
        fg.register_extension(  # what load_extension("media") registers, found at once
            "media", MediaExtension, MediaEntryExtension, atom=False, rss=True
        )


def add_rss_enclosures(fe: FeedEntry, entry: Entry) -> None:
    """The first enclosure as ``<enclosure>``, the others as ``media:content``.

    RSS requires ``length``: an unknown one is written as 0, as the RSS Best
    Practices Profile says.
    """
    if not entry.enclosures:
        return
    first, *others = entry.enclosures
    fe.enclosure(
        url=clean_text(first.url), length=str(first.length or 0), type=clean_text(first.media_type)
    )
    for other in others:
        media_type = clean_text(other.media_type)
        content: dict[str, Any] = {
            "url": clean_text(other.url),
            "type": media_type,
            "medium": medium(media_type),
        }
        if other.length is not None:
            content["fileSize"] = str(other.length)
        fe.media.content(group=None, **content)


class _NoNamespace(BaseExtension):  # type: ignore[misc]  # feedgen is untyped
    """Enclosure links are Atom's own elements: nothing to declare at the feed level."""


class _AtomEnclosures(BaseEntryExtension):  # type: ignore[misc]  # feedgen is untyped
    def __init__(self) -> None:
        self._enclosures: tuple[Enclosure, ...] = ()

    def set(self, enclosures: tuple[Enclosure, ...]) -> None:
        self._enclosures = enclosures

    def extend_atom(self, entry: Any) -> Any:
        if not self._enclosures:
            return entry
        links = entry.findall("link")
        if not links:  # cannot happen: every entry has its alternate link
            return entry
        alternate = links[0]
        alternate.set("rel", "alternate")
        after = alternate
        for enclosure in self._enclosures:
            attributes = {
                "href": clean_text(enclosure.url),
                "rel": "enclosure",
                "type": clean_text(enclosure.media_type),
            }
            if enclosure.length is not None:
                attributes["length"] = str(enclosure.length)
            link = entry.makeelement("link", attributes)
            after.addnext(link)
            after = link
        return entry


def prepare_atom(fg: FeedGenerator, entries: Sequence[Entry]) -> None:
    if any(entry.enclosures for entry in entries):
        fg.register_extension(_ATOM_ENCLOSURES, _NoNamespace, _AtomEnclosures, atom=True, rss=False)


def add_atom_enclosures(fe: FeedEntry, entry: Entry) -> None:
    if entry.enclosures:
        getattr(fe, _ATOM_ENCLOSURES).set(entry.enclosures)
