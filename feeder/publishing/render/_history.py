"""RFC 5005 (Feed Paging and Archiving) section 4 for the feedgen renderers.

An archive document carries ``<fh:archive/>``; every document of an archived
feed links its neighbours with ``prev-archive``, ``next-archive`` and ``current``.
Atom writes those links itself; RSS 2.0 carries them as ``atom:link`` elements,
like its self link. A feed with neither gets no extension at all: its bytes are
exactly those it had before archives existed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from feedgen.ext.base import BaseExtension
from feedgen.feed import FeedGenerator

from feeder._text import clean_text
from feeder.entries import Link

__all__ = ["ARCHIVE_RELS", "FH", "add_history"]

FH = "http://purl.org/syndication/history/1.0"
_ATOM = "http://www.w3.org/2005/Atom"
#: The relations RFC 5005 section 4 defines, in the order documents list them.
ARCHIVE_RELS = ("current", "prev-archive", "next-archive")


class _History(BaseExtension):  # type: ignore[misc]
    def __init__(self) -> None:
        self.archive = False
        self.links: tuple[Link, ...] = ()

    def extend_ns(self) -> dict[str, str]:
        return {"fh": FH} if self.archive else {}

    def _mark(self, parent: Any) -> None:
        if self.archive:
            parent.append(parent.makeelement(f"{{{FH}}}archive", {}))

    def extend_atom(self, feed: Any) -> Any:
        self._mark(feed)  # the links are feedgen's own in Atom
        return feed

    def extend_rss(self, feed: Any) -> Any:
        channel = feed[0]
        for link in self.links:
            attributes = {"href": clean_text(link.href), "rel": link.rel}
            if link.media_type:
                attributes["type"] = link.media_type
            channel.append(channel.makeelement(f"{{{_ATOM}}}link", attributes))
        self._mark(channel)
        return feed


def add_history(fg: FeedGenerator, links: Sequence[Link], *, archive: bool, rss: bool) -> None:
    """Mark ``fg`` as an archive document and (RSS) write its archive links, if it has any."""
    archived = tuple(link for link in links if link.rel in ARCHIVE_RELS)
    if not archive and not archived:
        return
    fg.register_extension("fh", _History, atom=not rss, rss=rss)
    extension: _History = fg.fh
    extension.archive = archive
    extension.links = archived
