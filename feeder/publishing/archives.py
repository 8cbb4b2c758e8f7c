"""RFC 5005 archives: every entry of a selection, in pages whose URLs keep their meaning.

A selection with more than ``max_items`` entries (its subscription feed cannot
hold them all) is archived: its entries, oldest first in the order of its
index (published_at, pk), are cut into pages of ``feeds.archive_page_size``
and published as ``archive/<n>/<format file>`` under the selection's directory.

Page numbers count from the oldest, and a page's end is fixed for good once
the next entry exists (it *closes*): page n always covers the same range of
keys, (end of page n-1, end of page n]. The newest page is open (every key
after the last end) and closes when it holds ``archive_page_size`` entries and
another arrives. So:

- a new article lands in the open page: one page to write (two when it closes
  the open page, which then links to the new one);
- a deletion, an edit, a tag or author gained or lost, or a backdated article
  changes only the page whose range holds it (which may then hold more or fewer
  than ``archive_page_size`` entries, but means what it meant). Where a write
  moved an article *from* is recorded with the write (db.pages.record_moves);
- a full build walks every selection at once, in one scan of the site's rows
  oldest first (each row goes to the open page of the site, of each of its tags
  and of its author), and renders each page as it completes; with the same
  data it changes no byte.

The ends live in the database (db.pages) and are stored in the build's
bookkeeping transaction, with the page size they were made for: a new page
size makes new pages (a full build, through the settings fingerprint).

This module decides which pages a build writes and which rows each holds;
rendering them is the build's (feeder.publishing.build).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from db import (
    PageBounds,
    PagesHead,
    Position,
    Reader,
    Selection,
    StoredArticle,
    selection_key,
)
from feeder.config import Config
from feeder.entries import Link
from feeder.publishing.feeds import FORMATS, FeedGroup, FeedSpec

__all__ = [
    "ARCHIVE_DIR",
    "Archives",
    "Page",
    "archive_links",
    "is_subscription_feed",
    "page_path",
    "remove_archive",
    "selections_of",
    "subscription_links",
]

ARCHIVE_DIR = "archive"


def page_directory(group: FeedGroup, number: int) -> str:
    return f"{group.directory}{ARCHIVE_DIR}/{number}/"


def page_path(group: FeedGroup, number: int, spec: FeedSpec) -> str:
    """Where page ``number`` of ``group``'s archive goes, in ``spec``'s format."""
    return f"{page_directory(group, number)}{spec.format.file}"


@dataclass(frozen=True)
class Page:
    """One archive page to render: its number, whether it is the newest, its rows
    (oldest first); in a full build's walk, what the build handed over for each row
    instead (see :meth:`Archives.add`)."""

    number: int
    newest: bool
    records: tuple[StoredArticle, ...]
    walked: tuple[object, ...] = ()


class PageStore(Protocol):
    def store_pages(self, selection: Selection, bounds: PageBounds | None) -> None: ...

    def forget_pages(self, names: Collection[tuple[str, str]]) -> None: ...

    def extend_pages(
        self, selection: Selection, head: PagesHead, closed: Sequence[Position], published: bool
    ) -> None: ...


class Files(Protocol):
    """What this module needs of the build's writer."""

    @property
    def root(self) -> os.PathLike[str]: ...

    def remove(self, relative: str) -> None: ...


@dataclass
class _Touched:
    """Where, in each selection, the articles this build looks at are or were."""

    by_selection: dict[tuple[str, str], list[Position]] = field(default_factory=dict)

    def add(self, kind: str, key: str, position: Position) -> None:
        self.by_selection.setdefault((kind, key), []).append(position)


