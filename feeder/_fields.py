"""The rules for article fields, for every writer: each problem names the field and the fix.

``feeder add``, ``feeder edit``, the Python API and every import check their
input here and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from urllib.parse import urlsplit

from feeder._ids import slugify
from feeder._text import clean_line, clean_text
from feeder.config import AuthorConfig, ContentConfig
from feeder.entries import Person
from feeder.errors import InputError

__all__ = [
    "article_link",
    "check_content_size",
    "check_id",
    "check_link",
    "check_text",
    "check_title",
    "fits",
    "normalise_tags",
    "parse_when",
    "person",
]

# What Python makes of bytes that are not UTF-8 (in an argument, a variable, a file
# read with surrogateescape): U+DC80-U+DCFF, one per byte. Refused rather than
# silently dropped. (Other lone surrogates, e.g. a "\ud800" escape in JSON, are no
# bytes anyone wrote: they are removed like the other characters XML forbids.)
_UNDECODED = re.compile("[\udc80-\udcff]")


def check_text(value: str, field: str) -> str:
    """``value``, refused if it holds bytes that were not valid UTF-8."""
    found = _UNDECODED.search(value)
    if found:
        shown = f" (byte 0x{ord(found.group()) - 0xDC00:02x})"
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
    return parsed.astimezone(UTC)


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
    title = clean_line(check_text(value or "", "title")).strip()
    if not title:
        raise InputError("title: is required and must not be empty; pass --title 'Some title'")
    if len(title) > limit:
        raise InputError(
            f"title: {len(title)} characters is over the limit of {limit}; shorten it "
            "or raise content.max_title_chars in feeder.toml"
        )
    return title


def fits(field: str, value: str | None) -> str | None:
    """``value``, refused if its column cannot hold it (PostgreSQL would fail the write)."""
    # Loaded here: the column sizes come with the models, and a build's worker
    # processes, which read this module through feeder._media, load no database code.
    from db import LIMITS

    limit = LIMITS[field]
    if value is not None and len(value) > limit:
        raise InputError(
            f"{field}: {len(value)} characters is over the limit of {limit}; shorten it"
        )
    return value


def article_link(value: str) -> str:
    """An article's ``link``: an absolute http(s) URL that its column can hold."""
    link = check_link(clean_text(check_text(value, "link")))
    fits("link", link)
    return link


def check_id(value: str) -> str:
    uid = clean_text(check_text(value, "id")).strip()
    if not uid or any(ch.isspace() for ch in uid) or ":" not in uid:
        raise InputError(f"id: {value!r} is not a URI; use e.g. 'tag:example.org,2026:/post/1'")
    fits("id", uid)
    return uid


def check_content_size(html: str, limits: ContentConfig) -> str:
    """``html``, refused when it is over ``content.max_content_bytes``."""
    # Four bytes per character at most: skip encoding when that cannot exceed the limit.
    if len(html) * 4 > limits.max_content_bytes:
        size = len(html.encode("utf-8", "surrogatepass"))
        if size > limits.max_content_bytes:
            raise InputError(
                f"content: {size} bytes is over the limit of {limits.max_content_bytes}; "
                "shorten it or raise content.max_content_bytes in feeder.toml"
            )
    return html


@lru_cache(maxsize=1024)  # bulk imports repeat the same few authors
def person(author: str | Person, site_author: AuthorConfig) -> tuple[Person | None, bool]:
    """The author as stored (None for a blank name), and whether it was given in full.

    A bare name that is the site author's gets the site author's email and uri.
    """
    given = author if isinstance(author, Person) else Person(author)
    name = clean_line(check_text(given.name, "author")).strip()
    if not name:
        return None, False
    email = None
    if given.email:
        email = clean_text(check_text(given.email, "author email")).strip() or None
    uri = check_link(clean_text(given.uri), "author uri") if given.uri else None
    if name == site_author.name and email is None and uri is None:
        email = site_author.email or None
        uri = site_author.uri or None
    fits("author", name)
    fits("author email", email)
    fits("author uri", uri)
    return Person(name, email, uri), isinstance(author, Person)


def normalise_tags(names: Iterable[str]) -> list[tuple[str, str]]:
    """Sorted ``(slug, name)`` pairs, one per slug (the first name given wins)."""
    pairs: dict[str, str] = {}
    for raw in names:
        name = " ".join(clean_line(check_text(raw, "tag")).split())
        slug = slugify(name, max_length=100)
        if not slug:
            raise InputError(f"tag: {raw!r} has no letters or digits; use a word like 'python'")
        fits("tag", name)
        pairs.setdefault(slug, name)
    return sorted(pairs.items())
