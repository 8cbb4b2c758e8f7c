"""Bulk inserts at the driver's pace.

``connection.execute(insert(table), rows)`` runs every row through
SQLAlchemy's parameter machinery, which costs more than SQLite's own work on
a row of a few kilobytes. :func:`insert_many` compiles the INSERT once and
hands the driver plain tuples, converted by the same bind processors that
SQLAlchemy would apply, so what is stored is identical. PostgreSQL keeps
SQLAlchemy's path: there it batches rows into multi-row statements already.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import cache
from typing import Any

from sqlalchemy import Connection, Table, insert
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
    if connection.dialect.name != "sqlite":
        connection.execute(insert(table), [dict(row) for row in rows])
        return
    sql, order = _statement(connection.dialect, table, tuple(columns))
    # Bulk rows repeat values (one creation time for a whole import): convert each once.
    converters = [(name, _remembering(process)) for name, process in order]
    connection.exec_driver_sql(
        sql,
        [
            tuple(
                row[name] if convert is None else convert(row[name]) for name, convert in converters
            )
            for row in rows
        ],
    )


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
    return compiled.string, tuple(
        (name, table.c[name].type.dialect_impl(dialect).bind_processor(dialect)) for name in order
    )