class Archives:
    """The archive pages of one build: which to render, and the page ends to store.

    ``publish(group)`` renders what the build must write of ``group``'s archive
    (through ``render``) and returns the number of its newest page, or None
    when the group has no archive. ``updates`` is what to store afterwards.
    """

    def __init__(
        self,
        reader: Reader,
        config: Config,
        now: datetime,
        files: Files,
        render: Callable[[FeedGroup, Page], None],
        *,
        full: bool,
    ) -> None:
        self.reader = reader
        self.config = config
        self.now = now
        self.files = files
        self.render = render
        self.full = full
        self.size = config.feeds.archive_page_size
        self.enabled = config.feeds.archives
        self.updates: dict[Selection, PageBounds] = {}
        #: an incremental build's pages closed (or unpublished) after the stored ones
        self._extended: dict[Selection, tuple[PagesHead, tuple[Position, ...], bool]] = {}
        #: ``(kind, key)`` of selections whose stored pages are dropped
        self.forgotten: set[tuple[str, str]] = set()
        self._touched = _Touched()
        #: A full build's walk: the open page of each archived selection, by name.
        self._cuts: dict[tuple[str, str], _Cut] = {}

    # -- what an incremental build learned -----------------------------------------------

    def touched(self, records: Iterable[StoredArticle]) -> None:
        """Articles written or come due since the last build: where they are now."""
        for record in records:
            if record.published_at is None or record.published_at > self.now:
                continue  # not published: in no page yet
            position = Position.of(record)
            for kind, key in selections_of(record):
                self._touched.add(kind, key, position)

    def moved(self, moves: Iterable[tuple[str, str, Position]]) -> None:
        """Where writes since the last build took articles from."""
        for kind, key, position in moves:
            self._touched.add(kind, key, position)

    # -- a full build: every group at once ------------------------------------------------

    def walk(self, groups: Iterable[FeedGroup]) -> None:
        """Start a full build's walk of ``groups``: then :meth:`add` every published row,
        oldest first, and :meth:`publish` each group."""
        assert self.full
        for group in groups:
            selection = group.selection
            if not self._archived(selection):
                continue
            stored = self.reader.page_bounds(selection)
            self._cuts[selection_key(selection)] = _Cut(group, stored, self.size)

    def add(self, record: StoredArticle, walked: object) -> None:
        """The next row of the walk, and what its pages carry of it (``walked``, in
        :attr:`Page.walked`): render the pages it completes."""
        cuts = self._cuts
        if not cuts:
            return
        position = Position.of(record)
        for name in selections_of(record):
            cut = cuts.get(name)
            if cut is not None:
                for page in cut.add(position, walked):
                    self.render(cut.group, page)

    def _archived(self, selection: Selection) -> bool:
        limit = self.config.max_items
        return self.enabled and self.reader.count_up_to(selection, self.now, limit + 1) > limit

    # -- one group --------------------------------------------------------------------------

    def publish(self, group: FeedGroup) -> int | None:
        """Write what this build owes ``group``'s archive; the newest page's number."""
        if not self.full:
            return self._publish_since(group)
        selection = group.selection
        cut = self._cuts.pop(selection_key(selection), None)
        if cut is None:
            remove_archive(group.directory, self.files)
            stored = self.reader.page_bounds(selection)
            # (Pages made for another page size meant something else: left as they are.)
            if stored is not None and stored.size == self.size and stored.published:
                # Back to what its feed holds whole: pages go (the ends stay, so the
                # pages mean the same again if it grows).
                self._store(selection, PageBounds(self.size, stored.ends, published=False), stored)
            return None
        for page in cut.finish():
            self.render(group, page)
        ends = tuple(cut.ends)
        remove_archive(group.directory, self.files, keep=len(ends) + 1, formats=group.specs)
        self._store(selection, PageBounds(self.size, ends, published=True), cut.stored)
        return len(ends) + 1

    def _publish_since(self, group: FeedGroup) -> int | None:
        """An incremental build: what the changes since the last one touched. Reads the
        stored ends it needs, not every one (a big site's archive has thousands)."""
        selection = group.selection
        head = self.reader.pages_head(selection)
        if head is not None and head.size != self.size:
            head = None  # made for another page size: those pages meant something else
        if not self._archived(selection):
            if head is not None and head.published:
                remove_archive(group.directory, self.files)
                self._extended[selection] = (head, (), False)  # the ends stay
            return None
        if head is None or not head.published:
            stored = self.reader.page_bounds(selection)
            ends = self._walk(group, _kept_ends(stored, self.size))
            self._store(selection, PageBounds(self.size, ends, published=True), stored)
            return len(ends) + 1
        return self._changed(group, head)

    def _store(self, selection: Selection, bounds: PageBounds, stored: PageBounds | None) -> None:
        """Store ``bounds`` unless they are what is stored (``stored``, as read)."""
        if stored != bounds:
            self.updates[selection] = bounds

    def _walk(self, group: FeedGroup, ends: tuple[Position, ...]) -> tuple[Position, ...]:
        """Render every page of ``group``, closing full pages of the open range."""
        selection = group.selection
        for number, end in enumerate(ends, start=1):
            after = ends[number - 2] if number >= 2 else None
            rows = tuple(self.reader.range_rows(selection, self.now, after=after, until=end))
            self.render(group, Page(number, False, rows))
        found = list(ends)
        current: list[StoredArticle] = []
        for record in self.reader.range_rows(selection, self.now, after=ends[-1] if ends else None):
            if len(current) == self.size:
                found.append(Position.of(current[-1]))
                self.render(group, Page(len(found), False, tuple(current)))
                current = []
            current.append(record)
        self.render(group, Page(len(found) + 1, True, tuple(current)))
        return tuple(found)

    def _changed(self, group: FeedGroup, head: PagesHead) -> int:
        """Render the pages whose ranges the changes since the last build touched; the
        newest page's number."""
        selection = group.selection
        last = head.last
        opened = head.closed + 1
        wanted: set[int] = set()
        for position in self._touched.by_selection.get(selection_key(selection), ()):
            if last is None or position.sort_key() > last.sort_key():
                wanted.add(opened)  # after every end: the open page (a new article)
            else:
                number = self.reader.page_of(selection, position)
                wanted.add(opened if number is None else number)
        closed: list[Position] = []
        while True:  # close the open page while it has more than a page of entries
            ahead = self.reader.positions_after(selection, self.now, last, self.size + 1)
            if len(ahead) <= self.size:
                break
            last = ahead[self.size - 1]
            closed.append(last)
        newest = opened + len(closed)
        if closed:
            wanted.update(range(opened, newest + 1))
            self._extended[selection] = (head, tuple(closed), True)

        def end(number: int) -> Position | None:
            if number < 1 or number >= newest:
                return None  # before the first page, or the open page
            if number > head.closed:
                return closed[number - opened]
            if number == head.closed:
                return head.last
            return self.reader.page_end(selection, number)

        for number in sorted(wanted):
            rows = self.reader.range_rows(
                selection, self.now, after=end(number - 1), until=end(number)
            )
            self.render(group, Page(number, number == newest, tuple(rows)))
        return newest

    def forget(self, selections: Iterable[Selection]) -> None:
        """Selections whose groups are gone: nothing of their pages is kept."""
        self.forgotten.update(selection_key(selection) for selection in selections)

    def forget_gone(self, groups: Iterable[FeedGroup]) -> None:
        """An incremental build: drop the stored pages of the selections it touched that
        have no group any more (a tag or author with nothing published)."""
        live = {selection_key(group.selection) for group in groups}
        self.forgotten.update(
            name for name in self._touched.by_selection if name not in live and name[0] != "site"
        )

    def forget_all_but(self, groups: Iterable[FeedGroup]) -> None:
        """A full build: drop the stored pages of every selection not in ``groups``."""
        kept = {selection_key(group.selection) for group in groups}
        self.forgotten.update(self.reader.paged_selections() - kept)

    def store(self, writer: PageStore) -> None:
        """Write what this build changed of the stored page ends (its bookkeeping)."""
        if self.forgotten:
            writer.forget_pages(self.forgotten)
        for selection, bounds in self.updates.items():
            writer.store_pages(selection, bounds)
        for selection, (head, closed, published) in self._extended.items():
            writer.extend_pages(selection, head, closed, published)


