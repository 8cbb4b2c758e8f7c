"""Engines and sessions: SQLite tuned for a publisher, PostgreSQL as is.

SQLite gets WAL (readers never block the writer), a busy timeout (writers
queue instead of failing), foreign keys, and ``BEGIN IMMEDIATE`` for write
sessions so that two writers serialise at the start of a transaction instead
of deadlocking when a reader upgrades to a writer.

A SQLite database file is only ever created when asked (``create=True``, which
``feeder init`` does): sqlite3 would otherwise make an empty database wherever
a path points, and a site whose file was moved away would publish empty feeds
from it. Each pooled connection remembers which file it opened; a connection
whose file was since moved, deleted or replaced is discarded on checkout, so
the next one opens what is at the path now, or fails saying it is missing.

Text that another program stored in SQLite as invalid UTF-8 is read with
``surrogateescape`` instead of failing the whole query: the rows are handed
to the domain, which refuses the one bad value and keeps the rest.
"""

from __future__ import annotations

import functools
import os
import sqlite3
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError

__all__ = [
    "BUSY_TIMEOUT_MS",
    "create",
    "database_file",
    "for_writing",
    "normalise_url",
]

BUSY_TIMEOUT_MS = 10_000
_WRITE = "feeder_write"
_FILE_ID = "feeder_file_id"


def database_file(url: str) -> Path | None:
    """The file of a SQLite ``url`` (None for other databases and in-memory ones)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def normalise_url(url: str, root: Path) -> str:
    """``url`` with a relative SQLite path made absolute against ``root``.

    ValueError, in words a user can act on, for a URL that is none, a
    database feeder does not support, an unknown driver or one not installed.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise ValueError(
            f"not a database URL: {url!r}; use e.g. "
            "'sqlite:///feeder.db' or 'postgresql+psycopg://user@host/db'"
        ) from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        raise ValueError(
            f"unsupported database {parsed.get_backend_name()!r}; use sqlite or postgresql"
        )
    try:
        dialect = parsed.get_dialect()
    except NoSuchModuleError:
        raise ValueError(
            f"unknown driver {parsed.drivername!r}; use e.g. 'sqlite:///feeder.db' or "
            "'postgresql+psycopg://user@host/db'"
        ) from None
    try:
        dialect.import_dbapi()
    except ImportError:
        hint = (
            "install it with: pip install 'feeder[postgres]'"
            if dialect.driver == "psycopg"
            else "use 'postgresql+psycopg://user@host/db' and pip install 'feeder[postgres]'"
        )
        raise ValueError(
            f"the {dialect.driver} driver for {parsed.drivername!r} is not installed; {hint}"
        ) from None
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        path = Path(parsed.database)
        if not path.is_absolute():
            return parsed.set(database=str(root / path)).render_as_string(hide_password=False)
    return url


# bytes -> str without a Python frame per value (a full build reads millions of them).
_decode = functools.partial(str, encoding="utf-8", errors="surrogateescape")


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_dev, info.st_ino


def create(url: str, *, create: bool = False) -> Engine:
    """An engine for ``url``; SQLite connections get the pragmas above.

    ``create``: a SQLite file that does not exist is made (only ``feeder init``
    asks for that); otherwise connecting to a missing file fails.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    engine = create_engine(url)
    path = database_file(url)

    if path is not None:

        @event.listens_for(engine, "do_connect")
        def _open(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> Any:
            if not create and not path.is_file():
                raise sqlite3.OperationalError(
                    f"{path}: no such database file; run 'feeder init' to create a site, "
                    "or point database_url (--db) at the right file"
                )
            mode = "rwc" if create else "rw"
            cargs[:] = [f"file:{quote(str(path))}?mode={mode}"]
            cparams["uri"] = True
            return None  # let the dialect connect with the changed arguments

        @event.listens_for(engine, "checkout")
        def _same_file(_dbapi: Any, record: Any, _proxy: Any) -> None:
            if record.info.get(_FILE_ID) != _file_id(path):
                # Moved, deleted or replaced since this connection opened it.
                raise exc.DisconnectionError(f"{path} is no longer the file this connection opened")

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection: Any, record: Any) -> None:
        # Take over transaction control from the driver; see _begin below.
        dbapi_connection.isolation_level = None
        dbapi_connection.text_factory = _decode
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        if path is not None:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
            record.info[_FILE_ID] = _file_id(path)
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Any) -> None:
        if connection.get_execution_options().get(_WRITE):
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            connection.exec_driver_sql("BEGIN")

    return engine


def for_writing(engine: Engine) -> Engine:
    """The same engine, with transactions that take the write lock up front."""
    return engine.execution_options(**{_WRITE: True})
