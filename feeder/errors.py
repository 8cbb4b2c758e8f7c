"""The exceptions feeder raises for problems a user can fix.

Each also subclasses the matching builtin, so callers that only know Python
can still catch ``ValueError`` or ``LookupError``. Anything that is not a
``FeederError`` is a bug and is allowed to propagate.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "ConflictError",
    "FeederError",
    "InputError",
    "LockedError",
    "NotFoundError",
    "PublishError",
    "StorageError",
]


class FeederError(Exception):
    """Root of every error a user can act on; ``str()`` is a one-line message."""

    exit_code = 1


class ConfigError(FeederError, ValueError):
    """feeder.toml, an environment variable or a flag has a bad value."""

    exit_code = 78  # EX_CONFIG


class InputError(FeederError, ValueError):
    """An article field or input file is not acceptable."""

    exit_code = 65  # EX_DATAERR


class NotFoundError(FeederError, LookupError):
    """No article (or file) with that name."""

    exit_code = 66  # EX_NOINPUT


class ConflictError(FeederError, ValueError):
    """The change would clash with existing data, e.g. a duplicate slug."""

    exit_code = 65


class PublishError(FeederError, OSError):
    """The output directory could not be written."""

    exit_code = 73  # EX_CANTCREAT


class LockedError(FeederError, RuntimeError):
    """Another process holds the publisher lock."""

    exit_code = 75  # EX_TEMPFAIL


class StorageError(FeederError, OSError):
    """The database is missing, unreachable or failed; the cause is chained."""

    exit_code = 69  # EX_UNAVAILABLE