def selections_of(record: StoredArticle) -> Iterable[tuple[str, str]]:
    """The names of the selections ``record`` belongs to (as selection_key makes them)."""
    yield ("site", "")
    for slug, _tag in record.tags:
        if isinstance(slug, str):
            yield ("tag", slug)
    if record.author is not None and isinstance(record.author.name, str):
        yield ("author", record.author.name)


def _kept_ends(stored: PageBounds | None, size: int) -> tuple[Position, ...]:
    """The stored page ends that still hold, those of pages of ``size`` (pages made
    for another page size meant something else)."""
    return stored.ends if stored is not None and stored.size == size else ()


class _Cut:
    """One selection's pages in a full build's walk: its stored ends, then full pages
    closing as the next row arrives."""

    def __init__(self, group: FeedGroup, stored: PageBounds | None, size: int) -> None:
        self.group = group
        self.stored = stored  # as read: what the build's bookkeeping compares with
        kept = _kept_ends(stored, size)
        self.ends = list(kept)
        self.size = size
        self._stored = len(kept)
        self._number = 1
        self._rows: list[object] = []
        self._last: Position | None = None

    def _close(self) -> Page:
        page = Page(self._number, False, (), tuple(self._rows))
        self._number += 1
        self._rows = []
        return page

    def add(self, position: Position, walked: object) -> list[Page]:
        """Take the next row of the selection; the pages that are complete before it."""
        done = []
        key = position.sort_key()
        while self._number <= self._stored and key > self.ends[self._number - 1].sort_key():
            done.append(self._close())
        if self._number > self._stored and len(self._rows) == self.size:
            assert self._last is not None
            self.ends.append(self._last)
            done.append(self._close())
        self._rows.append(walked)
        self._last = position
        return done

    def finish(self) -> list[Page]:
        """The pages still open: stored ones that no row reached, and the newest."""
        done = []
        while self._number <= self._stored:
            done.append(self._close())
        done.append(Page(self._number, True, (), tuple(self._rows)))
        return done


