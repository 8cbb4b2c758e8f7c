"""Podcast mode's settings (``[podcast]`` in feeder.toml), checked against PSP-1 and Apple.

Each problem is a :class:`ConfigError` naming the key. The artwork must be a
JPEG or PNG of 1400 x 1400 to 3000 x 3000 pixels (PSP-1, Apple Podcasts): a
local file is measured here, from its header; a URL must at least end in
``.jpg``, ``.jpeg`` or ``.png``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import struct
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from feeder._ids import EMAIL, slugify
from feeder.errors import ConfigError

if TYPE_CHECKING:
    from feeder.config import Config, PodcastConfig

__all__ = [
    "CATEGORIES",
    "FEED_NAMESPACE",
    "IMAGE_SIZES",
    "categories",
    "check",
    "image_file",
    "image_size",
    "mint_guid",
]

#: The podcast namespace's UUIDv5 namespace for podcast:guid.
FEED_NAMESPACE = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
#: Smallest and largest side of the artwork, in pixels.
IMAGE_SIZES = (1400, 3000)

#: Apple Podcasts categories and their subcategories
#: (https://podcasters.apple.com/support/1691-apple-podcasts-categories).
CATEGORIES: dict[str, tuple[str, ...]] = {
    "Arts": ("Books", "Design", "Fashion & Beauty", "Food", "Performing Arts", "Visual Arts"),
    "Business": (
        "Careers",
        "Entrepreneurship",
        "Investing",
        "Management",
        "Marketing",
        "Non-Profit",
    ),
    "Comedy": ("Comedy Interviews", "Improv", "Stand-Up"),
    "Education": ("Courses", "How To", "Language Learning", "Self-Improvement"),
    "Fiction": ("Comedy Fiction", "Drama", "Science Fiction"),
    "Government": (),
    "History": (),
    "Health & Fitness": (
        "Alternative Health",
        "Fitness",
        "Medicine",
        "Mental Health",
        "Nutrition",
        "Sexuality",
    ),
    "Kids & Family": ("Education for Kids", "Parenting", "Pets & Animals", "Stories for Kids"),
    "Leisure": (
        "Animation & Manga",
        "Automotive",
        "Aviation",
        "Crafts",
        "Games",
        "Hobbies",
        "Home & Garden",
        "Video Games",
    ),
    "Music": ("Music Commentary", "Music History", "Music Interviews"),
    "News": (
        "Business News",
        "Daily News",
        "Entertainment News",
        "News Commentary",
        "Politics",
        "Sports News",
        "Tech News",
    ),
    "Religion & Spirituality": (
        "Buddhism",
        "Christianity",
        "Hinduism",
        "Islam",
        "Judaism",
        "Religion",
        "Spirituality",
    ),
    "Science": (
        "Astronomy",
        "Chemistry",
        "Earth Sciences",
        "Life Sciences",
        "Mathematics",
        "Natural Sciences",
        "Nature",
        "Physics",
        "Social Sciences",
    ),
    "Society & Culture": (
        "Documentary",
        "Personal Journals",
        "Philosophy",
        "Places & Travel",
        "Relationships",
    ),
    "Sports": (
        "Baseball",
        "Basketball",
        "Cricket",
        "Fantasy Sports",
        "Football",
        "Golf",
        "Hockey",
        "Rugby",
        "Running",
        "Soccer",
        "Softball",
        "Swimming",
        "Tennis",
        "Volleyball",
        "Wilderness",
        "Wrestling",
    ),
    "Technology": (),
    "True Crime": (),
    "TV & Film": ("After Shows", "Film History", "Film Interviews", "Film Reviews", "TV Reviews"),
}
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_DESCRIPTION_BYTES = 4000
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def mint_guid(feed_url: str) -> str:
    """podcast:guid for a feed: UUIDv5 of its URL without the scheme and trailing slashes."""
    parts = feed_url.split("://", 1)
    seed = (parts[1] if len(parts) == 2 else parts[0]).rstrip("/")
    return str(uuid.uuid5(FEED_NAMESPACE, seed))


def is_guid(value: object) -> bool:
    return isinstance(value, str) and _UUID.match(value) is not None


def _lookup(value: str) -> tuple[str, ...] | None:
    """``value`` ("Technology", "Arts/Books") as Apple spells it, or None if it is none."""
    names = [part.strip() for part in value.split("/")]
    if not 1 <= len(names) <= 2 or not all(names):
        return None
    top = next((name for name in CATEGORIES if name.lower() == names[0].lower()), None)
    if top is None:
        return None
    if len(names) == 1:
        return (top,)
    sub = next((name for name in CATEGORIES[top] if name.lower() == names[1].lower()), None)
    return None if sub is None else (top, sub)


def categories(values: tuple[str, ...]) -> tuple[tuple[str, ...], ...]:
    """The configured categories as Apple spells them (they are checked when loaded)."""
    found = [_lookup(value) for value in values]
    return tuple(path for path in found if path is not None)


def image_size(path: Path) -> tuple[str, int, int] | None:
    """``(format, width, height)`` of a PNG or JPEG file, from its header; None otherwise."""
    with path.open("rb") as stream:
        head = stream.read(32)
        if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR":
            width, height = struct.unpack(">II", head[16:24])
            return "png", width, height
        if not head.startswith(b"\xff\xd8"):
            return None
        stream.seek(2)
        while True:
            marker = stream.read(2)
            if len(marker) < 2 or marker[0] != 0xFF:
                return None
            kind = marker[1]
            if kind in (0xD8, 0x01) or 0xD0 <= kind <= 0xD7:
                continue  # markers without a length
            length = stream.read(2)
            if len(length) < 2:
                return None
            size = struct.unpack(">H", length)[0]
            # Start-of-frame markers (not DHT C4, JPG C8, DAC CC) carry the dimensions.
            if 0xC0 <= kind <= 0xCF and kind not in (0xC4, 0xC8, 0xCC):
                frame = stream.read(5)
                if len(frame) < 5:
                    return None
                height, width = struct.unpack(">HH", frame[1:5])
                return "jpeg", width, height
            stream.seek(size - 2, 1)


def image_file(config: Config) -> Path | None:
    """The local artwork file of podcast mode, or None when ``image`` is a URL."""
    image = config.podcast.image
    if not image or "://" in image:
        return None
    path = Path(image)
    return path if path.is_absolute() else config.root / path


def image_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def published_image(path: Path) -> str:
    """Where the local artwork is published: ``<hash>/<name>`` under ``media/``."""
    suffix = ".jpg" if path.suffix.lower() == ".jpeg" else path.suffix.lower()  # PSP-1's names
    return f"{image_digest(path)[:16]}/{slugify(path.stem, max_length=100) or 'artwork'}{suffix}"


def check(
    podcast: PodcastConfig,
    given: Callable[[str], bool],
    fail: Callable[[str, str], ConfigError],
    root: Path,
    formats: tuple[str, ...],
    description: str = "",
) -> PodcastConfig:
    """``podcast`` checked (when podcast mode is on); ``given(key)``: whether a key was set."""
    if not podcast.enabled:
        return podcast
    if len(description.encode("utf-8")) > _DESCRIPTION_BYTES:
        raise fail(
            "description",
            f"is {len(description.encode('utf-8'))} bytes; a podcast's description holds at "
            f"most {_DESCRIPTION_BYTES} (PSP-1): shorten it",
        )
    for key in ("image", "category", "explicit"):
        if not given(f"podcast.{key}"):
            raise fail(
                f"podcast.{key}",
                f"is required in podcast mode (PSP-1 requires itunes:{key}); set it in [podcast]",
            )
    _check_image(podcast.image, fail, root)
    if not podcast.category:
        raise fail("podcast.category", 'must name a category, e.g. "Technology" or "Arts/Books"')
    for value in podcast.category:
        if _lookup(value) is None:
            top = value.split("/")[0].strip()
            known = next((name for name in CATEGORIES if name.lower() == top.lower()), None)
            hint = (
                f"subcategories of {known}: {', '.join(CATEGORIES[known]) or 'none'}"
                if known
                else f"use one of Apple's: {', '.join(CATEGORIES)}"
            )
            raise fail("podcast.category", f"{value!r} is not an Apple Podcasts category; {hint}")
    if podcast.owner_email and not EMAIL.match(podcast.owner_email):
        raise fail(
            "podcast.owner_email",
            f"{podcast.owner_email!r} is not an email address like 'ann@example.org'",
        )
    if podcast.type not in ("episodic", "serial"):
        raise fail("podcast.type", f"must be episodic or serial, got {podcast.type!r}")
    if podcast.funding:
        parts = urlsplit(podcast.funding)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise fail(
                "podcast.funding",
                f"{podcast.funding!r} is not an absolute http(s) URL like "
                "'https://example.org/support'",
            )
    if podcast.guid and not is_guid(podcast.guid.lower()):
        raise fail(
            "podcast.guid",
            f"{podcast.guid!r} is not a UUID like '9b024349-ccf0-5f69-a609-6b82873eab3c' "
            "(copy the podcast:guid of the feed this podcast moved from)",
        )
    unknown = [kind for kind in podcast.feeds if kind not in ("site", "tags", "authors")]
    if unknown or not podcast.feeds:
        raise fail("podcast.feeds", "must list some of site, tags, authors")
    if "rss" not in formats:
        raise fail("feeds.formats", 'podcast feeds are RSS: add "rss" to feeds.formats')
    return dataclasses.replace(podcast, guid=podcast.guid.lower())


def _check_image(image: str, fail: Callable[[str, str], ConfigError], root: Path) -> None:
    low, high = IMAGE_SIZES
    if "://" in image:
        parts = urlsplit(image)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise fail("podcast.image", f"{image!r} is not an http(s) URL or a file path")
        if not parts.path.lower().endswith(_IMAGE_SUFFIXES):
            raise fail(
                "podcast.image",
                f"{image!r} must end in .jpg or .png (PSP-1: a JPEG or PNG with the "
                "matching extension)",
            )
        return
    path = Path(image) if Path(image).is_absolute() else root / image
    if path.suffix.lower() not in _IMAGE_SUFFIXES:
        raise fail("podcast.image", f"{image!r} must be a .jpg or .png file (PSP-1)")
    try:
        found = image_size(path)
    except OSError as exc:
        raise fail("podcast.image", f"cannot read {str(path)!r}: {exc.strerror}") from None
    expected = "png" if path.suffix.lower() == ".png" else "jpeg"
    if found is None or found[0] != expected:
        raise fail(
            "podcast.image",
            f"{str(path)!r} is not a {expected.upper()} file (PSP-1: the extension must "
            "match the file type)",
        )
    _kind, width, height = found
    if width != height or not low <= width <= high:
        raise fail(
            "podcast.image",
            f"{str(path)!r} is {width} x {height} pixels; the artwork must be square, "
            f"{low} x {low} to {high} x {high} (PSP-1, Apple Podcasts)",
        )
