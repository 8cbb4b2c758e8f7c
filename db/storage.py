"""The storage interface: everything the domain asks of the database, in one typed place.

:class:`Storage` opens (or, only when asked, creates) a site's database and
hands out transactions: :meth:`Storage.read` gives a :class:`Reader` that
sees one consistent snapshot, :meth:`Storage.write` a :class:`Writer` whose
changes commit together or not at all. Nothing outside ``db/`` builds SQL;
every failure comes out as a :class:`db.errors.StorageFailure`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from db import migrate, pages, pings, queries, tombstones, writes
from db.engine import create as create_engine
from db.engine import database_file, for_writing
from db.errors import Clash, Missing, StorageFailure, one_line
from db.locks import Lock, lock_for
from db.notify import ChangeListener, listener_for
from db.pages import PageBounds, PagesHead, Position
from db.pings import HubRecord, PingOutcome
from db.queries import Selection, Status
from db.records import (
    BuildState,
    DaemonRecord,
    OutputRecord,
    StateRecord,
    StoredArticle,
    StoredRemoval,
)
from db.tombstones import StoredTombstone
from db.writes import WritePlan

__all__ = ["Reader", "Storage", "Writer"]


def _failure(exc: SQLAlchemyError) -> StorageFailure:
    reason = one_line(exc)
    if isinstance(exc, IntegrityError):
        return Clash(reason)
    if "no such database file" in reason:
        return Missing(reason)
    return StorageFailure(reason)


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except SQLAlchemyError as exc:
        raise _failure(exc) from exc


class Reader:
    """Queries inside one read transaction (one snapshot of the site)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def state(self) -> StateRecord:
        return queries.state(self._connection)

    def build_state(self, output: str) -> BuildState:
        """The site's revision and what the output directory ``output`` last got."""
        return queries.build_state(self._connection, output)

    def output(self, output_id: str) -> OutputRecord | None:
        return queries.output(self._connection, output_id)

    def outputs(self) -> list[OutputRecord]:
        return queries.outputs(self._connection)

    def daemons(self) -> list[DaemonRecord]:
        return queries.daemons(self._connection)

    def output_writer(self, output: str) -> tuple[str, datetime | None] | None:
        """Who marked ``output`` as being written (a build that has not ended), and since."""
        return queries.output_writer(self._connection, output)

    def newest(
        self,
        selection: Selection,
        now: datetime,
        limit: int,
        *,
        after: StoredArticle | None = None,
    ) -> list[StoredArticle]:
        return queries.newest(self._connection, selection, now, limit, after=after)

    def published(
        self, now: datetime, *, batch: int = 500, selection: Selection = queries.ALL
    ) -> Iterator[StoredArticle]:
        return queries.published(self._connection, now, batch, selection)

    def listing(self, now: datetime, status: Status, limit: int | None) -> list[StoredArticle]:
        return queries.listing(self._connection, now, status, limit)

    def changed_since(self, revision: int) -> list[StoredArticle]:
        return queries.changed_since(self._connection, revision)

    def due_between(self, after: datetime, until: datetime) -> list[StoredArticle]:
        return queries.due_between(self._connection, after, until)

    def with_pages(self, slugs: list[str], now: datetime) -> set[str]:
        return queries.with_pages(self._connection, slugs, now)

    def article(self, slug: str) -> StoredArticle | None:
        return queries.article_by_slug(self._connection, slug)

    def removed_since(self, revision: int) -> list[StoredRemoval]:
        return queries.removed_since(self._connection, revision)

    def undated(self) -> list[tuple[int, object, str]]:
        return queries.undated(self._connection)

    def next_due(self, after: datetime) -> datetime | None:
        return queries.next_due(self._connection, after)

    def count(self) -> int:
        return queries.count_articles(self._connection)

    def tags_in_use(self, now: datetime) -> list[tuple[str, str]]:
        return queries.tags_in_use(self._connection, now)

    def authors_in_use(self, now: datetime) -> list[tuple[int, str]]:
        return queries.authors_in_use(self._connection, now)

    def author_names(self) -> list[tuple[int, str]]:
        return queries.author_names(self._connection)

    def changed_selections(self, revision: int) -> set[tuple[str, str]]:
        return queries.changed_selections(self._connection, revision)

    def owed_pings(self, hub: str) -> list[tuple[str, datetime]]:
        return pings.owed(self._connection, hub)

    def ping_summary(self, hubs: Sequence[str]) -> list[HubRecord]:
        return pings.summary(self._connection, hubs)

    # -- archive pages (db.pages) ------------------------------------------------

    def range_rows(
        self,
        selection: Selection,
        now: datetime,
        *,
        after: Position | None = None,
        until: Position | None = None,
    ) -> Iterator[StoredArticle]:
        return pages.range_rows(self._connection, selection, now, after=after, until=until)

    def positions_after(
        self, selection: Selection, now: datetime, after: Position | None, limit: int
    ) -> list[Position]:
        return pages.positions_after(self._connection, selection, now, after, limit)

    def count_up_to(self, selection: Selection, now: datetime, cap: int) -> int:
        return pages.count_up_to(self._connection, selection, now, cap)

    def page_bounds(self, selection: Selection) -> PageBounds | None:
        return pages.page_bounds(self._connection, selection)

    def pages_head(self, selection: Selection) -> PagesHead | None:
        return pages.pages_head(self._connection, selection)

    def page_of(self, selection: Selection, position: Position) -> int | None:
        return pages.page_of(self._connection, selection, position)

    def page_end(self, selection: Selection, number: int) -> Position | None:
        return pages.page_end(self._connection, selection, number)

    def paged_selections(self) -> set[tuple[str, str]]:
        return pages.paged_selections(self._connection)

    def moved_since(self, revision: int) -> list[tuple[str, str, Position]]:
        return pages.moved_since(self._connection, revision)

    def podcast_guids(self) -> dict[str, object]:
        """Each feed's stored podcast:guid, by its path (values as stored)."""
        return writes.podcast_guids(self._connection)

    # -- tombstones (db.tombstones) ----------------------------------------------------

    def tombstones(
        self,
        selection: Selection,
        since: datetime,
        limit: int | None,
        *,
        selections: bool = False,
    ) -> list[StoredTombstone]:
        """Live tombstones of ``selection`` deleted after ``since``, newest first."""
        return tombstones.live(self._connection, selection, since, limit, selections=selections)

    def held_by_tombstones(
        self, since: datetime
    ) -> tuple[list[tuple[object, object]], list[tuple[int, object]]]:
        return tombstones.held(self._connection, since)

    def tombstone_selections(self, after: datetime, until: datetime) -> set[tuple[str, str]]:
        """The feeds of deletions made in ``(after, until]``."""
        return tombstones.expired_selections(self._connection, after, until)

    def next_deletion(self, after: datetime) -> datetime | None:
        return tombstones.next_deletion(self._connection, after)

    def deletion(
        self, *, slug: str | None = None, uid: str | None = None
    ) -> StoredTombstone | None:
        return tombstones.deletion(self._connection, slug=slug, uid=uid)