def remove_archive(
    directory: str, files: Files, *, keep: int = 0, formats: Iterable[FeedSpec] = ()
) -> None:
    """Remove ``directory``'s archive pages after page ``keep``, and files of formats
    no longer published from the pages it keeps."""
    wanted = {spec.format.file for spec in formats}
    folder = os.path.join(files.root, directory, ARCHIVE_DIR)
    if not os.path.isdir(folder) or os.path.islink(folder):
        return
    for name in sorted(os.listdir(folder)):
        if not name.isdigit() or name != str(int(name)):
            continue  # not a page feeder wrote
        stale = int(name) > keep
        for feed in FORMATS.values():
            if stale or feed.file not in wanted:
                files.remove(f"{directory}{ARCHIVE_DIR}/{name}/{feed.file}")
        if stale:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(folder, name))
    with contextlib.suppress(OSError):
        os.rmdir(folder)


def is_subscription_feed(path: str) -> bool:
    """Whether ``path`` (in the output directory) is a feed people subscribe to: a file
    named as a format names its feeds (the rule the server serves media types by),
    not an archive page (nobody subscribes to those; readers fetch them once)."""
    parts = path.split("/")
    if parts[-1] not in _FEED_FILES:
        return False
    return not (len(parts) >= 3 and parts[-3] == ARCHIVE_DIR and parts[-2].isdigit())


_FEED_FILES = frozenset(feed.file for feed in FORMATS.values())


def archive_links(
    config: Config, group: FeedGroup, spec: FeedSpec, number: int, newest: int
) -> tuple[Link, ...]:
    """An archive page's links to the feed it belongs to and to its neighbours."""

    def page(rel: str, other: int) -> Link:
        return Link(rel, config.url(page_path(group, other, spec)), spec.format.media_type)

    links = [Link("current", config.url(spec.path), spec.format.media_type)]
    if number > 1:
        links.append(page("prev-archive", number - 1))
    if number < newest:
        links.append(page("next-archive", number + 1))
    return tuple(links)


def subscription_links(
    config: Config, group: FeedGroup, spec: FeedSpec, newest: int | None
) -> tuple[Link, ...]:
    """The subscription feed's link to its newest archive page, when it has an archive."""
    if newest is None:
        return ()
    href = config.url(page_path(group, newest, spec))
    return (Link("prev-archive", href, spec.format.media_type),)
