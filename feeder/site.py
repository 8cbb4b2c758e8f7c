"""The Python API: one :class:`Site` per feeder.toml, every CLI command is a method.

>>> from feeder import Site
>>> with Site.open("feeder.toml") as site:
...     article = site.add_article("Hello", content="<p>First post.</p>")
...     site.build()

A thin facade: articles are written through feeder._write (the one write
path), read through db.Storage and mapped by feeder._records, and published
by feeder.publishing. Every write runs in one transaction that also advances
the site's revision counter, so a publisher can tell "something changed" from
one row. Database failures come out as :class:`feeder.StorageError`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, Literal

from db import (
    Clash,
    DaemonRecord,
    HubRecord,
    Missing,
    OutputRecord,
    Selection,
    Storage,
    StorageFailure,
    owner,
)
from feeder import _tombstones, _write
from feeder import config as _config
from feeder._records import RowProblem, article_of
from feeder._write import MediaInput
from feeder.articles import Article, Tombstone
from feeder.config import Config
from feeder.entries import Person
from feeder.errors import ConflictError, InputError, NotFoundError, PublishError, StorageError

if TYPE_CHECKING:
    from feeder.importing.importer import ImportReport, Item, Progress
    from feeder.publishing.build import BuildReport
    from feeder.publishing.websub import HubStatus, Pinger, PingPolicy, PingReport

__all__ = [
    "Clock",
    "DaemonStatus",
    "OutputStatus",
    "Purged",
    "Site",
    "SiteStatus",
    "storage_errors",
    "utc_now",
]

Clock = Callable[[], datetime]
log = logging.getLogger(__name__)
_UNSET: Any = _write.UNSET
Status = Literal["all", "published", "scheduled"]
#: How long :meth:`Site.build` waits for a build that is running (the daemon's, say).
BUILD_WAIT_SECONDS = 60.0
#: How long :meth:`Site.close` waits for WebSub pings still on their way.
PINGS_CLOSE_SECONDS = 10.0


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class OutputStatus:
    """One output directory of the site: what it last got, and whether a build runs."""

    id: str
    path: str | None  # as the host of its last build saw it
    host: str | None
    built_revision: int  # -1: never built (or fell too far behind): a full build comes
    pending: bool  # articles changed since its last build
    built_at: datetime | None
    build_seconds: float | None
    build_result: str | None
    last_error: str | None
    last_error_at: datetime | None
    seen_at: datetime  # when a build of it last started
    writer: str | None  # the build running now (or one that was interrupted)
    writing_since: datetime | None


@dataclass(frozen=True)
class DaemonStatus:
    """One ``feeder run`` as it last reported itself (see ``heartbeat`` for when)."""

    id: str
    pid: int
    host: str
    role: str  # "leader" (it builds its output directory) or "standby"
    output_id: str | None
    output_dir: str
    version: str
    started_at: datetime
    heartbeat: datetime
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True)
class Purged:
    """What :meth:`Site.purge` removed: the id (free again) and the slug it had."""

    id: str
    slug: str
    #: Whether the article itself was still there (else only what its deletion left).
    article: bool


@dataclass(frozen=True)
class SiteStatus:
    """What ``feeder status`` reports, read from the database.

    The build fields and ``daemon_*`` are about this site's output directory
    (``output_id``; None before anything was published there): its last build
    and the daemon that leads it. ``outputs`` and ``daemons`` list every output
    directory and every daemon of the site, wherever they are.
    """

    revision: int
    built_revision: int
    built_at: datetime | None
    build_seconds: float | None
    build_result: str | None
    last_error: str | None
    last_error_at: datetime | None
    daemon_pid: int | None
    daemon_host: str | None
    daemon_heartbeat: datetime | None
    next_scheduled: datetime | None
    articles: int
    output_id: str | None = None
    outputs: tuple[OutputStatus, ...] = ()
    daemons: tuple[DaemonStatus, ...] = ()
    #: Each WebSub hub of the site: its last success and failure, what it is owed.
    websub: tuple[HubStatus, ...] = ()


@contextmanager
def storage_errors() -> Iterator[None]:
    """Database failures as the FeederErrors users act on (the cause stays chained)."""
    try:
        yield
    except Missing as exc:
        raise StorageError(f"database: {exc}") from exc
    except Clash as exc:
        raise ConflictError(
            f"another writer stored a clashing slug or id at the same time: {exc}"
        ) from exc
    except StorageFailure as exc:
        raise StorageError(
            f"database: {exc}; check database_url and that the server is up"
        ) from exc


def _output_status(record: OutputRecord, revision: int) -> OutputStatus:
    return OutputStatus(
        id=record.id,
        path=record.path,
        host=record.host,
        built_revision=record.built_revision,
        pending=record.built_revision != revision,
        built_at=record.built_at,
        build_seconds=record.build_seconds,
        build_result=record.build_result,
        last_error=record.last_error,
        last_error_at=record.last_error_at,
        seen_at=record.seen_at,
        writer=record.writer if record.writer_token else None,
        writing_since=record.writing_since,
    )


def _daemon_status(record: DaemonRecord) -> DaemonStatus:
    return DaemonStatus(
        id=record.id,
        pid=record.pid,
        host=record.host,
        role=record.role,
        output_id=record.output_id,
        output_dir=record.output_dir,
        version=record.version,
        started_at=record.started_at,
        heartbeat=record.heartbeat,
        last_error=record.last_error,
        last_error_at=record.last_error_at,
    )


def _unreadable(slug: object, reason: object) -> str:
    return (
        f"article {slug!r} cannot be read: {reason}; another program wrote that into the "
        "database: correct the value there"
    )


class Site:
    """A site: its settings and its database. Use :meth:`open` or :meth:`init`."""

    def __init__(
        self,
        config: Config,
        storage: Storage,
        clock: Clock = utc_now,
        *,
        ping_policy: PingPolicy | None = None,
    ) -> None:
        self.config = config
        self.storage = storage
        self._clock = clock
        self._ping_policy = ping_policy
        self._pinger: Pinger | None = None

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        database_url: str | None = None,
        clock: Clock = utc_now,
        create: bool = False,
        ping_policy: PingPolicy | None = None,
    ) -> Site:
        """Open the site described by ``config`` (a Config or a path to feeder.toml).

        The database schema is upgraded to this version of feeder if needed. A
        database that does not exist, or holds no feeder site, is refused with a
        :class:`StorageError` (only :meth:`init`, or ``create=True``, makes one):
        a moved or mistyped database must not quietly become an empty site.
        ``ping_policy`` says how WebSub pings are timed out and retried.
        """
        if not isinstance(config, Config):
            config = _config.load(config, overrides={"database_url": database_url})
        elif database_url:
            config = _config.load(
                config.root / _config.CONFIG_NAME,
                must_exist=False,
                overrides={"database_url": database_url},
            )
        now = clock().astimezone(UTC)
        with storage_errors():
            storage = Storage.open(config.database_url, now=now, create=create)
        return cls(config, storage, clock, ping_policy=ping_policy)

    @classmethod
    def init(
        cls,
        directory: str | os.PathLike[str] = ".",
        *,
        title: str = "My feeder site",
        base_url: str = "http://127.0.0.1:8080/",
        author: str | None = None,
        id_authority: str | None = None,
        database_url: str | None = None,
        clock: Clock = utc_now,
    ) -> Site:
        """Create ``directory``/feeder.toml (kept if present) and the database."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        path = _config.create_config(
            root, title=title, base_url=base_url, author=author, id_authority=id_authority
        )
        return cls.open(path, database_url=database_url, clock=clock, create=True)

    def close(self) -> None:
        """Close the database, after up to ``PINGS_CLOSE_SECONDS`` for WebSub pings on
        their way (what is not delivered by then, the next build sends)."""
        if self._pinger is not None:  # (a site that built nothing loads no WebSub code)
            self.stop_pings(PINGS_CLOSE_SECONDS)
        self.storage.close()

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        """The clock, in UTC. Fractions of a second are kept: they tell apart articles
        written in the same second (RFC 3339 dates carry them; feeds that allow only
        whole seconds, RSS pubDate, drop them)."""
        return self._clock().astimezone(UTC)

    def with_config(self, config: Config) -> Site:
        """The same database and clock with other settings (a reloaded feeder.toml)."""
        return Site(config, self.storage, self._clock, ping_policy=self._ping_policy)

    # -- reading -------------------------------------------------------------

    def get_article(self, slug: str) -> Article:
        """The article with ``slug``; :class:`NotFoundError` if there is none."""
        with storage_errors(), self.storage.read() as reader:
            record = reader.article(slug)
        if record is None:
            raise NotFoundError(f"slug: no article {slug!r}; 'feeder list' shows the slugs")
        try:
            return article_of(record, self.config)
        except RowProblem as problem:
            raise InputError(_unreadable(slug, problem)) from None

    def list_articles(
        self,
        *,
        status: Status = "all",
        limit: int | None = None,
        on_unreadable: Callable[[str], None] | None = None,
    ) -> list[Article]:
        """Articles newest first (ties by creation order, newest first).

        A row another tool left unreadable (a date that is no date) is left out
        and described in one line to ``on_unreadable`` (default: a logged warning).
        """
        with storage_errors(), self.storage.read() as reader:
            records = reader.listing(self.now(), status, limit)
        report = on_unreadable or log.warning
        articles = []
        for record in records:
            try:
                articles.append(article_of(record, self.config))
            except RowProblem as problem:
                report(_unreadable(record.slug, problem))
        return articles

    def revision(self) -> int:
        """The change counter: it moves on every write, in constant time."""
        with storage_errors():
            return self.storage.revision()

    def next_scheduled(self) -> datetime | None:
        """When the next scheduled article goes live, if any."""
        with storage_errors(), self.storage.read() as reader:
            return reader.next_due(self.now())

    def status(self) -> SiteStatus:
        """The site's revision, its output directories, its daemons, what comes next."""
        from feeder.publishing import outputs as output_ids

        try:
            output_id = output_ids.read(self.config.output_dir)
        except PublishError:
            output_id = None  # damaged: the next build says so
        with storage_errors(), self.storage.read() as reader:
            state = reader.state()
            found = [_output_status(o, state.revision) for o in reader.outputs()]
            daemons = tuple(_daemon_status(d) for d in reader.daemons())
            next_scheduled = reader.next_due(self.now())
            articles = reader.count()
            websub = self._hub_status(reader.ping_summary(self.config.websub_hub))
        mine = next((o for o in found if o.id == output_id), None)
        leaders = [d for d in daemons if d.role == "leader" and d.output_id == output_id]
        leader = max(leaders, key=lambda d: d.heartbeat) if output_id and leaders else None
        return SiteStatus(
            revision=state.revision,
            built_revision=mine.built_revision if mine else -1,
            built_at=mine.built_at if mine else None,
            build_seconds=mine.build_seconds if mine else None,
            build_result=mine.build_result if mine else None,
            last_error=mine.last_error if mine else None,
            last_error_at=mine.last_error_at if mine else None,
            daemon_pid=leader.pid if leader else None,
            daemon_host=leader.host if leader else None,
            daemon_heartbeat=leader.heartbeat if leader else None,
            next_scheduled=next_scheduled,
            articles=articles,
            output_id=output_id,
            outputs=tuple(found),
            daemons=daemons,
            websub=websub,
        )

    def forget_output(self, output_id: str) -> None:
        """Forget an output directory that is gone for good (a host taken out of service).

        Until then it holds back the bookkeeping incremental builds need, for up to
        30 days. :class:`NotFoundError` if the site has no such output; if the
        directory is ever built again, it gets a full build.
        """
        with storage_errors(), self.storage.write() as writer:
            known = writer.forget_output(output_id)
        if not known:
            raise NotFoundError(
                f"output: no output directory {output_id!r}; 'feeder status' lists them"
            )

    @staticmethod
    def _hub_status(records: Sequence[HubRecord]) -> tuple[HubStatus, ...]:
        if not records:
            return ()
        from feeder.publishing.websub import HubStatus

        return tuple(HubStatus.of(record) for record in records)

    # -- writing -------------------------------------------------------------

    def _write_one(self, intent: _write.Intent) -> tuple[str, _write.Counts]:
        counts = _write.write(
            self.storage.write_or_roll_back, self.config, [[intent]], now=self.now(), strict=True
        )
        (slug,) = counts.slugs
        assert slug is not None  # strict: a refusal raised
        return slug, counts

    def add_article(
        self,
        title: str,
        *,
        slug: str | None = None,
        link: str | None = None,
        summary: str | None = None,
        content: str = "",
        author: str | Person | None = None,
        tags: Iterable[str] = (),
        published: str | datetime | None = None,
        updated: str | datetime | None = None,
        id: str | None = None,
        enclosures: Sequence[MediaInput] = (),
        transcripts: Sequence[MediaInput] = (),
        chapters: MediaInput | None = None,
        duration: int | str | None = None,
        episode: int | None = None,
        season: int | None = None,
        episode_type: str | None = None,
    ) -> Article:
        """Store a new article and return it; nothing is stored if any field is bad.

        ``published`` in the future schedules the article. ``id`` keeps an
        existing feed id (when moving from another publisher); otherwise a
        tag: URI is minted once and never changes.

        ``enclosures``, ``transcripts`` and ``chapters`` are URLs, local paths
        or :class:`feeder.Media` values: a local file is copied into the media
        store and published with the site. ``duration`` (seconds or H:MM:SS),
        ``episode``, ``season`` and ``episode_type`` (full, trailer, bonus)
        describe a podcast episode.
        """
        intent = _write.add_intent(
            self.config,
            title,
            slug=slug,
            link=link,
            summary=summary,
            content=content,
            author=author,
            tags=tags,
            published=published,
            updated=updated,
            id=id,
            media=_write.MediaFields(
                enclosures=tuple(enclosures),
                transcripts=tuple(transcripts),
                chapters=chapters,
                duration=duration,
                number=episode,
                season=season,
                type=episode_type,
            ),
        )
        with storage_errors():
            stored, _counts = self._write_one(intent)
        return self.get_article(stored)

    def edit_article(
        self,
        slug: str,
        *,
        title: str = _UNSET,
        new_slug: str = _UNSET,
        link: str | None = _UNSET,
        summary: str | None = _UNSET,
        content: str = _UNSET,
        author: str | Person | None = _UNSET,
        tags: Iterable[str] = _UNSET,
        published: str | datetime = _UNSET,
        enclosures: Sequence[MediaInput] = _UNSET,
        transcripts: Sequence[MediaInput] = _UNSET,
        chapters: MediaInput | None = _UNSET,
        duration: int | str | None = _UNSET,
        episode: int | None = _UNSET,
        season: int | None = _UNSET,
        episode_type: str | None = _UNSET,
    ) -> Article:
        """Change some fields of an article; its id never changes.

        ``updated_at`` moves only when something a reader sees changed; an
        edit that changes nothing writes nothing. ``link=None`` or
        ``author=None`` clears them. ``enclosures`` and ``transcripts``
        replace the stored ones (``()`` removes them); an episode field given
        as None clears it.
        """
        intent = _write.edit_intent(
            self.config,
            slug,
            title=title,
            new_slug=new_slug,
            link=link,
            summary=summary,
            content=content,
            author=author,
            tags=tags,
            published=published,
            enclosures=enclosures if enclosures is _UNSET else tuple(enclosures),
            transcripts=transcripts if transcripts is _UNSET else tuple(transcripts),
            chapters=chapters,
            duration=duration,
            episode=episode,
            season=season,
            episode_type=episode_type,
        )
        with storage_errors():
            stored, _counts = self._write_one(intent)
        return self.get_article(stored)

    def delete_article(
        self, slug: str, *, comment: str | None = None, purge: bool = False
    ) -> Article:
        """Remove an article; it leaves every feed and page on the next build.

        The Atom feeds it was in announce the deletion for ``feeds.tombstone_days``
        (an RFC 6721 tombstone, with ``comment`` saying why). ``purge``: remove it
        for good instead, leaving no tombstone (see :meth:`purge`).
        """
        if purge and comment is not None:
            raise InputError("comment: a purged article leaves no tombstone to carry it")
        article = self.get_article(slug)
        intent = (
            _write.purge_intent(slug=slug) if purge else _write.delete_intent(slug, comment=comment)
        )
        with storage_errors():
            self._write_one(intent)
        return article

    def purge(
        self, slug: str | None = None, *, id: str | None = None, dry_run: bool = False
    ) -> Purged:
        """Remove for good the article with ``slug`` or ``id`` and every trace of its deletion.

        The article goes if it is still there, and so does every removal kept for
        its id, its tombstone included: the next build drops the tombstone from the
        feeds, and the id may be used again. A slug names the article that has it
        now, else the last one deleted with it. ``dry_run``: say what would go,
        and change nothing. :class:`NotFoundError` when nothing has that slug or id.
        """
        intent = _write.purge_intent(slug=slug, id=id)
        with storage_errors():
            counts = _write.write(
                self.storage.write_or_roll_back,
                self.config,
                [[intent]],
                now=self.now(),
                strict=True,
                dry_run=dry_run,
            )
        purged = next(change for change in counts.changes if change.action == "purge")
        live = any(change.action == "delete" for change in counts.changes)
        return Purged(id=purged.id, slug=purged.slug, article=live)

    def list_tombstones(
        self, *, limit: int | None = None, on_unreadable: Callable[[str], None] | None = None
    ) -> list[Tombstone]:
        """The tombstones the feeds carry now, newest first (none when they are off).

        A row another tool left unreadable is left out and described to ``on_unreadable``.
        """
        if not _tombstones.enabled(self.config):
            return []
        since = self.now() - _tombstones.window(self.config)
        with storage_errors(), self.storage.read() as reader:
            stored = reader.tombstones(Selection(), since, limit, selections=True)
        report = on_unreadable or log.warning
        found = []
        for record in stored:
            try:
                found.append(_tombstones.tombstone_of(record, self.config))
            except RowProblem as problem:
                report(f"the removal #{record.pk} cannot be read: {problem}")
        return found

    # -- publishing ------------------------------------------------------------

    def build(self, *, full: bool = False, wait: float = BUILD_WAIT_SECONDS) -> BuildReport:
        """Publish feeds and pages for the current state; unchanged files are not touched.

        Takes the output directory's publish lock first, so a script never writes
        it at the same time as a daemon or another ``feeder build``: it waits up
        to ``wait`` seconds for a build that is running, then gives up with a
        :class:`LockedError`.
        """
        from feeder.publishing import outputs
        from feeder.publishing.exclusive import build_exclusively, publish_lock

        output = outputs.identify(self.config.output_dir)
        writer = owner("feeder build")
        lock = publish_lock(self.storage, self.config, writer, output)
        with storage_errors():
            try:
                report = build_exclusively(
                    self.storage,
                    self.config,
                    lock,
                    writer=writer,
                    now=self.now,
                    output=output,
                    full=full,
                    wait=wait,
                )
            finally:
                lock.close()
        self._ping(report)
        return report

    # -- WebSub pings (feeder.publishing.websub) ---------------------------------------

    def _ping(self, report: BuildReport) -> None:
        """Tell the hubs about the feeds ``report`` wrote, in the background."""
        if not self.config.websub_hub:
            return
        from feeder.publishing import websub

        if self._pinger is None:
            self._pinger = websub.Pinger(self.storage, clock=self.now, policy=self._ping_policy)
        topics = websub.changed_topics(self.config, report.written)
        self._pinger.submit(self.config.websub_hub, topics)

    def wait_for_pings(self, timeout: float | None = None) -> PingReport:
        """Wait until the hubs took (or refused) every ping the builds so far sent.

        :meth:`build` returns as soon as the files are written and pings the
        ``websub_hub`` hubs in the background, retrying failures. This waits up to
        ``timeout`` seconds (None: until each ping is settled) and returns what
        became of the pings since the last report.
        """
        from feeder.publishing.websub import PingReport

        if self._pinger is None:
            return PingReport()
        return self._pinger.wait(timeout)

    def stop_pings(self, wait: float = 0.0) -> PingReport:
        """Wait up to ``wait`` seconds for pings on their way, then stop pinging.

        What is not delivered by then is kept as owed in the database and sent by
        the next build (here, by ``feeder build`` or by the daemon).
        """
        from feeder.publishing.websub import PingReport

        pinger, self._pinger = self._pinger, None
        if pinger is None:
            return PingReport()
        return pinger.stop(wait)

    # -- importing (feeder import, feeder import-feed) -------------------------------

    def import_paths(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        format: str | None = None,
        stdin: BinaryIO | None = None,
        strict: bool = False,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import Markdown, HTML, text and JSON Lines files, directories and ``-`` (stdin).

        Importing the same input again changes nothing. Bad inputs are reported
        in the result and skipped; with ``strict`` the first one raises and
        nothing is stored. ``dry_run`` reports what would happen.
        """
        from feeder.importing import sources

        drafts = sources.drafts_from_paths(paths, format=format, stdin=stdin)
        return self.import_drafts(drafts, strict=strict, dry_run=dry_run, progress=progress)

    def import_feed(
        self,
        source: str,
        *,
        strict: bool = False,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import the entries of an RSS, Atom or JSON feed (a URL or a file), keeping their ids."""
        from feeder.importing import feeds

        drafts = feeds.drafts_from_feed(source)
        return self.import_drafts(drafts, strict=strict, dry_run=dry_run, progress=progress)

    def import_drafts(
        self,
        drafts: Iterable[Item],
        *,
        strict: bool = False,
        dry_run: bool = False,
        progress: Progress | None = None,
    ) -> ImportReport:
        """Import article drafts made by a script (errors in the stream count as rejected)."""
        from feeder.importing import importer

        with storage_errors():
            return importer.run(
                self.storage,
                self.config,
                drafts,
                now=self.now(),
                strict=strict,
                dry_run=dry_run,
                progress=progress,
            )
