"""Media files of articles: enclosures, transcripts and chapters, checked once for every writer.

A media file is given as an http(s) URL (hosted elsewhere) or as a local
path. For a URL the media type is guessed from its extension unless given,
and the length is what the writer says (unknown when not said). For a path
the length and the type come from the file, and the file is published with
the site: it is copied into the site's media store (``media_dir``) under a
name made of its content hash and its own name, ``<hash>/<name>``, and every
build copies it from there to ``media/<hash>/<name>`` in the output
directory. The hash keeps two different files called ``episode.mp3`` apart,
and a name that holds only ``[a-z0-9._-]`` cannot lead out of either
directory.

The episode fields (duration, number, season, type) are checked here too.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import secrets
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import NamedTuple
from urllib.parse import urlsplit

from db import EpisodeValues, MediaValues
from feeder._fields import check_link, check_text, fits
from feeder._ids import slugify
from feeder._text import clean_text
from feeder.entries import Media
from feeder.errors import InputError

__all__ = [
    "CHAPTERS_TYPE",
    "EPISODE_TYPES",
    "MEDIA_DIR",
    "MEDIA_TYPES",
    "ROLES",
    "LocalFile",
    "all_media",
    "check_media_type",
    "episode_type",
    "episode_values",
    "guess_type",
    "in_role_order",
    "is_safe_file",
    "keep",
    "media_values",
    "parse_duration",
    "positive",
    "published_path",
]

#: Where published media files go in the output directory.
MEDIA_DIR = "media"
ROLES = ("enclosure", "transcript", "chapters")
EPISODE_TYPES = ("full", "trailer", "bonus")
#: What the podcast namespace asks chapters files to be served as.
CHAPTERS_TYPE = "application/json+chapters"

# Media types by extension: a fixed table, the same on every machine (the system's
# mime.types differs from one to the next). The embedded server serves files by these
# (SERVED_MEDIA_TYPES).
_AUDIO_VIDEO = {
    ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4",
    ".aac": "audio/aac",
    ".ogg": "audio/ogg",
    ".oga": "audio/ogg",
    ".opus": "audio/ogg",
    ".flac": "audio/flac",
    ".wav": "audio/wav",
    ".mp4": "video/mp4",
    ".m4v": "video/mp4",
    ".mov": "video/quicktime",
    ".webm": "video/webm",
}
_DOCUMENTS = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".pdf": "application/pdf",
}
_TRANSCRIPTS = {
    ".vtt": "text/vtt",
    ".srt": "application/x-subrip",
    ".html": "text/html",
    ".htm": "text/html",
    ".txt": "text/plain",
    ".json": "application/json",
}
#: The media files a site publishes, by extension (what the embedded server serves them as).
SERVED_MEDIA_TYPES: dict[str, str] = {**_AUDIO_VIDEO, **_DOCUMENTS, **_TRANSCRIPTS}
#: Media types by extension, for each role.
MEDIA_TYPES: dict[str, dict[str, str]] = {
    "enclosure": {**_AUDIO_VIDEO, **_DOCUMENTS},
    "transcript": _TRANSCRIPTS,
    "chapters": {".json": CHAPTERS_TYPE},
}

# RFC 6838 type/subtype (restricted names), without parameters.
_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_MEDIA_TYPE = re.compile(rf"^{_NAME}/{_NAME}$")
# A stored file: the content hash, then a safe name (no '/', no leading dot, no '..').
_FILE = re.compile(r"^[0-9a-f]{16}/[a-z0-9][a-z0-9._-]{0,120}$")
_SCHEME = re.compile(r"[a-z][a-z0-9+.-]*")
_HASH_CHARS = 16
_CHUNK = 1024 * 1024


class LocalFile(NamedTuple):
    """A local file to copy into the media store before its article is written."""

    source: str  # absolute path
    file: str  # <hash>/<name> in the store
    digest: str  # sha256 of the bytes, hex
    size: int
    field: str  # for messages: "enclosure", "transcript", "chapters"


def _fields(role: str) -> tuple[str, str, str]:
    """What a role's value, type and length are called in messages (the flags' names)."""
    return role, f"{role}-type", f"{role}-length"


_ROLE_ORDER = {role: n for n, role in enumerate(ROLES)}


def in_role_order(media: Iterable[MediaValues]) -> tuple[MediaValues, ...]:
    """Enclosures, then transcripts, then chapters (the order writers give them in);
    within a role, the order they have. Unknown roles (a row another program wrote) last."""
    return tuple(sorted(media, key=lambda value: _ROLE_ORDER.get(value.role, len(ROLES))))


def check_media_type(value: str, field: str) -> str:
    media_type = clean_text(check_text(value, field)).strip().lower()
    if not _MEDIA_TYPE.match(media_type):
        raise InputError(
            f"{field}: {value!r} is not a media type; use one like 'audio/mpeg' or 'video/mp4'"
        )
    fits("media type", media_type)
    return media_type


def guess_type(name: str, role: str = "enclosure") -> str | None:
    """The media type the extension of ``name`` (a path or a URL's path) says, or None."""
    return MEDIA_TYPES[role].get(PurePosixPath(name).suffix.lower())


def is_safe_file(value: str) -> bool:
    """Whether ``value`` is a stored file name (``<hash>/<name>``) safe to publish."""
    return _FILE.match(value) is not None and ".." not in value


def published_path(file: str) -> str:
    """Where a stored file is published in the output directory (``file`` must be safe)."""
    return f"{MEDIA_DIR}/{file}"


def _length(value: object, field: str) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InputError(f"{field}: {value!r} is not a number of bytes; give e.g. 24986")
    if isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            raise InputError(
                f"{field}: {value!r} is not a number of bytes; give e.g. 24986"
            ) from None
    if not isinstance(value, int):
        raise InputError(f"{field}: {value!r} is not a number of bytes; give e.g. 24986")
    if value < 0:
        raise InputError(
            f"{field}: {value} is negative; give the size in bytes, or leave it out if unknown"
        )
    return value


def _is_url(source: str) -> bool:
    scheme = source.split(":", 1)[0].lower() if ":" in source else ""
    # "C:\\..." is a Windows drive, not a scheme.
    return len(scheme) > 1 and _SCHEME.fullmatch(scheme) is not None


def media_values(
    given: Media | str | os.PathLike[str],
    role: str,
    base: Path | None = None,
    *,
    paths: bool = True,
) -> tuple[MediaValues, LocalFile | None]:
    """The stored values of one media file, and the local file to publish, if it is one.

    ``base``: what a relative path is relative to (default: the working directory).
    ``paths``: whether a local path may be given at all (not in another publisher's feed).
    """
    spec = given if isinstance(given, Media) else Media(os.fspath(given))
    field, type_field, length_field = _fields(role)
    source = clean_text(check_text(spec.source, field)).strip()
    if not source:
        raise InputError(f"{field}: is empty; give a URL or the path of a file")
    media_type = check_media_type(spec.media_type, type_field) if spec.media_type else None
    length = _length(spec.length, length_field)
    if not isinstance(given, os.PathLike) and _is_url(source):
        url = check_link(source, field)
        fits("media url", url)
        media_type = media_type or guess_type(urlsplit(url).path, role)
        if media_type is None:
            raise InputError(
                f"{type_field}: cannot tell the media type of {url!r} from its name; "
                f"give it with --{type_field} (e.g. audio/mpeg)"
            )
        return MediaValues(role, url, None, media_type, length), None
    if not paths:
        check_link(source, field)  # says that it is no http(s) URL
    return _local(Path(source), base, role, media_type, length)


def _local(
    path: Path, base: Path | None, role: str, media_type: str | None, length: int | None
) -> tuple[MediaValues, LocalFile]:
    field, _type_field, length_field = _fields(role)
    if base is not None and not path.is_absolute():
        path = base / path
    try:
        path = path.expanduser().resolve(strict=True)
        info = path.stat()
    except (OSError, RuntimeError):
        raise InputError(
            f"{field}: {str(path)!r} is neither an http(s) URL nor a file that can be read; "
            "check the path"
        ) from None
    if not path.is_file():
        raise InputError(f"{field}: {str(path)!r} is not a file; give a file or an http(s) URL")
    suffix = path.suffix.lower()
    known = MEDIA_TYPES[role]
    if suffix not in known:
        raise InputError(
            f"{field}: {path.name!r}: feeder publishes {role} files named "
            f"{', '.join(sorted(known))}; rename it, or host it elsewhere and give its URL"
        )
    if length is not None and length != info.st_size:
        raise InputError(
            f"{length_field}: {length} is not the size of {path.name!r} ({info.st_size} bytes); "
            "leave it out for a local file"
        )
    digest = _digest(path, field)
    stem = slugify(path.stem, max_length=100) or "file"
    file = f"{digest[:_HASH_CHARS]}/{stem}{suffix}"
    fits("media file", file)
    local = LocalFile(str(path), file, digest, info.st_size, field)
    values = MediaValues(role, None, file, media_type or known[suffix], info.st_size)
    return values, local


def _digest(path: Path, field: str) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"{field}: {str(path)!r} cannot be read ({exc.strerror})") from None
    return digest.hexdigest()