class Writer(Reader):
    """Lookups and writes inside one write transaction (its revision moves once)."""

    def __init__(self, connection: Connection) -> None:
        super().__init__(connection)
        self._revision: int | None = None

    def find(self, uids: Collection[str], slugs: Collection[str]) -> list[StoredArticle]:
        return writes.find(self._connection, uids, slugs)

    def taken_uids(self, candidates: Collection[str]) -> set[str]:
        return writes.taken_uids(self._connection, candidates)

    def taken_slugs(self, candidates: Collection[str]) -> set[str]:
        return writes.taken_slugs(self._connection, candidates)

    def seal_key(self) -> str:
        """The secret content seals are keyed with (made if missing)."""
        return writes.seal_key(self._connection)

    def apply(self, plan: WritePlan, now: datetime) -> int | None:
        """Write ``plan``; the transaction's new revision, or None when nothing was written."""
        if plan:
            self._revision = writes.apply(self._connection, plan, now, self._revision)
        return self._revision

    def claim_output(
        self, output: str, *, writer: str, token: str, path: str, host: str, now: datetime
    ) -> None:
        writes.claim_output(
            self._connection, output, writer=writer, token=token, path=path, host=host, now=now
        )

    def release_output(
        self, output: str, *, token: str | None = None, writer: str | None = None
    ) -> bool:
        return writes.release_output(self._connection, output, token=token, writer=writer)

    def record_build(
        self,
        *,
        output: str,
        revision: int,
        now: datetime,
        seconds: float,
        result: str,
        fingerprint: str | None,
        error: str | None,
        token: str | None = None,
        stale_before: datetime,
    ) -> None:
        writes.record_build(
            self._connection,
            output=output,
            revision=revision,
            now=now,
            seconds=seconds,
            result=result,
            fingerprint=fingerprint,
            error=error,
            token=token,
            stale_before=stale_before,
        )

    def record_error(self, output: str, message: str, now: datetime) -> None:
        writes.record_error(self._connection, output, message, now)

    def store_pages(self, selection: Selection, bounds: PageBounds | None) -> None:
        pages.store_pages(self._connection, selection, bounds)

    def extend_pages(
        self, selection: Selection, head: PagesHead, closed: Sequence[Position], published: bool
    ) -> None:
        pages.extend_pages(self._connection, selection, head, closed, published)

    def forget_pages(self, names: Collection[tuple[str, str]]) -> None:
        pages.forget_pages(self._connection, names)

    def store_podcast_guids(self, minted: dict[str, tuple[str, str]], now: datetime) -> None:
        """Keep newly minted podcast guids (path: (guid, seed URL)); stored ones stay."""
        writes.store_podcast_guids(self._connection, minted, now)

    def forget_output(self, output: str) -> bool:
        return writes.forget_output(self._connection, output)

    def record_daemon(self, daemon: DaemonRecord, forget_before: datetime) -> None:
        writes.record_daemon(self._connection, daemon, forget_before)

    def clear_daemon(self, daemon_id: str) -> None:
        writes.clear_daemon(self._connection, daemon_id)

    def record_pings(self, outcomes: Iterable[PingOutcome]) -> None:
        pings.record(self._connection, outcomes)


