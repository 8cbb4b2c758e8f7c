"""What an article's content gives, derived once when feeder writes it, and stored.

Three values go with each article's content (migration 0007), computed by the
write path (feeder._write) and used by builds (feeder._records.entry_of):

- ``word_count``: the words of its visible text, which its page shows with the
  reading time. Counting walks the whole HTML: per page it cost more than
  rendering the page did.
- ``content_hash``: the hash of the content the count was made from. A stored
  count is used only while this still matches the content, so a program that
  changes the content behind feeder's back (an UPDATE by hand, a sync script)
  cannot keep a stale count valid: its row is counted again when published.
- ``content_seal``: a keyed hash of the content hash and of the sanitiser,
  present only when feeder's sanitiser wrote the content and sanitising it
  again changes nothing. A build publishes sealed content as stored; anything
  else is sanitised again on its way out, as every row used to be.

Why a seal is safe to trust: it binds the exact content (through its hash)
and the sanitiser's version and settings, and it is keyed with the site's
secret (``state.seal_key``), which only feeder's write path uses. A program
that changes the content cannot keep the seal valid; one that copies a sealed
row copies content feeder did sanitise; one that writes a seal of its own
would have to read the secret and reimplement this scheme on purpose — keep
other programs' database roles away from the ``state`` table if that is a
concern. A newer nh3 or new sanitiser rules, or another ``allow_iframes``,
make every old seal invalid, so such content is sanitised again when
published. Rows written before migration 0007 have no seal (and keep being
sanitised when published) but do get their word counts from the migration.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import NamedTuple

from feeder._content import SANITISER, sanitize_html, word_count

__all__ = [
    "Derived",
    "Sealer",
    "Stored",
    "content_hash",
    "derive",
    "derive_sanitised",
    "stored",
    "values",
]


def content_hash(content: str) -> str:
    """The hash stored beside what was derived from ``content`` (any str, even one with
    lone surrogates from undecodable bytes)."""
    return hashlib.blake2b(content.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Sealer:
    """Makes and checks content seals for one site and one sanitiser setting."""

    key: bytes
    allow_iframes: bool

    @classmethod
    def of(cls, key: str | None, *, allow_iframes: bool) -> Sealer | None:
        """The sealer for the stored secret ``key`` (None when there is none: no seals)."""
        if not key:
            return None
        return cls(hashlib.blake2b(key.encode(), digest_size=32).digest(), allow_iframes)

    def seal(self, digest: str) -> str:
        """The seal of content whose :func:`content_hash` is ``digest``."""
        message = f"{SANITISER}\0{self.allow_iframes}\0{digest}".encode()
        return hashlib.blake2b(message, key=self.key, digest_size=16).hexdigest()

    def holds(self, digest: str, seal: object) -> bool:
        return isinstance(seal, str) and hmac.compare_digest(self.seal(digest), seal)


class Derived(NamedTuple):
    """What the write path stores with sanitised content."""

    words: int
    settled: bool  # sanitising it again changes nothing: it may be sealed


def derive(html: str, *, allow_iframes: bool) -> Derived:
    """The word count of stored ``html`` as published, and whether it may be sealed (it
    is what the sanitiser gives for it: another program may have written it)."""
    again = sanitize_html(html, allow_iframes=allow_iframes)
    return Derived(word_count(again), again == html)


def derive_sanitised(html: str) -> Derived:
    """What the write path stores with ``html`` it has just sanitised: sanitising
    sanitised HTML changes nothing (tests/test_content.py and test_derived.py hold
    sanitize_html to that), so it may be sealed without a second pass."""
    return Derived(word_count(html), True)


def values(html: str, derived: Derived, sealer: Sealer | None) -> tuple[int, str, str | None]:
    """``(word_count, content_hash, content_seal)`` to store with ``html``."""
    digest = content_hash(html)
    seal = sealer.seal(digest) if sealer is not None and derived.settled else None
    return derived.words, digest, seal


class Stored(NamedTuple):
    """What a build may take from a stored row instead of deriving it again."""

    sealed: bool  # the content is published as stored, without sanitising it again
    words: int | None  # None: count the words again


NOTHING = Stored(False, None)


def stored(
    content: object, digest: object, words: object, seal: object, sealer: Sealer | None
) -> Stored:
    """Which of a row's stored values still hold for its content (each checked, none trusted)."""
    if not isinstance(content, str) or not isinstance(digest, str):
        return NOTHING
    actual = content_hash(content)
    if actual != digest:
        return NOTHING  # the content changed since: a stale count, and no seal
    count = words if type(words) is int and words >= 0 else None
    return Stored(sealer is not None and sealer.holds(actual, seal), count)
