"""Daemon logging: one line per event, as text for people or JSON for log collectors.

Build lines carry their figures as structured fields (``extra={"fields": {...}}``),
which the JSON format emits as keys and the text format leaves in the message.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from jobs import LEVELS, LOG_FORMATS

__all__ = ["LEVELS", "LOG_FORMATS", "LogSettings", "Throttle", "configure"]


LogFormat = Literal["text", "json"]


@dataclass(frozen=True)
class LogSettings:
    """How the daemon logs; handed to the build worker so both write alike."""

    level: str = "info"
    format: LogFormat = "text"


def _timestamp(record: logging.LogRecord) -> str:
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname:<7} {record.name}: {record.getMessage()}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            data.update(fields)
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure(settings: LogSettings) -> None:
    """Send every log record to stderr in ``settings.format`` at ``settings.level``."""
    level = logging.getLevelNamesMapping()[settings.level.upper()]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if settings.format == "json" else _TextFormatter())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # APScheduler says "Running job ..." twice per poll tick and uvicorn logs every
    # request at INFO; their warnings (a skipped run, a failed request) are what an
    # operator needs, and the daemon logs its own start and stop.
    quiet = logging.DEBUG if level <= logging.DEBUG else logging.WARNING
    for name in ("apscheduler", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).setLevel(quiet)


class Throttle:
    """Lets a repeating error through once, then once a minute while it lasts.

    A database that is down fails every poll tick; the log should say so, say
    when it recovers, and not repeat the same line every two seconds.
    """

    def __init__(self, every: float = 60.0, clock: Any = time.monotonic) -> None:
        self._every = every
        self._clock = clock
        self._last: str | None = None
        self._since = 0.0
        self._repeats = 0

    def failed(self, message: str) -> str | None:
        """The line to log for this failure, or None to stay quiet."""
        now = self._clock()
        if message != self._last or now - self._since >= self._every:
            line = message if not self._repeats else f"{message} (repeated {self._repeats} times)"
            self._last, self._since, self._repeats = message, now, 0
            return line
        self._repeats += 1
        return None

    def recovered(self) -> bool:
        """True once after a run of failures ends (time to log that it is fine again)."""
        was_failing = self._last is not None
        self._last, self._repeats = None, 0
        return was_failing
