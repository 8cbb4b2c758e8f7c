"""Bulk inserts at the driver's pace.

``connection.execute(insert(table), rows)`` runs every row through
SQLAlchemy's parameter machinery, which costs more than the database's own
work on a row of a few kilobytes. :func:`insert_many` hands the driver plain
tuples instead, converted by the same bind processors that SQLAlchemy would
apply, so what is stored is identical: SQLite gets one compiled INSERT and
``executemany``, PostgreSQL (psycopg) gets ``COPY ... FROM STDIN``, its bulk
loading path. Other drivers keep SQLAlchemy's path.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, exc, insert
from sqlalchemy.engine import Dialect

__all__ = ["insert_many"]

_Processor = Callable[[Any], Any] | None
_MISSING = object()


def insert_many(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """Insert ``rows`` (each with exactly the keys ``columns``) into ``table``."""
    if not rows:
        return
    dialect = connection.dialect
    if dialect.name == "sqlite":
        sql, order = _statement(dialect, table, tuple(columns))
        connection.exec_driver_sql(sql, _tuples(order, rows))
    elif dialect.name == "postgresql" and dialect.driver == "psycopg":
        _copy(connection, table, columns, rows)
    else:
        connection.execute(insert(table), [dict(row) for row in rows])


def _tuples(
    order: Sequence[tuple[str, _Processor]], rows: Sequence[Mapping[str, Any]]
) -> list[tuple[Any, ...]]:
    # Bulk rows repeat values (one creation time for a whole import): convert each once.
    converters = [(name, _remembering(process)) for name, process in order]
    return [
        tuple(row[name] if convert is None else convert(row[name]) for name, convert in converters)
        for row in rows
    ]


def _copy(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    dialect = connection.dialect
    quote = dialect.identifier_preparer
    sql = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(name) for name in columns)}) "
        "FROM STDIN"
    )
    order = _processors(dialect, table, tuple(columns))
    driver = connection.connection.driver_connection
    assert driver is not None
    try:
        with driver.cursor() as cursor, cursor.copy(sql) as copy:
            for values in _tuples(order, rows):
                copy.write_row(values)
    except dialect.loaded_dbapi.Error as error:
        # What connection.execute() would raise: IntegrityError for a unique clash, ...
        raise exc.DBAPIError.instance(sql, None, error, dialect.loaded_dbapi.Error) from None


def _remembering(process: _Processor) -> _Processor:
    if process is None:
        return None
    seen: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        converted = seen.get(value, _MISSING)
        if converted is _MISSING:
            converted = seen[value] = process(value)
        return converted

    return convert


@cache
def _statement(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[str, tuple[tuple[str, _Processor], ...]]:
    """The INSERT's text, and each placeholder's column with its bind processor."""
    compiled = insert(table).compile(dialect=dialect, column_keys=list(columns))
    order = tuple(compiled.positiontup or ())
    if not compiled.positional or set(order) != set(columns):
        # A column with a default was added to the statement: every row must say it.
        raise ValueError(f"insert_many({table.name}): give exactly the columns {sorted(order)}")
    return compiled.string, _processors(dialect, table, order)


@cache
def _processors(
    dialect: Dialect, table: Table, columns: tuple[str, ...]
) -> tuple[tuple[str, _Processor], ...]:
    """Each column with the bind processor SQLAlchemy applies to its values on ``dialect``."""
    return tuple(
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in columns
    )
