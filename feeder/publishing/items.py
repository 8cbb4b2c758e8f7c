"""Entries rendered once per format, spliced into every document of a build that carries them.

An article is an entry of the site's feed, of each of its tags' feeds, of its
author's feed, of an archive page of each, in every format: a dozen documents
or more. Its bytes are the same in each document of one format (they depend on
the entry, on ``summary_only``, and in RSS on the site's author, which every
channel shares), so a build renders each entry once per format and the
documents around them without entries (feeder.publishing.render splices them
in: the bytes are those of the document rendered whole).

:class:`Items` keeps what builds rendered, by the entry's whole value, within a
byte budget (the least recently used go first), so memory does not grow with
the site, and the next build of a daemon renders only the entries that changed.
A full build renders the items of every article along with its page, in the
worker processes (feeder.publishing.rendering), and hands those of each
group's newest entries over here.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence

from feeder.entries import Entry, Person
from feeder.publishing.feeds import FORMATS, FeedFormat, FeedGroup

__all__ = ["BUDGET", "Items", "Variant", "render_items", "variants"]

#: A format's name and ``summary_only``: which bytes an entry has.
Variant = tuple[str, bool]
#: Bytes of rendered items a process keeps at most (a few thousand articles' worth).
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


_Key = tuple[str, bool, Person, Entry]


class _Store:
    """Items by format, ``summary_only``, channel author and the entry itself (its whole
    value: an entry that changed in any way is another key), least recently used
    first, within ``budget`` bytes. One per process: a daemon's next build finds the
    items of every entry that did not change."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._size = 0
        self._kept: OrderedDict[_Key, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: _Key) -> bytes | None:
        with self._lock:
            data = self._kept.get(key)
            if data is not None:
                self._kept.move_to_end(key)
            return data

    def put(self, key: _Key, data: bytes) -> None:
        with self._lock:
            old = self._kept.pop(key, None)
            if old is not None:
                self._size -= len(old)
            self._kept[key] = data
            self._size += len(data)
            while self._size > self.budget and len(self._kept) > 1:
                _key, dropped = self._kept.popitem(last=False)
                self._size -= len(dropped)

    def clear(self) -> None:
        with self._lock:
            self._kept.clear()
            self._size = 0


_STORE = _Store(BUDGET)


class Items:
    """The items of one build's entries in this process's store (rendered now, or by
    an earlier build of the same entries)."""

    def __init__(self, author: Person) -> None:
        self.author = author

    def put(self, entry: Entry, pieces: Mapping[Variant, bytes]) -> None:
        for (name, summary_only), data in pieces.items():
            _STORE.put((name, summary_only, self.author, entry), data)

    def of(
        self, feed: FeedFormat, entries: Sequence[Entry], summary_only: bool
    ) -> list[bytes] | None:
        """The items of ``entries`` in ``feed``'s format, rendering those not kept; None
        when one cannot be rendered (the document is then rendered whole)."""
        found: list[bytes | None] = [
            _STORE.get((feed.name, summary_only, self.author, entry)) for entry in entries
        ]
        missing = [entry for entry, data in zip(entries, found, strict=True) if data is None]
        if missing:
            variant = (feed.name, summary_only)
            fresh = iter(render_items(missing, [variant], self.author))
            for index, data in enumerate(found):
                if data is None:
                    piece = next(fresh).get(variant)
                    if piece is None:
                        return None
                    found[index] = piece
                    _STORE.put((feed.name, summary_only, self.author, entries[index]), piece)
        return [data for data in found if data is not None]