#: The tables an import fills (see Storage.refresh_statistics).
_ANALYZED = ("articles", "article_tags", "tags", "authors", "article_media", "article_episodes")


class Storage:
    """One site's database. Use :meth:`open`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, url: str, *, now: datetime, create: bool = False) -> Storage:
        """The storage at ``url``, its schema brought up to date.

        A database that does not exist, or holds no feeder site, is
        :class:`Missing` unless ``create``: a moved or mistyped database must
        never quietly become a new, empty site.
        """
        path = database_file(url)
        if path is not None:
            if create:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise StorageFailure(f"cannot create {path.parent}: {exc.strerror}") from exc
            elif not path.is_file():
                what = "is not a file" if path.exists() else "does not exist"
                raise Missing(
                    f"{path} {what}; run 'feeder init' to create a site, or point "
                    "database_url (--db) at the right file"
                )
        engine = create_engine(url, create=create)
        try:
            with _translated():
                if not create and migrate.current(engine) is None:
                    raise Missing(
                        f"{engine.url.render_as_string(hide_password=True)} holds no feeder "
                        "site; run 'feeder init' to create one there, or point database_url "
                        "(--db) at the right database"
                    )
                migrate.upgrade(engine)
                with for_writing(engine).begin() as connection:
                    if queries.revision(connection) < 0:
                        writes.create_state(connection, now)
        except BaseException:
            engine.dispose()
            raise
        if create:
            # Made; from now on a missing file is an error, as for every other opener.
            engine.dispose()
            engine = create_engine(url)
        return cls(engine)

    @property
    def backend(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return str(self.engine.dialect.name)

    def describe(self) -> str:
        """The database URL, password hidden, for messages."""
        return self.engine.url.render_as_string(hide_password=True)

    def close(self) -> None:
        self.engine.dispose()

    def refresh_statistics(self) -> None:
        """Bring the query planner's statistics of the article tables up to date, after a
        bulk load. PostgreSQL plans a build's reads from them: without any (autovacuum
        off, or not there yet) it read all of ``article_tags`` for each batch of 500
        articles' tags, a quarter of a second per batch at a million articles. SQLite
        plans these reads from the indexes alone: nothing to do."""
        if self.backend != "postgresql":
            return
        names = ", ".join(_ANALYZED)
        with _translated(), self.engine.begin() as connection:
            connection.exec_driver_sql(f"ANALYZE {names}")

    @contextmanager
    def read(self) -> Iterator[Reader]:
        """A transaction that sees one consistent snapshot and writes nothing."""
        bind = self.engine
        if self.backend == "postgresql":
            bind = self.engine.execution_options(isolation_level="REPEATABLE READ")
        with _translated(), bind.begin() as connection:
            yield Reader(connection)

    @contextmanager
    def write(self) -> Iterator[Writer]:
        """A transaction that takes the write lock up front and commits on success."""
        with _translated(), for_writing(self.engine).begin() as connection:
            yield Writer(connection)

    @contextmanager
    def write_or_roll_back(self, *, commit: bool) -> Iterator[Writer]:
        """Like :meth:`write`, but rolled back at the end unless ``commit`` (a dry run)."""
        with _translated(), for_writing(self.engine).connect() as connection:
            transaction = connection.begin()
            try:
                yield Writer(connection)
            except BaseException:
                transaction.rollback()
                raise
            if commit:
                transaction.commit()
            else:
                transaction.rollback()

    def revision(self) -> int:
        """The change counter: one primary-key read on a plain connection."""
        with _translated(), self.engine.connect() as connection:
            return queries.revision(connection)

    def pending(self, output: str) -> bool:
        """Whether articles changed since ``output`` was last built (asked every poll)."""
        with _translated(), self.engine.connect() as connection:
            return queries.pending(connection, output)

    def listener(self, owner: str) -> ChangeListener | None:
        """A listener for this site's change notifications; None where there are none (SQLite).

        ``owner`` names its connection (PostgreSQL ``application_name``).
        """
        return listener_for(self.engine, owner)

    def lock(self, name: str, owner: str, fallback_dir: Path, *, scope: str = "") -> Lock:
        """The lock ``name`` (``daemon``, ``publish``) of this site, for ``scope``.

        ``scope`` names what the lock is for (an output directory's id): locks of
        different scopes are independent.
        """
        return lock_for(self.engine, name, owner, fallback_dir, scope=scope)
