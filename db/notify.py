"""Hearing about changes as they commit: PostgreSQL ``LISTEN`` on a connection of its own.

Every transaction that moves a site's revision counter sends one ``NOTIFY``
on the site's channel when it commits (db.changes). A :class:`ChangeListener`
listens on that channel, scoped to the site's database and schema, so several
sites in one database (one schema each) never wake each other.

The interface is small on purpose: :meth:`ChangeListener.connect`, then
:meth:`ChangeListener.wait` for a notification with a timeout, and connect
again when it raises :class:`StorageFailure` (the connection dropped: a server
restart, ``pg_terminate_backend``, a network fault). Notifications sent while
no connection listens are lost, so after connecting, the caller checks the
revision counter once, as it would without notifications.

The connection has TCP keepalives, so a peer that vanished without closing
the connection (a host that crashed, a network partition) is noticed within
about a minute instead of never.
"""

from __future__ import annotations

import contextlib
from typing import Any

from sqlalchemy import Engine

from db.changes import channel_name
from db.errors import StorageFailure, one_line

__all__ = ["ChangeListener", "listener_for"]

# Seconds: connecting gives up after this, and a silent peer is declared dead after
# about IDLE + INTERVAL * COUNT seconds.
_CONNECT_TIMEOUT = 10
_KEEPALIVE_IDLE = 30
_KEEPALIVE_INTERVAL = 10
_KEEPALIVE_COUNT = 3


class ChangeListener:
    """``LISTEN`` on the channel of the site stored behind ``engine`` (PostgreSQL)."""

    def __init__(self, engine: Engine, application_name: str) -> None:
        self._engine = engine
        self._application_name = application_name[:63]
        self._connection: Any = None  # a psycopg.Connection in autocommit mode
        #: The channel listened on, once connected.
        self.channel: str | None = None

    @property
    def connected(self) -> bool:
        return self._connection is not None and not self._connection.closed

    def connect(self) -> None:
        """(Re)open the connection and LISTEN; StorageFailure when the database does not answer."""
        self.close()
        dialect = self._engine.dialect
        cargs, cparams = dialect.create_connect_args(self._engine.url)
        cparams.setdefault("connect_timeout", _CONNECT_TIMEOUT)
        cparams.setdefault("keepalives", 1)
        cparams.setdefault("keepalives_idle", _KEEPALIVE_IDLE)
        cparams.setdefault("keepalives_interval", _KEEPALIVE_INTERVAL)
        cparams.setdefault("keepalives_count", _KEEPALIVE_COUNT)
        cparams["application_name"] = self._application_name
        error = dialect.loaded_dbapi.Error
        try:
            connection = dialect.loaded_dbapi.connect(*cargs, **cparams)
        except error as exc:
            raise StorageFailure(f"database: {one_line(exc)}") from exc
        try:
            connection.autocommit = True
            # The schema the site's tables are in, as this connection's search path finds
            # them: the same schema feeder's own connections write to.
            row = connection.execute(
                "SELECT current_database(), n.nspname FROM pg_class c "
                "JOIN pg_namespace n ON n.oid = c.relnamespace "
                "WHERE c.oid = to_regclass('state')"
            ).fetchone()
            if row is None:
                raise StorageFailure("database: holds no feeder site (no state table)")
            channel = channel_name(str(row[0]), str(row[1]))
            connection.execute(f'LISTEN "{channel}"')
        except BaseException as exc:
            with contextlib.suppress(Exception):
                connection.close()
            if isinstance(exc, error):
                raise StorageFailure(f"database: {one_line(exc)}") from exc
            raise
        self._connection, self.channel = connection, channel

    def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds; True when one or more changes were notified.

        Raises StorageFailure when the connection is lost (or was never made);
        :meth:`connect` makes a new one.
        """
        connection = self._connection
        if connection is None or connection.closed:
            raise StorageFailure("database: not listening for changes")
        try:
            heard = False
            # Every notification that arrived counts once: a burst of commits wakes
            # the caller once.
            for _notification in connection.notifies(timeout=timeout, stop_after=1):
                heard = True
            if heard:
                for _notification in connection.notifies(timeout=0):
                    pass
            return heard
        except self._engine.dialect.loaded_dbapi.Error as exc:
            self.close()
            raise StorageFailure(f"database: {one_line(exc)}") from exc

    def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):
                connection.close()


def listener_for(engine: Engine, application_name: str) -> ChangeListener | None:
    """A listener for the site behind ``engine``; None where notifications do not exist.

    Only PostgreSQL with psycopg (3) notifies; on SQLite the daemon polls.
    """
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return None
    return ChangeListener(engine, application_name)
