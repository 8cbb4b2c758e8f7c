"""Entries rendered once per format, spliced into every document of a build that carries them.

An article is an entry of the site's feed, of each of its tags' feeds, of its
author's feed, of an archive page of each, in every format: a dozen documents
or more. Its bytes are the same in each document of one format (they depend on
the entry, on ``summary_only``, and in RSS on the site's author, which every
channel shares), so a build renders each entry once per format and the
documents around them without entries (feeder.publishing.render splices them
in: the bytes are those of the document rendered whole).

:class:`Items` keeps what a build rendered, within a byte budget (the least
recently used go first), so memory does not grow with the site. A full build
renders the items of every article along with its page, in the worker
processes (feeder.publishing.rendering), and hands them over here.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from feeder.entries import Entry, Person
from feeder.publishing.feeds import FORMATS, FeedFormat, FeedGroup

__all__ = ["BUDGET", "Items", "Variant", "render_items", "variants"]

#: A format's name and ``summary_only``: which bytes an entry has.
Variant = tuple[str, bool]
#: Bytes of rendered items a build keeps at most (a few thousand articles' worth).
BUDGET = 48 << 20


def variants(groups: Iterable[FeedGroup]) -> tuple[Variant, ...]:
    """Every way the feeds of ``groups`` render an entry."""
    return tuple(
        sorted({(spec.format.name, group.summary_only) for group in groups for spec in group.specs})
    )


def render_items(
    entries: Sequence[Entry], wanted: Iterable[Variant], author: Person
) -> list[dict[Variant, bytes]]:
    """The items of each entry in each variant: rendered together, one document per
    variant; an entry that cannot be rendered has none (its feeds render it whole,
    which finds and reports it)."""
    found: list[dict[Variant, bytes]] = [{} for _entry in entries]
    for variant in wanted:
        name, summary_only = variant
        feed = FORMATS[name]
        try:
            pieces = feed.items(entries, summary_only, author)
        except Exception:  # one bad entry: the others one by one
            for index, entry in enumerate(entries):
                try:
                    (found[index][variant],) = feed.items([entry], summary_only, author)
                except Exception:
                    continue
            continue
        for index, piece in enumerate(pieces):
            found[index][variant] = piece
    return found


class Items:
    """The items a build rendered, by entry (id and slug) and variant, within ``budget``
    bytes."""

    def __init__(self, author: Person, budget: int = BUDGET) -> None:
        self.author = author
        self._budget = budget
        self._size = 0
        self._kept: OrderedDict[tuple[str, str, str, bool], bytes] = OrderedDict()
        self.rendered = self.reused = 0  # for benchmarks and tests

    def put(self, entry: Entry, pieces: Mapping[Variant, bytes]) -> None:
        for (name, summary_only), data in pieces.items():
            self._keep((entry.id, entry.slug, name, summary_only), data)

    def _keep(self, key: tuple[str, str, str, bool], data: bytes) -> None:
        old = self._kept.pop(key, None)
        if old is not None:
            self._size -= len(old)
        self._kept[key] = data
        self._size += len(data)
        while self._size > self._budget and len(self._kept) > 1:
            _key, dropped = self._kept.popitem(last=False)
            self._size -= len(dropped)

    def of(
        self, feed: FeedFormat, entries: Sequence[Entry], summary_only: bool
    ) -> list[bytes] | None:
        """The items of ``entries`` in ``feed``'s format, rendering those not kept; None
        when one cannot be rendered (the document is then rendered whole)."""
        kept = self._kept
        found: list[bytes | None] = []
        missing: list[Entry] = []
        for entry in entries:
            key = (entry.id, entry.slug, feed.name, summary_only)
            data = kept.get(key)
            if data is None:
                missing.append(entry)
            else:
                kept.move_to_end(key)
            found.append(data)
        self.reused += len(entries) - len(missing)
        if missing:
            variant = (feed.name, summary_only)
            new = render_items(missing, [variant], self.author)
            self.rendered += len(missing)
            fresh = iter(new)
            for index, data in enumerate(found):
                if data is None:
                    piece = next(fresh).get(variant)
                    if piece is None:
                        return None
                    found[index] = piece
                    entry = entries[index]
                    self._keep((entry.id, entry.slug, feed.name, summary_only), piece)
        return [data for data in found if data is not None]
