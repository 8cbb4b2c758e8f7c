"""From a stored row to what renderers get: every value checked again on the way out.

A row is input. Whatever another program wrote into the database, it is
judged here before it becomes a path in the output directory, a link in a
feed or bytes in a page: a slug must match the one safe pattern, a link must
be an http(s) URL, text must be text, content is sanitised and held to the
size limit. A row that fails is not published; :class:`RowProblem` says in
one line which field is wrong and why, and the build reports it once and
publishes the rest.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import NamedTuple
from urllib.parse import urljoin, urlsplit

from db import EpisodeValues, MediaValues, StoredArticle, StoredEpisode, StoredMedia, StoredPerson
from feeder import _media
from feeder._content import sanitize_html
from feeder._derived import Sealer, stored
from feeder._ids import is_safe_slug
from feeder._text import clean_text
from feeder.articles import Article
from feeder.config import Config
from feeder.entries import Enclosure, Entry, Episode, Person, TagRef

__all__ = [
    "ARTICLES_DIR",
    "Fields",
    "RowProblem",
    "Unreadable",
    "article_of",
    "article_path",
    "checked_slug",
    "entry_of",
    "readable",
    "url_of",
    "who",
]

ARTICLES_DIR = "articles"
_SPACE = re.compile(r"\s")  # what str.isspace() calls a space


class RowProblem(ValueError):
    """A stored value that cannot be published; ``str()`` names the field."""


class Unreadable(RowProblem):
    """A stored value that storage could not even read as its column's type."""


def article_path(slug: str) -> str:
    """Where an article's page goes in the output directory (``slug`` must be checked)."""
    return f"{ARTICLES_DIR}/{slug}.html"


def who(pk: int, slug: object) -> str:
    """How a report names a row: its primary key, and its slug when that is printable."""
    shown = slug if isinstance(slug, str) and slug.isprintable() and len(slug) <= 80 else None
    return f"article #{pk}" + (f" ({shown!r})" if shown else "")


def text(field: str, value: object, *, required: bool = False) -> str:
    """``value`` as clean text, or a RowProblem saying why it is not text."""
    if value is None:
        value = ""
    if isinstance(value, bytes | bytearray | memoryview):
        raise RowProblem(f"{field}: is binary data, not text")
    if not isinstance(value, str):
        raise RowProblem(f"{field}: is a {type(value).__name__}, not text")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise RowProblem(f"{field}: is not valid UTF-8") from None
    cleaned = clean_text(value)
    if required and not cleaned.strip():
        raise RowProblem(f"{field}: is empty")
    return cleaned


def _raw_text(field: str, value: object) -> str:
    if not isinstance(value, str):
        text(field, value)  # says why
        raise RowProblem(f"{field}: is not text")
    text(field, value)
    return value


def checked_slug(value: object, field: str = "slug") -> str:
    """A slug that is safe as a file name: the one pattern, no '/', '..' or leading dot."""
    if not isinstance(value, str) or not is_safe_slug(value):
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:59] + "…"
        raise RowProblem(f"{field}: {shown} is not a safe slug (a-z, 0-9 and '-', '_', '.' inside)")
    return value


def web_url(field: str, value: object, base: str) -> str:
    """An absolute http(s) URL; a relative one another tool stored is anchored at ``base``."""
    link = text(field, value, required=True).strip()
    try:
        absolute = urljoin(base, link)
        parts = urlsplit(absolute)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        shown = link if len(link) <= 60 else link[:59] + "…"
        raise RowProblem(f"{field}: {shown!r} is not an http(s) URL")
    if any(ch.isspace() for ch in absolute):
        raise RowProblem(f"{field}: {absolute!r} has spaces in it")
    return absolute


class Fields(NamedTuple):
    """A stored row's values, each of them text (or a date) as its column promises."""

    uid: str
    slug: str
    title: str
    link: str | None
    summary: str
    content: str
    author: Person | None
    tags: tuple[tuple[str, str], ...]
    published_at: datetime
    updated_at: datetime
    created_at: datetime
    media: tuple[MediaValues, ...] = ()
    episode: EpisodeValues | None = None


