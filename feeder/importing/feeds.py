"""Reading another publisher's feed (RSS, Atom or JSON Feed) as article drafts.

Entries keep their ids (``guid``/``id``), dates, authors, tags, content and
media files (enclosures, and a podcast's episode fields), so readers
subscribed to the old feed see no duplicates once the site publishes with
feeder. An entry without an id gets its link as id: that is what feed
readers identify such an entry by.

The document is checked with defusedxml before feedparser sees it: a DTD,
entity declarations or external references are refused, which rules out
entity-expansion bombs and reads of local files through external entities.
"""

from __future__ import annotations

import io
import json
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from time import struct_time
from typing import Any
from xml.etree.ElementTree import ParseError

import feedparser
from defusedxml import DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden
from defusedxml.ElementTree import fromstring

from feeder._content import derive_summary, plain_text
from feeder._ids import slugify
from feeder.entries import Person
from feeder.errors import FeederError, InputError, NotFoundError
from feeder.importing import _feed_media
from feeder.importing.formats import Draft

__all__ = ["MAX_FEED_BYTES", "TIMEOUT_SECONDS", "check_safe", "drafts_from_feed", "read_source"]

MAX_FEED_BYTES = 50_000_000
TIMEOUT_SECONDS = 30.0
TITLE_FROM_TEXT = 80
_HTML_TYPES = ("text/html", "application/xhtml+xml")
_DECLARATION = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def read_source(source: str) -> tuple[bytes, str | None]:
    """The bytes of ``source`` (an http(s) URL or a file) and its URL, if it has one."""
    scheme = source.split(":", 1)[0].lower() if "://" in source else ""
    if scheme in ("http", "https"):
        return _fetch(source), source
    if scheme:
        raise InputError(f"{source}: {scheme}: URLs are not supported; use http(s) or a file path")
    try:
        with Path(source).open("rb") as stream:
            data = stream.read(MAX_FEED_BYTES + 1)
    except OSError as exc:
        raise NotFoundError(f"{source}: cannot be read ({exc.strerror}); check the path") from None
    return _limited(data, source), None


