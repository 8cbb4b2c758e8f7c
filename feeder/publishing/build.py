"""Publishing a site: read one snapshot, render, write what changed.

A full build renders every feed and every article page and removes pages
that no longer belong. An incremental build renders every feed and the index
(cheap: at most ``max_items`` entries each) and only the pages of articles
that changed, came due or left since the last build, so its cost follows the
size of the change, not the size of the site.

A build publishes whatever it can. Each stored row is checked on its way out
(feeder._records); a row that cannot be published is left out of every feed and
page and reported once in :attr:`BuildReport.errors`, and the others are
published as usual. Every path the build writes or removes is made from a
checked slug and must resolve inside the output directory.

The settings that shape the output are fingerprinted: when they differ from
those of the last complete full build (a new title, another base URL, a newer
feeder), the next build is a full one, so no page keeps the old look.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import logging
import os
import stat
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from db import Selection, StoredArticle, selection_key
from feeder._derived import Sealer
from feeder._processes import rare_collections
from feeder._records import (
    ARTICLES_DIR,
    RowProblem,
    article_path,
    checked_slug,
    entry_of,
    has_page,
    text,
    who,
)
from feeder._tombstones import deleted_entries, expired_selections, held
from feeder.config import Config
from feeder.entries import (
    DeletedEntry,
    Enclosure,
    Entry,
    FeedLink,
    Link,
    PodcastChannel,
    SiteInfo,
)
from feeder.errors import PublishError
from feeder.publishing import outputs
from feeder.publishing import podcast as _podcast
from feeder.publishing.archives import (
    Archives,
    Page,
    archive_links,
    is_subscription_feed,
    page_path,
    remove_archive,
    selections_of,
    subscription_links,
)
from feeder.publishing.feeds import (
    FORMATS,
    OPML,
    STYLESHEETS,
    FeedDocument,
    FeedGroup,
    FeedSpec,
    author_slugs,
    channel_for,
    feed_groups,
    feed_links,
    site_author,
    site_info,
    stylesheet_links,
)
from feeder.publishing.fence import Fence, Turn
from feeder.publishing.files import FileBatch, copy_if_changed, remove, sweep_temp
from feeder.publishing.items import Items, Variant, variants
from feeder.publishing.media import MediaFiles, local_files
from feeder.publishing.render import render_article
from feeder.publishing.render.opml import Outline, render_opml
from feeder.publishing.render.page import Listing, render_group, render_index
from feeder.publishing.rendering import (
    BuildContext,
    Rendered,
    Rendering,
    remove_stale_pages,
    worker_count,
)
from feeder.publishing.spill import Spill, Spillable

__all__ = [
    "ARTICLES_DIR",
    "LISTED",
    "OUTPUT_VERSION",
    "BuildReport",
    "article_path",
    "output_fingerprint",
    "run_build",
]

if TYPE_CHECKING:  # worker processes render groups with this module and no database
    from db import Reader, Storage

log = logging.getLogger("feeder.publishing.build")

INDEX = "index.html"
#: How many written (and removed) paths a report names; beyond, it counts them (the
#: subscription feeds a build wrote are always named: WebSub hubs are told about each).
LISTED = 1000
# Bump when a change to feeder changes what the same data renders to: every
# site then gets one full build after the upgrade.
OUTPUT_VERSION = 2


@dataclass(frozen=True)
class BuildReport:
    """What one build did."""

    full: bool
    revision: int
    entries: int
    written: tuple[str, ...]
    unchanged: int
    removed: tuple[str, ...]
    seconds: float
    errors: tuple[str, ...] = field(default=())
    #: Files written (removed) beyond the first :data:`LISTED` that ``written``
    #: (``removed``) names: a report stays small when a full build writes a million pages.
    written_more: int = 0
    removed_more: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def written_count(self) -> int:
        return len(self.written) + self.written_more

    @property
    def removed_count(self) -> int:
        return len(self.removed) + self.removed_more

    def summary(self) -> str:
        kind = "full" if self.full else "incremental"
        text = (
            f"{kind} build: {self.written_count} written, {self.unchanged} unchanged, "
            f"{self.removed_count} removed, {self.entries} entries, {self.seconds * 1000:.0f} ms"
        )
        if self.errors:
            text += f", {len(self.errors)} errors"
        return text


def output_fingerprint(config: Config) -> str:
    """A hash of every setting that shapes the published files."""
    shaping = {
        "version": OUTPUT_VERSION,
        "title": config.title,
        "description": config.description,
        "base_url": config.base_url,
        "language": config.language,
        "authority": config.authority,
        "author": [config.feed_author, config.author.email, config.author.uri],
        "max_items": config.max_items,
        "content": [
            config.content.max_content_bytes,
            config.content.max_title_chars,
            config.content.allow_iframes,
        ],
        "feeds": dataclasses.asdict(config.feeds),
        "output_dir": str(config.output_dir),
    }
    if config.websub_hub:  # absent without hubs: those sites keep their fingerprint
        shaping["websub_hub"] = list(config.websub_hub)
    podcast = _podcast.settings(config)
    if podcast is not None:  # only then: other sites keep their fingerprint
        shaping["podcast"] = podcast
    encoded = json.dumps(shaping, sort_keys=True, ensure_ascii=False).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


class _Writer:
    """Writes and removes files inside the output directory, and remembers what it did.

    Files are written through one :class:`FileBatch` per build: durable together,
    each complete before it is served. ``fence`` passes every rename and removal
    (feeder.publishing.fence); the batch applies it to the renames it makes.
    """

    def __init__(
        self,
        root: Path,
        batch: FileBatch,
        fence: Fence | None = None,
        sealer: Sealer | None = None,
    ) -> None:
        self.root = root
        self.batch = batch
        self._fence = fence
        self.sealer = sealer  # checks content seals: sealed content is not sanitised again
        self.entries: OrderedDict[int, Entry | None] = OrderedDict()  # see _entry
        self.items: Items | None = None  # entries rendered once per format
        self.latest: _Latest | None = None  # a full build's newest entries of each group
        self._root = os.fspath(root)
        self._real_root = os.path.realpath(root)
        #: folders already found inside the root, and what they resolve to
        self._inside_root: dict[str, str] = {self._root: self._real_root}
        self.written: list[str] = []  # the first LISTED (and every feed), then only counted
        self.removed: list[str] = []
        self.written_more = self.removed_more = 0
        self.unchanged = 0
        self.errors: list[str] = []
        self._reported: set[object] = set()
        self.media: MediaFiles | None = None

    def _inside(self, relative: str) -> str:
        """``relative`` under the root; refused if it (or a symlinked folder) leads out."""
        path = os.path.join(self._root, relative)
        folder, name = os.path.split(path)
        if folder not in self._inside_root:
            if len(self._inside_root) > _FOLDERS_KEPT:  # a big site's archive folders
                self._inside_root = {self._root: self._real_root}
            parent = self._resolved(folder)
            if os.path.commonpath([parent, self._real_root]) != self._real_root:
                raise PublishError(
                    f"{relative}: resolves outside the output directory; not written"
                )
            self._inside_root[folder] = parent
        if name in ("", ".", ".."):
            raise PublishError(f"{relative}: resolves outside the output directory; not written")
        return path

    def _resolved(self, folder: str) -> str:
        """``folder`` with every symlink resolved. Below a folder already found inside
        (an archive page's folder below ``archive/``), one lstat per new component."""
        names: list[str] = []
        known = folder
        while known not in self._inside_root:
            above, name = os.path.split(known)
            if above == known or name in ("", ".", "..") or len(names) > 4:
                return os.path.realpath(folder)
            names.append(name)
            known = above
        resolved = self._inside_root[known]
        for name in reversed(names):
            known = os.path.join(known, name)
            try:
                if stat.S_ISLNK(os.lstat(known).st_mode):
                    return os.path.realpath(folder)
            except FileNotFoundError:
                pass  # the batch makes it, as a folder
            resolved = os.path.join(resolved, name)
            self._inside_root[known] = resolved  # inside: the caller checks the last one
        return resolved

    def write(self, relative: str, data: bytes) -> None:
        """Queue ``data`` for ``relative``; it is counted once the batch commits it."""
        self.batch.write(
            self._inside(relative), data, lambda changed: self._wrote(relative, changed)
        )

    def _wrote(self, relative: str, changed: bool) -> None:
        if not changed:
            self.unchanged += 1
        elif len(self.written) < LISTED or is_subscription_feed(relative):
            self.written.append(relative)
        else:
            self.written_more += 1

    def kept(self) -> None:
        """Count a file that was found as it should be, without writing or reading it."""
        self.unchanged += 1

    def copy(self, relative: str, source: Path, size: int) -> None:
        """Publish the file ``source`` (a media file) at ``relative``, when it is not there."""
        self._wrote(
            relative, copy_if_changed(Path(self._inside(relative)), source, size, fence=self._fence)
        )

    def publish_media(self, slug: str, files: Sequence[Enclosure]) -> None:
        """Publish the local media files of the article ``slug`` (feeder.publishing.media)."""
        if self.media is not None and files:
            self.media.publish_files(slug, files)

    def remove(self, relative: str) -> None:
        if not remove(Path(self._inside(relative)), fence=self._fence):
            return
        if len(self.removed) < LISTED:
            self.removed.append(relative)
        else:
            self.removed_more += 1

    def flush(self) -> None:
        """Put every file written so far in place, durably."""
        self.batch.flush()

    def note(self, message: str) -> None:
        log.info("%s", message)

    def problem(self, key: object, message: str) -> None:
        """Report ``message`` once per build for ``key`` (a row is found by several queries)."""
        if key not in self._reported:
            self._reported.add(key)
            self.errors.append(message)
            log.debug("%s", message)

    def left_out(self, record: StoredArticle, reason: object) -> None:
        how = "cannot be read and was left out" if record.problems else "was left out"
        self.problem(record.pk, f"{who(record.pk, record.slug)} {how}: {reason}")


#: Folders whose place inside the output a build remembers (then it starts over).
_FOLDERS_KEPT = 4096
# Entries a build keeps at hand: an article is in the feeds of the site, of each of
# its tags and of its author, and one snapshot gives it the same entry in each.
_KEPT_ENTRIES = 2048


def _entry(record: StoredArticle, config: Config, writer: _Writer) -> Entry | None:
    kept = writer.entries
    if record.pk in kept:
        kept.move_to_end(record.pk)
        return kept[record.pk]
    entry: Entry | None = None
    try:
        entry = entry_of(record, config, writer.sealer)
    except RowProblem as problem:
        writer.left_out(record, problem)
    else:
        # What is published somewhere has its files published.
        writer.publish_media(entry.slug, local_files(entry))
    _keep_entry(writer, record.pk, entry)
    return entry


def _keep_entry(writer: _Writer, pk: int, entry: Entry | None) -> None:
    kept = writer.entries
    kept[pk] = entry
    if len(kept) > _KEPT_ENTRIES:
        kept.popitem(last=False)


class _Walked(Spillable):
    """What a full build's walk keeps of a row for the documents that carry it: its
    entry, and its items (set aside on disk while the row is old, see
    feeder.publishing.spill)."""

    __slots__ = ("entry",)

    def __init__(self, entry: Entry, items: Mapping[Variant, bytes]) -> None:
        super().__init__(items)
        self.entry = entry


class _Latest:
    """A full build's newest entries of every group, gathered as it walks every row
    oldest first (instead of a query per group afterwards)."""

    def __init__(self, groups: Iterable[FeedGroup], size: int) -> None:
        self._by: dict[tuple[str, str], deque[_Walked]] = {
            selection_key(group.selection): deque(maxlen=size) for group in groups
        }

    def add(self, record: StoredArticle, walked: _Walked | None) -> None:
        if walked is None:  # left out: makes room for an older one
            return
        for name in selections_of(record):
            found = self._by.get(name)
            if found is not None:
                found.append(walked)

    def of(self, selection: Selection, items: Items | None) -> list[Entry]:
        """Newest first; their items go to ``items``, where the group's feeds find them
        (one group at a time: those set aside are read back for a moment only)."""
        found = list(reversed(self._by.pop(selection_key(selection), ())))
        if items is not None:
            for walked in found:
                items.put(walked.entry, walked.items)
        return [walked.entry for walked in found]


def _newest(
    reader: Reader, selection: Selection, config: Config, now: datetime, writer: _Writer
) -> list[Entry]:
    """The newest ``max_items`` publishable entries of ``selection``.

    A row that is left out makes room for an older one.
    """
    if writer.latest is not None:
        return writer.latest.of(selection, writer.items)
    wanted = config.max_items
    entries: list[Entry] = []
    last: StoredArticle | None = None
    while len(entries) < wanted:
        batch = reader.newest(selection, now, wanted - len(entries), after=last)
        if not batch:
            break
        for record in batch:
            entry = _entry(record, config, writer)
            if entry is not None:
                entries.append(entry)
        last = batch[-1]
    return entries


@dataclass(frozen=True)
class _Feed:
    """One feed file to render: its spec, the group it belongs to, and the site's details."""

    spec: FeedSpec
    group: FeedGroup
    config: Config
    created: datetime
    stylesheets: tuple[Link, ...]
    #: An archive page's path (feeder.publishing.archives); "" for the feed itself.
    page: str = ""
    #: RFC 5005 links: to the archive, or an archive page's to the feed and its neighbours.
    history: tuple[Link, ...] = ()
    #: Podcast mode: what the channel adds (feeder.publishing.podcast).
    podcast: PodcastChannel | None = None
    #: Entries deleted from the selection (RFC 6721), for the formats that say so.
    tombstones: tuple[DeletedEntry, ...] = ()

    @property
    def path(self) -> str:
        return self.page or self.spec.path

    def render(self, entries: Sequence[Entry], items: Sequence[bytes] | None = None) -> bytes:
        """The document of ``entries``; ``items``: theirs, already rendered, to splice in."""
        if self.podcast is not None:
            # PSP-1: every item of a podcast feed has an enclosure; the others are articles.
            entries = [entry for entry in entries if entry.enclosures]
            items = None  # and its items carry their episodes
        channel = channel_for(
            self.config, self.spec, entries, site_created=self.created, group=self.group
        )
        if self.page:  # the same feed (same id), at the page's own address
            own = Link("self", self.config.url(self.page), self.spec.format.media_type)
            links = (own, *(link for link in channel.links if link.rel != "self"))
            channel = dataclasses.replace(channel, links=links + self.history)
        elif self.history:
            channel = dataclasses.replace(channel, links=channel.links + self.history)
        document = FeedDocument(
            channel,
            entries,
            self.group.summary_only,
            self.stylesheets,
            archive=bool(self.page),
            podcast=self.podcast,
            tombstones=self.tombstones,
            items=items,
        )
        return self.spec.format.render(document)


class _Sink(Protocol):
    def write(self, relative: str, data: bytes) -> None: ...
    def problem(self, key: object, message: str) -> None: ...
    def note(self, message: str) -> None: ...


@dataclass(frozen=True)
class GroupExtras:
    """What a group's feeds carry beyond its entries, by feed path: RFC 5005 links to
    its archive, the podcast channel; and its tombstones (RFC 6721)."""

    history: Mapping[str, tuple[Link, ...]] = field(default_factory=dict)
    podcasts: Mapping[str, PodcastChannel] = field(default_factory=dict)
    tombstones: tuple[DeletedEntry, ...] = ()


@dataclass
class GroupFiles:
    """A group's files, rendered (maybe in a worker process) and not written yet."""

    files: list[tuple[str, bytes]] = field(default_factory=list)
    problems: list[tuple[object, str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def write(self, relative: str, data: bytes) -> None:
        self.files.append((relative, data))

    def problem(self, key: object, message: str) -> None:
        self.problems.append((key, message))

    def note(self, message: str) -> None:
        self.notes.append(message)

    def apply(self, writer: _Sink) -> None:
        """Report and write them, in the order they were rendered."""
        for key, message in self.problems:
            writer.problem(key, message)
        for message in self.notes:
            writer.note(message)
        for relative, data in self.files:
            writer.write(relative, data)


def group_files(
    group: FeedGroup,
    entries: Sequence[Entry],
    config: Config,
    site: SiteInfo,
    created: datetime,
    stylesheets: tuple[Link, ...],
    extras: GroupExtras | None = None,
    items: Items | None = None,
) -> GroupFiles:
    """The feeds of ``group`` in each of its formats, and its page (not the site's)."""
    extras = extras or GroupExtras()
    files = GroupFiles()
    for spec in group.specs:
        feed = _Feed(
            spec,
            group,
            config,
            created,
            stylesheets,
            history=extras.history.get(spec.path, ()),
            podcast=extras.podcasts.get(spec.path),
            tombstones=extras.tombstones,
        )
        _render_feed(feed, entries, files, items)
    if group.kind != "site":
        page = render_group(
            site, group.title, group.description, feed_links(config, group), entries
        )
        files.write(group.page, page)
    return files


def _render_feed(
    feed: _Feed,
    entries: Sequence[Entry],
    writer: _Sink,
    items: Items | None = None,
    given: Sequence[Mapping[Variant, bytes]] | None = None,
) -> None:
    """Render one feed; an entry that makes rendering fail is left out and reported.

    With ``items``, each entry is rendered once per format in a build and spliced in;
    ``given``: each entry's items, already rendered.
    """
    pieces: list[bytes] | None = None
    if feed.podcast is None:
        variant = (feed.spec.format.name, feed.group.summary_only)
        if given is not None and all(variant in found for found in given):
            pieces = [found[variant] for found in given]
        elif items is not None:
            pieces = items.of(feed.spec.format, entries, feed.group.summary_only)
    try:
        data = feed.render(entries, pieces)
    except Exception:  # one bad row must not stop the feed; find it and drop it
        pieces = None
        good: list[Entry] = []
        for entry in entries:
            try:
                feed.render([entry])
            except Exception as exc:
                writer.problem(entry.id, f"article {entry.slug!r} was left out: {exc}")
            else:
                good.append(entry)
        entries = good
        data = feed.render(entries)
    limit = feed.config.feeds.max_bytes
    # An archive page carries its whole page: its place in the chain is what it holds.
    if len(data) > limit and len(entries) > 1 and not feed.page:
        size = len(data)
        data, kept = _within(feed, entries, limit, pieces)
        writer.note(
            f"{feed.path}: {len(entries)} entries make {size} bytes, over "
            f"feeds.max_bytes ({limit}); it carries the newest {kept}"
        )
    writer.write(feed.path, data)


def _within(
    feed: _Feed, entries: Sequence[Entry], limit: int, items: Sequence[bytes] | None
) -> tuple[bytes, int]:
    """The feed of as many of the newest entries as fit in ``limit`` bytes (at least one).

    Whole entries only: a feed is never cut inside one.
    """

    def first(count: int) -> bytes:
        return feed.render(entries[:count], None if items is None else items[:count])

    best, kept = first(1), 1
    low, high = 2, len(entries) - 1  # all of them are known to be too many
    while low <= high:
        middle = (low + high) // 2
        data = first(middle)
        if len(data) <= limit:
            best, kept, low = data, middle, middle + 1
        else:
            high = middle - 1
    return best, kept


def _write_page(site: SiteInfo, entry: Entry, writer: _Writer) -> None:
    try:
        data = render_article(site, entry)
    except Exception as exc:  # one bad row must not stop the others
        writer.problem(entry.id, f"{article_path(entry.slug)}: {exc}")
        return
    writer.write(article_path(entry.slug), data)


def _page_of(record: StoredArticle, config: Config, site: SiteInfo, writer: _Writer) -> str | None:
    """Write ``record``'s page; its slug, or None when the row was left out."""
    entry = _entry(record, config, writer)
    if entry is None:
        return None
    _write_page(site, entry, writer)
    return entry.slug


def _safe_slug(value: object) -> str | None:
    try:
        return checked_slug(value)
    except RowProblem:
        return None


def _incremental_pages(
    reader: Reader,
    state_revision: int,
    since: datetime,
    now: datetime,
    config: Config,
    site: SiteInfo,
    writer: _Writer,
) -> dict[int, StoredArticle]:
    """Write and remove the pages of what changed or came due; the articles it touched."""
    touched: dict[int, StoredArticle] = {}
    for record in reader.changed_since(state_revision):
        touched[record.pk] = record
    for record in reader.due_between(since, now):
        touched[record.pk] = record
    live: set[str] = set()
    stale: set[str] = set()
    for record in touched.values():
        if record.published_at is None:
            writer.left_out(record, "; ".join(record.problems))
        elif record.published_at <= now and has_page(record):
            slug = _page_of(record, config, site, writer)
            if slug is not None:
                live.add(slug)
                continue
        # Scheduled, linked elsewhere, or left out: no page under this slug.
        slug = _safe_slug(record.slug)
        if slug is not None:
            stale.add(slug)
    for gone in reader.removed_since(state_revision):
        slug = _safe_slug(gone.slug)
        if slug is None:
            writer.problem(
                ("removal", repr(gone.slug)),
                f"a removal names the slug {gone.slug!r}, which is not safe; nothing removed",
            )
        else:
            stale.add(slug)
    for slug in sorted(stale - live):
        holder = reader.article(slug)
        if holder is not None and holder.pk not in touched and has_page(holder):
            published = holder.published_at
            if published is not None and published <= now:
                continue  # another article holds the slug and keeps its page
        writer.remove(article_path(slug))
    return touched


# What a tag's or author's directory holds, and nothing else is removed from it.
_GROUP_FILES = (*(feed.file for feed in FORMATS.values()), "index.html")


def _safe_groups(
    reader: Reader, config: Config, now: datetime, writer: _Writer
) -> tuple[list[tuple[str, str]], list[str], dict[str, str]]:
    """The tags and authors that have published articles, and each author's directory name."""
    tags = []
    for slug, name in reader.tags_in_use(now):
        try:
            tags.append((checked_slug(text("tag slug", slug)), text("tag", name).strip() or slug))
        except RowProblem as problem:
            writer.problem(("tag", repr(slug)), f"tag {slug!r} has no feed: {problem}")
    readable: list[tuple[int, str]] = []
    for pk, name in reader.author_names():
        try:
            shown = text("author", name).strip()
        except RowProblem as problem:
            writer.problem(("author", pk), f"author #{pk} has no feed: {problem}")
            continue
        if shown:  # a blank name is no author (entries show none), so no feed either
            readable.append((pk, shown))
    names = {pk: name for pk, name in readable}
    authors = [names[pk] for pk, _name in reader.authors_in_use(now) if pk in names]
    return tags, authors, author_slugs(readable)


def _publish_group(
    group: FeedGroup,
    reader: Reader,
    config: Config,
    now: datetime,
    site: SiteInfo,
    created: datetime,
    writer: _Writer,
    archives: Archives,
    podcasts: _podcast.Podcasts | None = None,
) -> list[Entry]:
    newest_page = archives.publish(group)
    entries = _newest(reader, group.selection, config, now, writer)
    extras = GroupExtras(
        history={
            spec.path: subscription_links(config, group, spec, newest_page) for spec in group.specs
        },
        podcasts={
            spec.path: channel
            for spec in group.specs
            if podcasts is not None
            and (channel := podcasts.channel(group.kind, spec.path, spec.format.name)) is not None
        },
        tombstones=tuple(deleted_entries(reader, group.selection, config, now, writer.problem)),
    )
    stylesheets = stylesheet_links(config)
    files = group_files(group, entries, config, site, created, stylesheets, extras, writer.items)
    files.apply(writer)
    return entries


def _remove_group(directory: str, writer: _Writer) -> None:
    """Remove what a tag's or author's directory held (it has nothing published any more)."""
    for name in _GROUP_FILES:
        writer.remove(directory + name)
    remove_archive(directory, writer)
    with contextlib.suppress(OSError):
        (writer.root / directory).rmdir()


def _stale_groups(groups: Iterable[FeedGroup], config: Config, writer: _Writer) -> None:
    """What a full build no longer writes: feeds of formats or stylesheets switched off,
    and directories of tags and authors that no longer have feeds."""
    groups = list(groups)
    for group in groups:
        wanted = {spec.path for spec in group.specs}
        for feed in FORMATS.values():
            if group.directory + feed.file not in wanted:
                writer.remove(group.directory + feed.file)
    chosen = {name for name, _type in STYLESHEETS[config.feeds.stylesheet]}
    for choice in STYLESHEETS.values():
        for name, _type in choice:
            if name not in chosen:
                writer.remove(name)
    kept = {group.directory for group in groups}
    for kind in ("tags", "authors"):
        folder = writer.root / kind
        if not folder.is_dir() or folder.is_symlink():
            continue
        for name in sorted(os.listdir(folder)):
            directory = f"{kind}/{name}/"
            if directory not in kept and _safe_slug(name) and (folder / name).is_dir():
                _remove_group(directory, writer)


def _shared_files(
    config: Config,
    site: SiteInfo,
    groups: Sequence[FeedGroup],
    newest: Sequence[Entry],
    writer: _Writer,
) -> None:
    """The index, feeds.opml and the browsers' stylesheet: they list or serve every group."""
    tags = [g for g in groups if g.kind == "tags"]
    authors = [g for g in groups if g.kind == "authors"]

    def followable(group: FeedGroup) -> tuple[str, str, tuple[tuple[str, FeedLink], ...]]:
        feeds = zip(group.specs, feed_links(config, group), strict=True)
        shown = tuple((spec.format.label.split()[0], feed) for spec, feed in feeds)
        return group.label, config.url(group.directory), shown

    listings = [
        Listing("Tags", tuple(followable(g) for g in tags)),
        Listing("Authors", tuple(followable(g) for g in authors)),
    ]
    writer.write(INDEX, render_index(site, newest, listings, config.url(OPML)))
    sections = [
        (
            heading,
            [
                Outline(
                    f"{group.title} ({spec.format.label})",
                    config.url(spec.path),
                    config.url(group.directory),
                    spec.format.label.split()[0],
                )
                for group in chosen
                for spec in group.specs
            ],
        )
        for heading, chosen in (
            (config.title, [g for g in groups if g.kind == "site"]),
            ("Tags", tags),
            ("Authors", authors),
        )
    ]
    writer.write(OPML, render_opml(f"{config.title}: every feed", config.base_url, sections))
    for name, _media_type in STYLESHEETS[config.feeds.stylesheet]:
        writer.write(name, _static(name))


def _static(name: str) -> bytes:
    """A file shipped with feeder for browsers (feed.xsl, feed.css)."""
    return (files("feeder.publishing.render") / "static" / name).read_bytes()


def run_build(
    storage: Storage,
    config: Config,
    *,
    now: datetime,
    full: bool = False,
    turn: Turn | None = None,
    processes: int | None = None,
) -> BuildReport:
    """Build the site as of ``now`` and record the result in the database.

    The caller holds the publish lock of the output directory (see
    feeder.publishing.exclusive) and says in ``turn`` which output it is, the
    mark it set and the fence every file operation passes; without one, the
    directory is identified here and written unfenced. ``processes``: worker
    processes that render a full build's pages and feeds (feeder.publishing.rendering;
    default: one per CPU, at most ``build.processes``, none on one CPU or for a
    small site).
    """
    started = time.perf_counter()
    if turn is None:
        turn = Turn(outputs.identify(config.output_dir))
    elif outputs.ensure(config.output_dir, turn.output):
        full = True  # the directory lost its identity file: it was wiped, or is new
    with FileBatch(fence=turn.fence) as batch, contextlib.ExitStack() as workers:
        writer = _Writer(config.output_dir, batch, turn.fence)
        return _build(storage, config, now, full, started, writer, turn, processes, workers)


def _build(
    storage: Storage,
    config: Config,
    now: datetime,
    full: bool,
    started: float,
    writer: _Writer,
    turn: Turn,
    processes: int | None,
    workers: contextlib.ExitStack,
) -> BuildReport:
    media = writer.media = MediaFiles(
        config, writer.copy, writer.remove, writer.problem, writer.kept
    )
    site = site_info(config)
    fingerprint = output_fingerprint(config)
    try:
        config.output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PublishError(f"{config.output_dir}: cannot be created: {exc.strerror}") from exc
    with storage.read() as reader:
        state = reader.build_state(turn.output)
        writer.sealer = Sealer.of(state.seal_key, allow_iframes=config.content.allow_iframes)
        revision = state.revision
        full = (
            full
            or state.built_revision < 0
            or state.built_until is None
            or state.built_settings != fingerprint
        )
        tags, authors, slugs = _safe_groups(reader, config, now, writer)
        # What the index and feeds.opml offer; then those only tombstones keep.
        listed = feed_groups(config, tags, authors, slugs)
        held_tags, held_authors = held(reader, config, now, tags, authors, writer.problem)
        groups = listed + [
            group
            for group in feed_groups(config, held_tags, held_authors, slugs)
            if group.kind != "site"
        ]
        items = writer.items = Items(site_author(config))
        render_page = _page_renderer(config, state.created_at, writer)
        archives = Archives(reader, config, now, writer, render_page, full=full)
        podcasts = None
        if config.podcast.enabled:
            podcasts = _podcast.Podcasts(config, reader.podcast_guids(), media, writer.problem)
        if full:
            workers.enter_context(rare_collections())
            archives.forget_all_but(groups)
            archives.walk(groups)
            wanted = groups
            context = BuildContext(config, site, state.seal_key, variants(groups), items.author)
            amount = reader.count() * (1 + len(context.variants))  # pages and items
            count = worker_count(processes, amount, config.build.processes)
            rendering = workers.enter_context(Rendering(context, writer, count))

            latest = _Latest(groups, config.max_items)
            spill = workers.enter_context(Spill(config.output_dir))

            def walked(record: StoredArticle, result: Rendered) -> None:
                kept = None
                if result.entry is not None:
                    kept = _Walked(result.entry, result.items or {})
                    spill.hold(kept)
                latest.add(record, kept)
                archives.add(record, kept)  # writes the archive pages it completes

            left_out = rendering.pages(reader, now, walked)
            rendering.close()
            writer.latest = latest
            for pk, slug, reason in reader.undated():
                writer.problem(pk, f"{who(pk, slug)} cannot be read and was left out: {reason}")
        else:
            assert state.built_until is not None
            since = min(state.built_until, now)
            touched = _incremental_pages(
                reader, state.built_revision, since, now, config, site, writer
            )
            left = reader.changed_selections(state.built_revision)
            left |= expired_selections(reader, config, since, now)
            wanted = _touched_groups(config, groups, touched, left, slugs, writer)
            archives.touched(touched.values())
            archives.moved(reader.moved_since(state.built_revision))
            archives.forget_gone(groups)
        newest: list[Entry] = []
        for group in wanted:
            entries = _publish_group(
                group,
                reader,
                config,
                now,
                site,
                state.created_at,
                writer,
                archives,
                podcasts,
            )
            if group.kind == "site":
                newest = entries
        _shared_files(config, site, listed, newest, writer)
        if full:
            _stale_groups(groups, config, writer)
            # Last: the pages and feeds that replace a stale page are in place first.
            remove_stale_pages(reader, now, str(writer.root), writer, left_out)
            media.sweep()
    # Recorded as built only once every file it wrote is in place and on disk.
    writer.flush()
    if full:
        sweep_temp(config.output_dir)
    report = BuildReport(
        full=full,
        revision=revision,
        entries=len(newest),
        written=tuple(writer.written),
        unchanged=writer.unchanged,
        removed=tuple(writer.removed),
        seconds=time.perf_counter() - started,
        errors=tuple(writer.errors),
        written_more=writer.written_more,
        removed_more=writer.removed_more,
    )
    with storage.write() as recorder:
        archives.store(recorder)
        if podcasts is not None and podcasts.minted:
            recorder.store_podcast_guids(podcasts.minted, now)
        recorder.record_build(
            output=turn.output,
            revision=report.revision,
            now=now,
            seconds=report.seconds,
            result=report.summary(),
            fingerprint=fingerprint if full else None,
            error=report.errors[0] if report.errors else None,
            token=turn.token,
            stale_before=now - outputs.FORGET_AFTER,
        )
    return report


def _page_renderer(
    config: Config, created: datetime, writer: _Writer
) -> Callable[[FeedGroup, Page], None]:
    """Writes an archive page of a group in each of its formats."""
    stylesheets = stylesheet_links(config)

    def render(group: FeedGroup, page: Page) -> None:
        # Newest first inside a page, as in every feed document.
        given: list[Mapping[Variant, bytes]] | None = None
        if page.walked:  # a full build's walk: the entries and their items
            walked = [w for w in reversed(page.walked) if isinstance(w, _Walked)]
            entries = [w.entry for w in walked]
            given = [w.items for w in walked]
        else:
            entries = [
                entry
                for record in reversed(page.records)
                if (entry := _entry(record, config, writer)) is not None
            ]
        newest = page.number if page.newest else page.number + 1
        for spec in group.specs:
            feed = _Feed(
                spec,
                group,
                config,
                created,
                stylesheets,
                page=page_path(group, page.number, spec),
                history=archive_links(config, group, spec, page.number, newest),
            )
            _render_feed(feed, entries, writer, writer.items, given)

    return render


def _touched_groups(
    config: Config,
    groups: Sequence[FeedGroup],
    touched: Mapping[int, StoredArticle],
    left: set[tuple[str, str]],
    slugs: Mapping[str, str],
    writer: _Writer,
) -> list[FeedGroup]:
    """The site's group and those of every tag and author a change touched.

    A tag or author with nothing published any more loses its directory.
    """
    tags = {key for kind, key in left if kind == "tag"}
    authors = {key for kind, key in left if kind == "author"}
    for record in touched.values():
        for kind, key in selections_of(record):
            if kind == "tag":
                tags.add(key)
            elif kind == "author":
                authors.add(key)
    live = {(g.kind, g.label if g.kind == "authors" else g.directory): g for g in groups}
    wanted = [g for g in groups if g.kind == "site"]
    if config.feeds.tags:
        for slug in sorted(tags):
            group = live.get(("tags", f"tags/{slug}/"))
            if group is not None:
                wanted.append(group)
            elif _safe_slug(slug):
                _remove_group(f"tags/{slug}/", writer)
    if config.feeds.authors:
        for name in sorted(authors):
            group = live.get(("authors", name))
            if group is not None:
                wanted.append(group)
            elif name in slugs:
                _remove_group(f"authors/{slugs[name]}/", writer)
    return wanted
