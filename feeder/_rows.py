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

from urllib.parse import urljoin, urlsplit

from db.records import StoredArticle, StoredPerson
from feeder.config import Config
from feeder.content import sanitize_html
from feeder.entries import Entry, Person, TagRef
from feeder.ids import is_safe_slug
from feeder.text import clean_text

__all__ = [
    "ARTICLES_DIR",
    "RowProblem",
    "Unreadable",
    "article_path",
    "checked_slug",
    "entry_of",
    "who",
]

ARTICLES_DIR = "articles"


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


def _person(value: StoredPerson | None, base: str) -> Person | None:
    if value is None:
        return None
    name = text("author", value.name).strip()
    if not name:
        return None
    email = text("author email", value.email).strip() or None
    uri = web_url("author uri", value.uri, base) if value.uri else None
    return Person(name, email, uri)


def entry_of(record: StoredArticle, config: Config) -> Entry:
    """The entry renderers get for ``record``; RowProblem if it cannot be published."""
    if record.problems:
        raise Unreadable("; ".join(record.problems))
    slug = checked_slug(record.slug)
    uid = text("id", record.uid, required=True).strip()
    if any(ch.isspace() for ch in uid):
        raise RowProblem(f"id: {uid[:60]!r} has spaces in it")
    limits = config.content
    title = text("title", record.title, required=True).strip()
    if len(title) > limits.max_title_chars:
        raise RowProblem(
            f"title: {len(title)} characters is over content.max_title_chars "
            f"({limits.max_title_chars})"
        )
    content = text("content", record.content)
    size = len(content.encode("utf-8"))
    if size > limits.max_content_bytes:
        raise RowProblem(
            f"content: {size} bytes is over content.max_content_bytes ({limits.max_content_bytes})"
        )
    url = (
        web_url("link", record.link, config.base_url)
        if record.link is not None and record.link != ""
        else config.url(article_path(slug))
    )
    tags = []
    for tag_slug, tag_name in record.tags:
        # Characters XML forbids were always removed from tags on the way out.
        safe = checked_slug(text("tag slug", tag_slug), "tag slug")
        tags.append(TagRef(safe, text("tag", tag_name).strip() or safe))
    assert record.published_at is not None and record.updated_at is not None  # else problems
    return Entry(
        id=uid,
        slug=slug,
        title=title,
        url=url,
        summary=text("summary", record.summary),
        # Sanitised again: what another tool stored is published only through the allow-list.
        content=sanitize_html(content, allow_iframes=limits.allow_iframes),
        author=_person(record.author, config.base_url),
        tags=tuple(tags),
        published=record.published_at,
        updated=record.updated_at,
    )


def has_page(record: StoredArticle) -> bool:
    """Whether the article is published as a page of its own (it has no external link)."""
    return record.link is None or record.link == ""
