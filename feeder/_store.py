"""Rules for article identity shared by every writer (the Site methods and the importer).

Slugs and ids are unique; an id is never reused, not even after its article was
deleted; tags are normalised to one slug per name. Keeping these in one place
is what makes ``feeder add`` and ``feeder import`` agree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from functools import lru_cache
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Article as ArticleRow
from db.models import Author, Removal, Tag
from feeder.config import AuthorConfig
from feeder.entries import Person
from feeder.errors import InputError
from feeder.fields import check_link, check_text
from feeder.ids import slugify
from feeder.text import clean_text

__all__ = [
    "article_link",
    "check_id",
    "fits",
    "normalise_tags",
    "person",
    "slug_taken",
    "unique_slug",
    "unique_uid",
]


def fits(field: str, value: str | None, column: Any) -> str | None:
    """``value``, refused if the column cannot hold it (PostgreSQL would fail the write)."""
    limit = column.type.length
    if value is not None and limit is not None and len(value) > limit:
        raise InputError(
            f"{field}: {len(value)} characters is over the limit of {limit}; shorten it"
        )
    return value


def article_link(value: str) -> str:
    """An article's ``link``: an absolute http(s) URL that its column can hold."""
    link = check_link(clean_text(check_text(value, "link")))
    fits("link", link, ArticleRow.__table__.c.link)
    return link


def slug_taken(session: Session, slug: str) -> bool:
    return session.execute(select(ArticleRow.pk).where(ArticleRow.slug == slug)).first() is not None


def unique_slug(session: Session, base: str, reserved: Collection[str] = frozenset()) -> str:
    """``base``, or ``base-2``, ``base-3``... : the first one no article (nor ``reserved``) has."""
    candidate, n = base, 1
    while candidate in reserved or slug_taken(session, candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def unique_uid(session: Session, base: str, reserved: Collection[str] = frozenset()) -> str:
    """A tag URI nobody used before, also among removed articles (ids are never reused)."""

    def taken(uid: str) -> bool:
        if uid in reserved:
            return True
        in_articles = select(func.count()).where(ArticleRow.uid == uid).scalar_subquery()
        in_removals = select(func.count()).where(Removal.uid == uid).scalar_subquery()
        return bool(session.execute(select(in_articles + in_removals)).scalar())

    candidate, n = base, 1
    while taken(candidate):
        n += 1
        candidate = f"{base}-{n}"
    return candidate


def check_id(value: str) -> str:
    uid = clean_text(check_text(value, "id")).strip()
    if not uid or any(ch.isspace() for ch in uid) or ":" not in uid:
        raise InputError(f"id: {value!r} is not a URI; use e.g. 'tag:example.org,2026:/post/1'")
    fits("id", uid, ArticleRow.__table__.c.uid)
    return uid


@lru_cache(maxsize=1024)  # bulk imports repeat the same few authors
def person(author: str | Person, site_author: AuthorConfig) -> tuple[Person | None, bool]:
    """The author as stored (None for a blank name), and whether it was given in full.

    A bare name that is the site author's gets the site author's email and uri.
    """
    given = author if isinstance(author, Person) else Person(author)
    name = clean_text(check_text(given.name, "author")).strip()
    if not name:
        return None, False
    email = (
        clean_text(check_text(given.email, "author email")).strip() or None if given.email else None
    )
    uri = check_link(clean_text(given.uri), "author uri") if given.uri else None
    if name == site_author.name and email is None and uri is None:
        email = site_author.email or None
        uri = site_author.uri or None
    columns = Author.__table__.c
    fits("author", name, columns.name)
    fits("author email", email, columns.email)
    fits("author uri", uri, columns.uri)
    return Person(name, email, uri), isinstance(author, Person)


def normalise_tags(names: Iterable[str]) -> list[tuple[str, str]]:
    """Sorted ``(slug, name)`` pairs, one per slug (the first name given wins)."""
    pairs: dict[str, str] = {}
    for raw in names:
        name = " ".join(clean_text(check_text(raw, "tag")).split())
        slug = slugify(name, max_length=100)
        if not slug:
            raise InputError(f"tag: {raw!r} has no letters or digits; use a word like 'python'")
        fits("tag", name, Tag.__table__.c.name)
        pairs.setdefault(slug, name)
    return sorted(pairs.items())
