"""Names that must stay put: tag: URIs (RFC 4151) and slugs."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from feeder.errors import InputError

__all__ = [
    "EMAIL",
    "SLUG_MAX",
    "check_authority",
    "check_slug",
    "is_safe_slug",
    "mint_tag_uri",
    "slugify",
]

SLUG_MAX = 80
_SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{0,198}[a-z0-9])?$")
_DNS = re.compile(
    r"^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$",
    re.IGNORECASE,
)
# An email address as feeds carry it (a tag: authority may be one, RFC 4151).
EMAIL = re.compile(r"^[^@\s<>\"]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")


def slugify(text: str, max_length: int = SLUG_MAX) -> str:
    """An ASCII, lowercase, hyphenated slug for ``text`` ("" when nothing is left)."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    if len(slug) > max_length:
        slug = (
            slug[:max_length].rsplit("-", 1)[0] if "-" in slug[:max_length] else slug[:max_length]
        )
    return slug.strip("-")


def is_safe_slug(slug: str) -> bool:
    """Whether ``slug`` can name a file: the slug pattern, no '/', '..', leading dot or NUL."""
    return len(slug) <= 200 and _SLUG.fullmatch(slug) is not None and ".." not in slug


def check_slug(slug: str) -> str:
    if not is_safe_slug(slug):
        if any("\ud800" <= ch <= "\udfff" for ch in slug):
            raise InputError("slug: is not valid UTF-8 text; use e.g. 'my-first-post'")
        raise InputError(
            f"slug: {slug!r} is not valid; use lowercase letters, digits and '-', '_' or '.' "
            "inside (e.g. 'my-first-post')"
        )
    return slug


def check_authority(authority: str) -> str:
    """A tag: URI authority is a DNS name or an email address (RFC 4151 section 2.1)."""
    ip_like = authority.replace(".", "").isdigit()
    if ip_like or not (_DNS.match(authority) or EMAIL.match(authority)):
        raise ValueError(f"{authority!r} is not a domain name or email address")
    return authority.lower()


def mint_tag_uri(authority: str, created: datetime, slug: str) -> str:
    """``tag:{authority},{YYYY-MM-DD}:/articles/{slug}``: minted once, never recomputed."""
    return f"tag:{authority},{created.date().isoformat()}:/articles/{slug}"
