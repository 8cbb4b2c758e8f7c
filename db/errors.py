"""What storage raises: one small tree, so callers never need to know SQLAlchemy.

Every database failure reaches callers of :class:`db.Storage` as a
:class:`StorageFailure` whose ``str()`` is one line naming the cause (the
driver's own exception stays chained as ``__cause__``).
"""

from __future__ import annotations

__all__ = ["Clash", "Missing", "StorageFailure", "one_line"]


class StorageFailure(Exception):
    """The database could not do what was asked: unreachable, locked, broken."""


class Missing(StorageFailure):
    """There is no database there, or it holds no site (only init creates one)."""


class Clash(StorageFailure):
    """A write broke a unique rule, e.g. another writer took the same slug meanwhile."""


def one_line(exc: BaseException) -> str:
    """The first line of what the driver said (SQLAlchemy appends the SQL after it)."""
    original = getattr(exc, "orig", None)
    text = str(original if original is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
