"""Checking article fields from users: each problem names the field and the fix."""

from __future__ import annotations

import re
from datetime import UTC, datetime, tzinfo
from urllib.parse import urlsplit

from feeder.errors import InputError
from feeder.text import clean_text

__all__ = ["check_link", "check_text", "check_title", "parse_when"]

# What Python makes of bytes that are not UTF-8 (in an argument, a variable, a file
# read with surrogateescape): refused rather than silently dropped.
_UNDECODED = re.compile("[\ud800-\udfff]")


def check_text(value: str, field: str) -> str:
    """``value``, refused if it holds bytes that were not valid UTF-8."""
    found = _UNDECODED.search(value)
    if found:
        byte = ord(found.group()) - 0xDC00
        shown = f" (byte 0x{byte:02x})" if 0x80 <= byte <= 0xFF else ""
        raise InputError(
            f"{field}: is not valid UTF-8 text{shown}; pass it in UTF-8 "
            "(check the terminal's or the file's encoding)"
        )
    return value


def parse_when(value: str | datetime, field: str, zone: tzinfo | None = None) -> datetime:
    """An aware UTC datetime from a datetime or an ISO-8601 string.

    A value without an offset is read in ``zone``; with no zone configured it
    is refused, because guessing would shift the publication time.
    """
    if isinstance(value, str):
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise InputError(
                f"{field}: cannot read {value!r} as a date; use ISO 8601, e.g. 2026-11-26T09:30:00Z"
            ) from None
    else:
        parsed = value
    if parsed.tzinfo is None or parsed.utcoffset() is None:
        if zone is None:
            raise InputError(
                f"{field}: {value!s} has no time zone; add one (e.g. 'Z' or '+01:00') "
                "or set 'timezone' in feeder.toml"
            )
        parsed = parsed.replace(tzinfo=zone)
    # Feeds show whole seconds; a fraction would only make dates differ invisibly.
    return parsed.astimezone(UTC).replace(microsecond=0)


def check_link(value: str, field: str = "link") -> str:
    """An absolute http(s) URL, or an error that says so."""
    url = check_text(value, field).strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in url:
        raise InputError(
            f"{field}: {value!r} is not an absolute http(s) URL; use e.g. "
            "'https://example.org/post'"
        )
    return url


def check_title(value: str | None, limit: int) -> str:
    title = clean_text(check_text(value or "", "title")).strip()
    if not title:
        raise InputError("title: is required and must not be empty; pass --title 'Some title'")
    if len(title) > limit:
        raise InputError(
            f"title: {len(title)} characters is over the limit of {limit}; shorten it "
            "or raise content.max_title_chars in feeder.toml"
        )
    return title
