"""Reading back what feeder publishes, the way a feed reader does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import feedparser


def parse_feed(data: bytes | Path) -> Any:
    """Parse with feedparser and fail the test if it found anything malformed."""
    raw = data.read_bytes() if isinstance(data, Path) else data
    parsed = feedparser.parse(raw)
    assert not parsed.bozo, f"feedparser: {parsed.get('bozo_exception')!r}"
    return parsed
