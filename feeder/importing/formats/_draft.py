"""What every input format produces: an article draft, plain data, not yet checked."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, NamedTuple

from feeder.entries import Media, Person
from feeder.errors import InputError

__all__ = ["FIELDS", "MEDIA_FIELDS", "Draft", "check_fields", "decode", "with_media_base"]

# The fields an input may set: the same as the options of ``feeder add``.
MEDIA_FIELDS = (
    "enclosures",
    "transcripts",
    "chapters",
    "duration",
    "episode",
    "season",
    "episode_type",
)
FIELDS = (
    "title",
    "slug",
    "link",
    "summary",
    "author",
    "tags",
    "published",
    "updated",
    "id",
    *MEDIA_FIELDS,
)


@dataclass(frozen=True)
class Draft:
    """One article as an input describes it.

    ``origin`` names where it came from (``posts/a.md``, ``bulk.jsonl:12``) and
    starts every error message about it. ``content`` is HTML that has not been
    sanitised yet; ``None`` fields were not given and are derived or kept.
    ``foreign_id`` marks an id taken from another publisher's feed: it is kept
    as it is even when it is not a URI, so that feed's subscribers see no
    duplicates.

    ``enclosures``, ``transcripts`` and ``chapters`` are URLs or, when
    ``media_base`` is set (the directory of the input file), local paths
    relative to it; another publisher's feed gives URLs only.
    """

    origin: str
    title: str | None = None
    content: str = ""
    slug: str | None = None
    link: str | None = None
    summary: str | None = None
    author: str | Person | None = None
    tags: tuple[str, ...] = ()
    published: str | datetime | None = None
    updated: str | datetime | None = None
    id: str | None = None
    foreign_id: bool = False
    enclosures: tuple[Media, ...] = ()
    transcripts: tuple[Media, ...] = ()
    chapters: Media | None = None
    duration: int | str | None = None
    episode: int | str | None = None
    season: int | str | None = None
    episode_type: str | None = None
    media_base: str | None = None


def with_media_base(draft: Draft, origin: str) -> Draft:
    """``draft`` with local media paths read relative to the file ``origin`` names."""
    if not (draft.enclosures or draft.transcripts or draft.chapters):
        return draft
    if origin == "stdin" or origin.startswith("stdin:"):
        base = Path.cwd()
    else:
        # A JSON Lines origin ends in ':<line>'.
        name = origin.rsplit(":", 1)[0] if origin.rsplit(":", 1)[-1].isdigit() else origin
        base = Path(name).resolve().parent
    return dataclasses.replace(draft, media_base=str(base))


def decode(data: bytes, origin: str) -> str:
    """``data`` as UTF-8 text (a leading BOM dropped), or an error with the byte offset."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{origin}: not valid UTF-8 at byte {exc.start}; save the file as UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def check_fields(raw: Any, where: str, known: tuple[str, ...]) -> dict[str, Any]:
    """The fields of ``raw`` (a mapping from a file) with their types checked.

    Returns keyword arguments for :class:`~feeder.importing.formats.Draft`; empty values
    count as not given.
    """
    if not isinstance(raw, Mapping):
        raise InputError(
            f"{where}: must be a set of 'key: value' fields, got {type(raw).__name__}; "
            f"use keys like {', '.join(known[:3])}"
        )
    fields: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise InputError(
                f"{where}: unknown key {key!r}; known keys: {', '.join(known)} (check the spelling)"
            )
        if value is None or value == "" or value == []:
            continue
        if key == "tags":
            fields[key] = _tags(value, where)
        elif key == "author":
            fields[key] = _author(value, where)
        elif key in ("published", "updated"):
            fields[key] = _when(value, key, where)
        elif key in ("enclosures", "transcripts"):
            items = value if isinstance(value, list) else [value]
            fields[key] = tuple(_media(item, key[:-1], where) for item in items)
        elif key == "chapters":
            fields[key] = _media(value, key, where)
        elif key in ("duration", "episode", "season") and isinstance(value, int | str):
            if isinstance(value, bool):
                raise InputError(f"{where}: {key}: must be a number, got {value!r}")
            fields[key] = value
        elif isinstance(value, str):
            fields[key] = value
        else:
            raise InputError(
                f"{where}: {key}: must be text, got {_shown(value)}; put the value in quotes"
            )
    return fields


def _shown(value: Any, limit: int = 60) -> str:
    """``repr(value)``, cut short: error messages stay one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _tags(value: Any, where: str) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise InputError(
        f"{where}: tags: must be a list of words, got {_shown(value)}; "
        'write e.g. ["news", "python"]'
    )


def _author(value: Any, where: str) -> str | Person:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("name"), str):
        extra = set(value) - {"name", "email", "uri"}
        parts = [value.get("email"), value.get("uri")]
        if not extra and all(part is None or isinstance(part, str) for part in parts):
            return Person(value["name"], parts[0] or None, parts[1] or None)
    raise InputError(
        f"{where}: author: must be a name or {{name, email, uri}}, got {_shown(value)}; "
        'write e.g. "Ann Author"'
    )


def _media(value: Any, key: str, where: str) -> Media:
    """A media file: a URL or path, or ``{url|path, type, length}``."""
    if isinstance(value, str):
        return Media(value)
    if isinstance(value, Mapping) and not set(value) - {"url", "path", "type", "length"}:
        sources = [value[name] for name in ("url", "path") if value.get(name)]
        kind, length = value.get("type"), value.get("length")
        if (
            len(sources) == 1
            and isinstance(sources[0], str)
            and (kind is None or isinstance(kind, str))
            and (length is None or (isinstance(length, int) and not isinstance(length, bool)))
        ):
            return Media(sources[0], kind or None, length)
    raise InputError(
        f"{where}: {key}: must be a URL or path, or {{url (or path), type, length}}, "
        f'got {_shown(value)}; write e.g. "episode.mp3" or {{url: "https://…", length: 1234}}'
    )


def _when(value: Any, key: str, where: str) -> str | datetime:
    if isinstance(value, datetime | str):
        return value
    if isinstance(value, date):  # a TOML local date: midnight, in the site's time zone
        return value.isoformat()
    raise InputError(
        f"{where}: {key}: cannot read {_shown(value)} as a date; use ISO 8601, "
        "e.g. 2026-11-26T09:30:00Z"
    )


class Line(NamedTuple):
    """One line of JSON Lines, read but not parsed yet (see formats.jsonl.parse_line)."""

    text: str
    origin: str  # file:line


class Source(NamedTuple):
    """A whole file of format ``kind`` (not ``jsonl``), read but not parsed yet."""

    data: bytes
    kind: str
    origin: str


# Input read but not parsed: bulk imports parse it in worker processes.
Pending = Source | Line