def _whole(field: str, value: object) -> int | None:
    """A stored number column: a whole number, or None; RowProblem for anything else."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RowProblem(f"{field}: {value!r} is not a whole number")
    return value


def _media_values(value: StoredMedia) -> MediaValues:
    role = text("media role", value.role).strip()
    field = role if role in _media.ROLES else "media"
    url = text(field, value.url).strip() or None
    file = text(f"{field} file", value.file).strip() or None
    return MediaValues(
        role=role,
        url=url,
        file=file,
        media_type=text(f"{field} type", value.media_type).strip(),
        length=_whole(f"{field} length", value.length),
    )


def _episode_values(value: StoredEpisode | None) -> EpisodeValues | None:
    if value is None:
        return None
    kind = text("episode type", value.episode_type).strip() or None
    episode = EpisodeValues(
        duration=_whole("duration", value.duration),
        number=_whole("episode", value.number),
        season=_whole("season", value.season),
        episode_type=kind,
    )
    return None if episode == EpisodeValues() else episode


def _person(value: StoredPerson | None) -> Person | None:
    if value is None:
        return None
    name = text("author", value.name).strip()
    if not name:
        return None
    email = text("author email", value.email).strip() or None
    uri = text("author uri", value.uri).strip() or None
    return Person(name, email, uri)


def readable(record: StoredArticle, *, sealed: bool = False) -> Fields:
    """``record``'s values as the Python API shows them; RowProblem where one is not text.

    Only what storage holds is checked here: whether each value can be read at
    all. What publishing needs on top (a safe slug, an http(s) link, content
    within the limits) is :func:`entry_of`'s. ``sealed``: the content is
    exactly what feeder's sanitiser wrote (feeder._derived), so it is text.
    """
    if record.problems:
        raise Unreadable("; ".join(record.problems))
    assert record.published_at and record.updated_at and record.created_at  # else problems
    link = text("link", record.link).strip() or None
    tags = []
    for tag_slug, tag_name in record.tags:
        # Characters XML forbids were always removed from tags on the way out.
        slug = text("tag slug", tag_slug)
        tags.append((slug, text("tag", tag_name).strip() or slug))
    return Fields(
        uid=text("id", record.uid, required=True).strip(),
        # Not cleaned: a slug is a name in the output directory, used exactly or not at all.
        slug=_raw_text("slug", record.slug),
        title=text("title", record.title),
        link=link,
        summary=text("summary", record.summary),
        content=record.content
        if sealed and isinstance(record.content, str)
        else text("content", record.content),
        author=_person(record.author),
        tags=tuple(tags),
        published_at=record.published_at,
        updated_at=record.updated_at,
        created_at=record.created_at,
        media=_media.in_role_order([_media_values(value) for value in record.media])
        if record.media
        else (),
        episode=_episode_values(record.episode),
    )


def _enclosure(value: MediaValues, config: Config, *, checked: bool) -> Enclosure:
    """A stored media file as published; with ``checked``, RowProblem unless it can be."""
    field = value.role
    if not checked:
        url = value.url or (config.url(_media.published_path(value.file)) if value.file else "")
        return Enclosure(url, value.media_type, value.length, value.file)
    if value.role not in _media.ROLES:
        raise RowProblem(f"media role: {value.role[:30]!r} is not one of {', '.join(_media.ROLES)}")
    if (value.url is None) == (value.file is None):
        raise RowProblem(f"{field}: has both a url and a file, or neither")
    if value.file is not None:
        if not _media.is_safe_file(value.file):
            shown = value.file if len(value.file) <= 60 else value.file[:59] + "…"
            raise RowProblem(f"{field} file: {shown!r} is not a file name feeder made")
        url = config.url(_media.published_path(value.file))
    else:
        url = web_url(field, value.url, config.base_url)
    try:
        media_type = _media.check_media_type(value.media_type, f"{field} type")
    except ValueError as exc:
        raise RowProblem(str(exc).split(";")[0]) from None
    if value.length is not None and value.length < 0:
        raise RowProblem(f"{field} length: {value.length} is negative")
    return Enclosure(url, media_type, value.length, value.file)


def _episode(
    fields: Fields, config: Config, *, checked: bool
) -> tuple[tuple[Enclosure, ...], Episode | None]:
    """The enclosures and the episode (None when there is nothing of one) of a row."""
    if not fields.media and fields.episode is None:
        return (), None  # most articles: nothing to check
    media = [_enclosure(value, config, checked=checked) for value in fields.media]
    roles = [value.role for value in fields.media]
    enclosures = tuple(m for m, role in zip(media, roles, strict=True) if role == "enclosure")
    transcripts = tuple(m for m, role in zip(media, roles, strict=True) if role == "transcript")
    chapters = next((m for m, role in zip(media, roles, strict=True) if role == "chapters"), None)
    stored = fields.episode or EpisodeValues()
    if checked:
        for name, number, least in (
            ("duration", stored.duration, 0),
            ("episode", stored.number, 1),
            ("season", stored.season, 1),
        ):
            if number is not None and number < least:
                raise RowProblem(f"{name}: {number} is less than {least}")
        if stored.episode_type is not None and stored.episode_type not in _media.EPISODE_TYPES:
            raise RowProblem(
                f"episode type: {stored.episode_type[:30]!r} is not one of "
                f"{', '.join(_media.EPISODE_TYPES)}"
            )
    episode = Episode(
        duration=stored.duration,
        number=stored.number,
        season=stored.season,
        type=stored.episode_type,
        transcripts=transcripts,
        chapters=chapters,
    )
    return enclosures, None if episode == Episode() else episode


def url_of(config: Config, slug: str, link: str | None) -> str:
    """Where readers land: the link (a relative one anchored at base_url), else the page."""
    return web_url("link", link, config.base_url) if link else config.url(article_path(slug))


def article_of(record: StoredArticle, config: Config) -> Article:
    """What the Python API returns for ``record``; RowProblem if it cannot be read."""
    fields = readable(record)
    try:
        url = url_of(config, fields.slug, fields.link)
    except RowProblem:
        url = fields.link or ""  # shown as stored; the build leaves such a row out
    enclosures, episode = _episode(fields, config, checked=False)
    return Article(
        id=fields.uid,
        slug=fields.slug,
        title=fields.title,
        link=fields.link,
        url=url,
        summary=fields.summary,
        content=fields.content,
        author=fields.author,
        tags=tuple(TagRef(slug, name) for slug, name in fields.tags),
        published_at=fields.published_at,
        updated_at=fields.updated_at,
        created_at=fields.created_at,
        enclosures=enclosures,
        episode=episode,
    )


def entry_of(record: StoredArticle, config: Config, sealer: Sealer | None = None) -> Entry:
    """The entry renderers get for ``record``; RowProblem if it cannot be published.

    ``sealer`` checks content seals (feeder._derived): sealed content is published
    as stored, with its stored word count; any other content is sanitised again.
    """
    limit = config.content.max_content_bytes
    if isinstance(record.content, str) and len(record.content) > limit:
        # More characters than bytes allowed: refused before any work on 50 MB of text.
        raise RowProblem(f"content: over content.max_content_bytes ({limit})")
    known = stored(
        record.content, record.content_hash, record.word_count, record.content_seal, sealer
    )
    fields = readable(record, sealed=known.sealed)
    slug = checked_slug(fields.slug)
    if _SPACE.search(fields.uid):
        raise RowProblem(f"id: {fields.uid[:60]!r} has spaces in it")
    limits = config.content
    title = fields.title.strip()
    if not title:
        raise RowProblem("title: is empty")
    if len(title) > limits.max_title_chars:
        raise RowProblem(
            f"title: {len(title)} characters is over content.max_title_chars "
            f"({limits.max_title_chars})"
        )
    size = len(fields.content.encode("utf-8"))
    if size > limits.max_content_bytes:
        raise RowProblem(
            f"content: {size} bytes is over content.max_content_bytes ({limits.max_content_bytes})"
        )
    author = fields.author
    if author is not None and author.uri:
        author = Person(
            author.name, author.email, web_url("author uri", author.uri, config.base_url)
        )
    enclosures, episode = _episode(fields, config, checked=True)
    content, words = fields.content, known.words
    if not known.sealed:
        # What another tool stored is published only through the allow-list.
        content = sanitize_html(content, allow_iframes=limits.allow_iframes)
        if content != fields.content:
            words = None  # counted in what sanitising just changed: count again
    return Entry(
        id=fields.uid,
        slug=slug,
        title=title,
        url=url_of(config, slug, fields.link),
        summary=fields.summary,
        content=content,
        author=author,
        tags=tuple(TagRef(checked_slug(tag, "tag slug"), name) for tag, name in fields.tags),
        published=fields.published_at,
        updated=fields.updated_at,
        enclosures=enclosures,
        episode=episode,
        words=words if content else None,
    )


def has_page(record: StoredArticle) -> bool:
    """Whether the article is published as a page of its own (it has no external link)."""
    return record.link is None or record.link == ""
