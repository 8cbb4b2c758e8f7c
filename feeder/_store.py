"""Rules for article identity shared by every writer (the Site methods and the importer).

Slugs and ids are unique; an id is never reused, not even after its article was
deleted; tags are normalised to one slug per name. Keeping these in one place
is what makes ``feeder add`` and ``feeder import`` agree.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from db.models import Article as ArticleRow
from db.models import Removal
from feeder.errors import InputError
from feeder.ids import slugify
from feeder.text import clean_text

__all__ = ["check_id", "normalise_tags", "slug_taken", "unique_slug", "unique_uid"]


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
    uid = clean_text(value).strip()
    if not uid or any(ch.isspace() for ch in uid) or ":" not in uid:
        raise InputError(f"id: {value!r} is not a URI; use e.g. 'tag:example.org,2026:/post/1'")
    return uid


def normalise_tags(names: Iterable[str]) -> list[tuple[str, str]]:
    """Sorted ``(slug, name)`` pairs, one per slug (the first name given wins)."""
    pairs: dict[str, str] = {}
    for raw in names:
        name = " ".join(clean_text(raw).split())
        slug = slugify(name, max_length=100)
        if not slug:
            raise InputError(f"tag: {raw!r} has no letters or digits; use a word like 'python'")
        pairs.setdefault(slug, name)
    return sorted(pairs.items())