def _fetch(url: str) -> bytes:
    request = urllib.request.Request(
        url,
        headers={
            "User-Agent": "feeder import-feed",
            "Accept": "application/atom+xml, application/rss+xml, application/feed+json, "
            "application/json;q=0.9, application/xml;q=0.9, */*;q=0.5",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            data: bytes = response.read(MAX_FEED_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise NotFoundError(
            f"{url}: the server answered {exc.code} {exc.reason}; check the address"
        ) from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise NotFoundError(
            f"{url}: cannot be fetched ({reason}); check the address and the connection"
        ) from None
    return _limited(data, url)


def _limited(data: bytes, source: str) -> bytes:
    if len(data) > MAX_FEED_BYTES:
        raise InputError(
            f"{source}: larger than {MAX_FEED_BYTES} bytes; import a smaller feed "
            "(or split it into JSON Lines and use 'feeder import')"
        )
    return data


def _is_json(data: bytes) -> bool:
    return data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"{")


def check_safe(data: bytes, source: str) -> None:
    """Refuse XML that declares a DTD or entities (JSON documents pass as they are)."""
    if _is_json(data):
        return
    refusal = (
        f"{source}: the feed declares a DTD or entities, which feeder refuses because they "
        "can expand without limit or read local files; remove the <!DOCTYPE ...> part"
    )
    try:
        fromstring(data, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (DTDForbidden, EntitiesForbidden, ExternalReferenceForbidden):
        raise InputError(refusal) from None
    except (ParseError, ValueError, LookupError):
        # Not well-formed (feedparser copes with many such feeds), or in an
        # encoding expat does not know: look for declarations by hand.
        if _DECLARATION.search(data):
            raise InputError(refusal) from None


def drafts_from_feed(source: str) -> Iterator[Draft | FeederError]:
    """A draft (or the error refusing it) for every entry of the feed at ``source``."""
    data, url = read_source(source)
    if _is_json(data):
        yield from _json_feed(data, source)
        return
    check_safe(data, source)
    parsed = feedparser.parse(
        io.BytesIO(data),  # bytes or a stream: a str could be taken for a path to open
        response_headers={"content-location": url} if url else {},
        sanitize_html=False,  # nh3 sanitises, with the site's policy
    )
    if not parsed.get("version") and not parsed.entries:
        problem = parsed.get("bozo_exception") or "no feed found"
        raise InputError(
            f"{source}: not an RSS, Atom or JSON feed ({problem}); check the address or file"
        )
    for number, entry in enumerate(parsed.entries, start=1):
        origin = f"{source}: entry {number}"
        try:
            yield _draft(entry, origin)
        except InputError as exc:
            yield exc


def _draft(entry: Any, origin: str) -> Draft:
    link = entry.get("link") or None
    uid = (entry.get("id") or "").strip() or link
    if not uid:
        raise InputError(
            f"{origin}: has neither an id nor a link, so it cannot keep a stable id; "
            "add a <guid> or <link> to it"
        )
    content, summary = _bodies(entry)
    title = _text(entry, "title") or derive_summary(content or summary, TITLE_FROM_TEXT)
    if not title:
        title = link or uid
    return Draft(
        origin=origin,
        title=title,
        content=content or summary,
        link=link,
        summary=plain_text(summary) if content and summary else None,
        author=_author(entry),
        tags=_tags(entry),
        published=_when(entry, "published", "created", "updated"),
        updated=_when(entry, "updated"),
        id=uid,
        foreign_id=True,
        **_feed_media.from_entry(entry),
    )


def _html(value: str, kind: str) -> str:
    if kind in _HTML_TYPES:
        return value
    return "\n".join(f"<p>{escape(line, quote=False)}</p>" for line in value.split("\n\n"))


def _bodies(entry: Any) -> tuple[str, str]:
    """(content HTML, summary HTML); either may be empty."""
    content = ""
    for part in entry.get("content") or []:
        if part.get("value"):
            content = _html(part["value"], part.get("type", "text/html"))
            break
    detail = entry.get("summary_detail") or {}
    summary = entry.get("summary") or ""
    summary = _html(summary, detail.get("type", "text/html")) if summary else ""
    if content and plain_text(summary) == plain_text(content):
        summary = ""
    return content, summary


def _text(entry: Any, key: str) -> str:
    value = entry.get(key) or ""
    detail = entry.get(f"{key}_detail") or {}
    if detail.get("type") in _HTML_TYPES:
        value = plain_text(value)
    return " ".join(value.split())


def _author(entry: Any) -> Person | None:
    detail = entry.get("author_detail") or {}
    name = detail.get("name") or entry.get("author") or ""
    if not name.strip():
        return None
    email = detail.get("email") or None
    uri = detail.get("href") or None
    if uri and not uri.startswith(("http://", "https://")):
        uri = None
    return Person(name, email, uri)


def _tags(entry: Any) -> tuple[str, ...]:
    names = (tag.get("label") or tag.get("term") or "" for tag in entry.get("tags") or [])
    # A category with no letters or digits cannot be a tag; it is dropped, not the entry.
    return tuple(name for name in names if slugify(name))


def _when(entry: Any, *keys: str) -> datetime | None:
    for key in keys:
        # dict.get: feedparser's own get() falls back from one date to another, with a warning.
        parsed: struct_time | None = dict.get(entry, f"{key}_parsed")
        if parsed:
            return datetime(*parsed[:6], tzinfo=UTC)
    return None


# JSON Feed (https://jsonfeed.org/version/1.1), which this feedparser does not read.


def _json_feed(data: bytes, source: str) -> Iterator[Draft | FeederError]:
    try:
        feed = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"{source}: not valid JSON ({exc}); check the address or file") from None
    version = feed.get("version", "") if isinstance(feed, dict) else ""
    items = feed.get("items") if isinstance(feed, dict) else None
    if not str(version).startswith("https://jsonfeed.org/version/") or not isinstance(items, list):
        raise InputError(
            f"{source}: not a JSON Feed (no jsonfeed.org version or no items); "
            "check the address or file"
        )
    for number, item in enumerate(items, start=1):
        origin = f"{source}: item {number}"
        try:
            yield _json_item(item, origin)
        except InputError as exc:
            yield exc


def _json_item(item: Any, origin: str) -> Draft:
    if not isinstance(item, dict):
        raise InputError(f"{origin}: must be an object; fix the feed")
    texts = {
        key: value if isinstance(value, str) else ""
        for key in ("url", "title", "content_html", "content_text", "summary")
        for value in [item.get(key)]
    }
    link = texts["url"] or None
    uid = str(item.get("id") or "").strip() or link
    if not uid:
        raise InputError(
            f"{origin}: has neither an id nor a url, so it cannot keep a stable id; "
            'add an "id" to it'
        )
    content = texts["content_html"] or _html(texts["content_text"], "text/plain")
    title = " ".join(texts["title"].split()) or derive_summary(content, TITLE_FROM_TEXT)
    authors = item.get("authors") or ([item["author"]] if item.get("author") else [])
    author = authors[0] if authors and isinstance(authors[0], dict) else {}
    tags = [tag for tag in item.get("tags") or [] if isinstance(tag, str) and slugify(tag)]
    uri = author.get("url") if isinstance(author.get("url"), str) else None
    return Draft(
        origin=origin,
        title=title or link or uid,
        content=content,
        link=link,
        summary=texts["summary"] or None,
        author=Person(author["name"], None, uri if uri and uri.startswith("http") else None)
        if isinstance(author.get("name"), str) and author["name"].strip()
        else None,
        tags=tuple(tags),
        published=_json_date(item.get("date_published") or item.get("date_modified")),
        updated=_json_date(item.get("date_modified")),
        id=uid,
        foreign_id=True,
        **_feed_media.from_json_item(item),
    )


def _json_date(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None