def keep(local: LocalFile, store: Path) -> None:
    """Copy ``local`` into the media store ``store``, atomically; nothing when it is there.

    The bytes are hashed again as they are copied: a file that changed since it
    was checked is refused rather than stored under the name of other bytes.
    """
    target = store / local.file
    with contextlib.suppress(OSError):
        if target.is_file() and target.stat().st_size == local.size:
            return  # the name is the content's: same name and size, same file
    temp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    digest = hashlib.sha256()
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with open(local.source, "rb") as source, open(temp, "xb") as copy:
            while chunk := source.read(_CHUNK):
                digest.update(chunk)
                copy.write(chunk)
            copy.flush()
            os.fsync(copy.fileno())
        if digest.hexdigest() != local.digest:
            raise InputError(
                f"{local.field}: {local.source!r} changed while it was being added; add it again"
            )
        os.replace(temp, target)
        _fsync_dir(target.parent)
    except OSError as exc:
        raise InputError(
            f"{local.field}: cannot copy {local.source!r} into the media store {str(store)!r}: "
            f"{exc.strerror or exc}; check that media_dir is writable"
        ) from None
    finally:
        with contextlib.suppress(OSError):
            temp.unlink()


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# -- episode fields ------------------------------------------------------------------


def parse_duration(value: object, field: str = "duration") -> int | None:
    """Seconds, from a number of seconds or ``[[H:]M:]S``; None when not given."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, float) and value >= 0 and value.is_integer():
        return int(value)
    if isinstance(value, str):
        parts = value.strip().split(":")
        if 1 <= len(parts) <= 3 and all(part.isdigit() and part.isascii() for part in parts):
            numbers = [int(part) for part in parts]
            if all(n < 60 for n in numbers[1:]):
                seconds = 0
                for number in numbers:
                    seconds = seconds * 60 + number
                return seconds
    raise InputError(
        f"{field}: {value!r} is not a duration; give seconds (1801) or H:MM:SS (0:30:01)"
    )


def positive(value: object, field: str) -> int | None:
    """A whole number of 1 or more (an episode or season number); None when not given."""
    if value is None or value == "":
        return None
    number: object = value
    if isinstance(value, str) and value.strip().isdigit() and value.strip().isascii():
        number = int(value.strip())
    if isinstance(number, bool) or not isinstance(number, int) or not 1 <= number < 2**31:
        raise InputError(f"{field}: {value!r} is not a whole number of 1 or more; give e.g. 12")
    return number


def episode_type(value: object, field: str = "episode-type") -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or value.strip().lower() not in EPISODE_TYPES:
        raise InputError(f"{field}: {value!r} is not one of {', '.join(EPISODE_TYPES)}")
    return value.strip().lower()


def episode_values(
    duration: object = None, number: object = None, season: object = None, type: object = None
) -> EpisodeValues | None:
    """The checked episode fields; None when none is given."""
    values = EpisodeValues(
        duration=parse_duration(duration),
        number=positive(number, "episode"),
        season=positive(season, "season"),
        episode_type=episode_type(type),
    )
    return None if values == EpisodeValues() else values


def all_media(
    enclosures: Iterable[Media | str | os.PathLike[str]],
    transcripts: Iterable[Media | str | os.PathLike[str]] = (),
    chapters: Media | str | os.PathLike[str] | None = None,
    base: Path | None = None,
    *,
    paths: bool = True,
) -> tuple[tuple[MediaValues, ...], tuple[LocalFile, ...]]:
    """Every media file of an article in stored order (enclosures, transcripts, chapters)."""
    values: list[MediaValues] = []
    files: list[LocalFile] = []
    given: list[tuple[Media | str | os.PathLike[str], str]] = [
        *((item, "enclosure") for item in enclosures),
        *((item, "transcript") for item in transcripts),
    ]
    if chapters is not None and chapters != "":
        given.append((chapters, "chapters"))
    for item, role in given:
        value, local = media_values(item, role, base, paths=paths)
        values.append(value)
        if local is not None:
            files.append(local)
    return tuple(values), tuple(files)
