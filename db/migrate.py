"""Schema migrations, applied automatically whenever a database is opened.

Several processes may open an old database at once (daemons started together,
a cron job beside them): one migrates, the others wait and then find nothing
to do. PostgreSQL serialises them with a transaction-level advisory lock;
SQLite with an ``flock`` on ``<database>-migrate.lock`` next to the database,
held for the whole upgrade (a migration can take longer than SQLite's busy
timeout, which would otherwise fail the processes that wait), and the
``BEGIN IMMEDIATE`` of the migration's own transaction behind it.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from db import changes, triggers
from db.engine import database_file, for_writing

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["HEAD", "current", "head", "upgrade"]

#: The newest revision in db/migrations/versions (a test keeps the two equal). Known
#: without loading Alembic, which only an actual upgrade needs.
HEAD = "0007"

# Any fixed 64-bit number; serialises migrations of several PostgreSQL clients.
_PG_MIGRATION_LOCK = 0x66656564_6D696772


def _config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", "db:migrations")
    return config


def head() -> str:
    """The newest revision this code knows."""
    return HEAD


def scripts_head() -> str:
    """The newest revision among the migration scripts, as Alembic reads them."""
    from alembic.script import ScriptDirectory

    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        return _current(connection)


def _current(connection: Connection) -> str | None:
    try:
        with connection.begin_nested() if connection.in_transaction() else connection.begin():
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    except (OperationalError, ProgrammingError):
        return None


def upgrade(engine: Engine) -> bool:
    """Bring the schema to the newest revision; True when anything ran.

    Cheap when there is nothing to do (one query), so every command calls it.
    """
    if current(engine) == head():
        return False
    with _sqlite_turn(engine):
        return _upgrade(engine)


@contextlib.contextmanager
def _sqlite_turn(engine: Engine) -> Iterator[None]:
    """For a SQLite file: wait until no other process is migrating it."""
    path = database_file(engine.url.render_as_string(hide_password=False))
    if path is None:
        yield
        return
    try:
        fd = os.open(
            path.with_name(f"{path.name}-migrate.lock"),
            os.O_RDWR | os.O_CREAT | os.O_CLOEXEC,
            0o644,
        )
    except OSError:
        yield  # a read-only directory: BEGIN IMMEDIATE and the busy timeout still serialise
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _upgrade(engine: Engine) -> bool:
    from alembic import command

    config = _config()
    with for_writing(engine).connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        driver = connection.connection.driver_connection
        if sqlite:
            assert driver is not None
            # A table rebuild (Alembic batch mode) drops the old table; with foreign
            # keys on, that cascades and silently empties the tables that reference
            # it. The pragma only works outside a transaction, hence the driver level.
            driver.execute("PRAGMA foreign_keys = OFF")
            # Rename a rebuilt table without checking the triggers that name it: they
            # are made again below.
            driver.execute("PRAGMA legacy_alter_table = ON")
        try:
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK}
                    )
                if _current(connection) == head():
                    return False  # another process upgraded it while this one waited
                config.attributes["connection"] = connection
                changes.remove(connection)  # rows a migration rewrites are no change to publish
                command.upgrade(config, "head")
                triggers.ensure(connection)
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
                    if broken:
                        raise RuntimeError(f"migration left dangling references: {broken[:5]}")
        finally:
            if sqlite:
                assert driver is not None
                driver.execute("PRAGMA foreign_keys = ON")
                driver.execute("PRAGMA legacy_alter_table = OFF")
    return True
