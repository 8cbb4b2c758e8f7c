"""Schema migrations, applied automatically whenever a database is opened."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError, ProgrammingError

from db import triggers
from db.engine import for_writing

__all__ = ["current", "head", "upgrade"]

# Any fixed 64-bit number; serialises migrations of several PostgreSQL clients.
_PG_MIGRATION_LOCK = 0x66656564_6D696772


def _config() -> Config:
    config = Config()
    config.set_main_option("script_location", "db:migrations")
    return config


@cache
def head() -> str:
    """The newest revision this code knows."""
    revision = ScriptDirectory.from_config(_config()).get_current_head()
    assert revision is not None
    return revision


def current(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as connection:
        try:
            return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except (OperationalError, ProgrammingError):
            return None


def upgrade(engine: Engine) -> bool:
    """Bring the schema to the newest revision; True when anything ran.

    Cheap when there is nothing to do (one query), so every command calls it.
    """
    if current(engine) == head():
        return False
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
                config.attributes["connection"] = connection
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
