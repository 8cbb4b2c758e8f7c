"""The storage interface: everything the domain asks of the database, in one typed place.

:class:`Storage` opens (or, only when asked, creates) a site's database and
hands out transactions: :meth:`Storage.read` gives a :class:`Reader` that
sees one consistent snapshot, :meth:`Storage.write` a :class:`Writer` whose
changes commit together or not at all. Nothing outside ``db/`` builds SQL;
every failure comes out as a :class:`db.errors.StorageFailure`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from db import migrate, queries, writes
from db.engine import create as create_engine
from db.engine import database_file, for_writing
from db.errors import Clash, Missing, StorageFailure, one_line
from db.locks import Lock, lock_for
from db.queries import Selection, Status
from db.records import StateRecord, StoredArticle, StoredRemoval
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

    def record_build(
        self,
        *,
        revision: int,
        now: datetime,
        seconds: float,
        result: str,
        fingerprint: str | None,
        error: str | None,
    ) -> None:
        writes.record_build(
            self._connection,
            revision=revision,
            now=now,
            seconds=seconds,
            result=result,
            fingerprint=fingerprint,
            error=error,
        )

    def record_daemon(self, pid: int, host: str, now: datetime) -> None:
        writes.record_daemon(self._connection, pid, host, now)

    def clear_daemon(self, pid: int, host: str) -> None:
        writes.clear_daemon(self._connection, pid, host)

    def record_error(self, message: str, now: datetime) -> None:
        writes.record_error(self._connection, message, now)


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

    def pending(self) -> bool:
        """Whether articles changed since the last build (the daemon asks every poll)."""
        with _translated(), self.engine.connect() as connection:
            return queries.pending(connection)

    def lock(self, name: str, owner: str, fallback_dir: Path) -> Lock:
        """The lock ``name`` (``daemon``, ``publish``) of this site."""
        return lock_for(self.engine, name, owner, fallback_dir)
