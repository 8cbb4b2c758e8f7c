"""The media files and episode fields of another publisher's feed entries.

RSS ``<enclosure>`` and ``media:content``, Atom ``link rel="enclosure"``
(feedparser gives both as the entry's enclosures), JSON Feed ``attachments``,
the ``itunes:`` episode fields and the podcast namespace's transcripts and
chapters. Another feed is read leniently: a media file without an http(s)
URL is dropped (never read as a local path), a missing or malformed type is
guessed from the file name (else ``application/octet-stream``), a length of
0 or none at all is unknown, and an unreadable duration or number is left
out. The entry itself is never refused for its media.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

from feeder import _media
from feeder.entries import Media
from feeder.errors import InputError

__all__ = ["from_entry", "from_json_item"]

_UNKNOWN_TYPE = "application/octet-stream"


def _url(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    url = value.strip()
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc or " " in url:
        return None
    return url


def _media_type(value: object, url: str, role: str) -> str:
    if isinstance(value, str) and value.strip():
        try:
            return _media.check_media_type(value.split(";")[0], role)
        except InputError:
            pass
    return _media.guess_type(urlsplit(url).path, role) or _UNKNOWN_TYPE


def _length(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        value = int(value.strip())
    return value if isinstance(value, int) and value > 0 else None


def _one(url: object, media_type: object, length: object, role: str) -> Media | None:
    checked = _url(url)
    if checked is None:
        return None
    return Media(checked, _media_type(media_type, checked, role), _length(length))


def _unique(items: list[Media | None]) -> tuple[Media, ...]:
    seen: set[str] = set()
    kept = []
    for item in items:
        if item is not None and item.source not in seen:
            seen.add(item.source)
            kept.append(item)
    return tuple(kept)


def _whole(value: object) -> int | None:
    try:
        number = int(str(value).strip())
    except ValueError:
        return None
    return number if number >= 1 else None


def _episode(duration: object, number: object, season: object, kind: object) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if duration not in (None, ""):
        with contextlib.suppress(InputError):
            fields["duration"] = _media.parse_duration(
                duration.strip() if isinstance(duration, str) else duration
            )
    for key, value in (("episode", number), ("season", season)):
        if value not in (None, ""):
            fields[key] = _whole(value)
    if isinstance(kind, str) and kind.strip().lower() in _media.EPISODE_TYPES:
        fields["episode_type"] = kind.strip().lower()
    return {key: value for key, value in fields.items() if value is not None}


def from_entry(entry: Any) -> dict[str, Any]:
    """Draft fields for the media of a feedparser entry (RSS or Atom)."""
    enclosures = [
        _one(item.get("href"), item.get("type"), item.get("length"), "enclosure")
        for item in entry.get("enclosures") or []
    ]
    enclosures += [
        _one(item.get("url"), item.get("type"), item.get("filesize"), "enclosure")
        for item in entry.get("media_content") or []
        if isinstance(item, dict)
    ]
    fields: dict[str, Any] = {}
    if found := _unique(enclosures):
        fields["enclosures"] = found
    transcript = entry.get("podcast_transcript")
    if isinstance(transcript, dict):
        one = _one(transcript.get("url"), transcript.get("type"), None, "transcript")
        if one is not None:
            fields["transcripts"] = (one,)
    chapters = entry.get("podcast_chapters")
    if isinstance(chapters, dict):
        one = _one(chapters.get("url"), chapters.get("type"), None, "chapters")
        if one is not None:
            fields["chapters"] = one
    fields.update(
        _episode(
            entry.get("itunes_duration"),
            entry.get("itunes_episode"),
            entry.get("itunes_season"),
            entry.get("itunes_episodetype"),
        )
    )
    return fields


def from_json_item(item: dict[str, Any]) -> dict[str, Any]:
    """Draft fields for the attachments of a JSON Feed item."""
    attachments = [a for a in item.get("attachments") or [] if isinstance(a, dict)]
    found = _unique(
        [
            _one(a.get("url"), a.get("mime_type"), a.get("size_in_bytes"), "enclosure")
            for a in attachments
        ]
    )
    fields: dict[str, Any] = {"enclosures": found} if found else {}
    durations = [a.get("duration_in_seconds") for a in attachments]
    duration = next((d for d in durations if isinstance(d, int | float)), None)
    if duration is not None:
        fields.update(_episode(int(duration) if duration >= 0 else None, None, None, None))
    return fields
