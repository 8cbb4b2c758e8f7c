"""The one way an article is written: intents, checked once, applied in batches.

``feeder add``, ``feeder edit``, ``feeder delete``, the Python API and every
import produce :class:`Intent` values; :func:`write` applies a stream of
them. The rules live here once:

- every field is checked by feeder._fields, content is sanitised once (again
  only if the article's URL turns out different from the one guessed, since
  relative links are resolved against it);
- an ``add`` never touches an existing article (a taken slug or id is a
  conflict), an ``upsert`` (an import) matches a stored article by id, else by
  slug, and leaves it alone when nothing a reader sees changed, an ``edit``
  changes the given fields of the article with that slug, a ``delete``
  removes it and keeps a removal so its page goes with the next build, and
  a tombstone (the feeds it was in, a comment) when it had been published;
  a ``purge`` removes an article, or what is left of a deleted one, for good:
  every removal of its id goes, and no tombstone is left;
- ids are minted once (``tag:`` URIs) and never reused, not even after a
  deletion (only after a purge); slugs derived from titles get ``-2``,
  ``-3``... when taken; an article added with the id of a deleted one brings
  it back, and its tombstone leaves the feeds;
- ``updated_at`` moves only when something a reader sees changed; the site's
  revision moves once per transaction that writes anything;
- media files given as local paths are copied into the site's media store
  before their article is written (never in a dry run): feeder._media.

A batch is looked up with one query, decided in memory and written by
:meth:`db.Writer.apply` with a few statements, so a one-article ``add`` and a
100,000-article import take the same path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, NamedTuple

from db import (
    ArticleValues,
    Clash,
    EpisodeValues,
    MediaValues,
    PersonValues,
    StoredArticle,
    WritePlan,
    Writer,
)
from feeder import _media
from feeder._content import derive_summary, sanitize_html
from feeder._derived import Derived, Sealer, derive, derive_sanitised
from feeder._derived import values as derived_values
from feeder._fields import (
    article_link,
    check_content_size,
    check_id,
    check_text,
    check_title,
    fits,
    normalise_tags,
    parse_when,
    person,
)
from feeder._ids import check_slug, mint_tag_uri, slugify
from feeder._records import RowProblem, article_path, readable
from feeder._text import clean_text
from feeder._tombstones import COMMENT_MAX
from feeder.config import Config
from feeder.entries import Media, Person
from feeder.errors import ConflictError, FeederError, InputError, NotFoundError

__all__ = [
    "UNSET",
    "Change",
    "Counts",
    "Intent",
    "Kind",
    "MediaFields",
    "MediaInput",
    "add_intent",
    "delete_intent",
    "edit_intent",
    "import_intent",
    "purge_intent",
    "write",
]

Kind = Literal["add", "upsert", "edit", "delete", "purge"]
#: A media file as a writer gives it: a URL or a path, alone or with its type and length.
MediaInput = Media | str | os.PathLike[str]


class _Unset:
    """A field an edit leaves as it is (pickled by name: intents cross processes)."""

    def __repr__(self) -> str:
        return "UNSET"

    def __reduce__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


UNSET: Any = _Unset()


class Intent(NamedTuple):
    """One article to add, import, edit or delete, its fields already checked.

    (A named tuple, not a frozen dataclass: bulk imports make one per article,
    and a frozen dataclass takes several times longer to build.) In an edit,
    a field that is :data:`UNSET` keeps its stored value.
    """

    kind: Kind
    origin: str  # prefixes error messages ("" for the API and the CLI)
    target: str | None  # edit, delete: the slug of the article to change
    title: str
    slug: str | None  # as given (None: derived from the title)
    slug_base: str  # derived from the title when no slug is given, else ""
    link: str | None
    summary: str  # as given ("": derived from the content)
    content: str  # sanitised, relative URLs resolved against ``url``
    source: str  # the content as given
    url: str  # what relative URLs in ``content`` were resolved against
    author: Person | None
    author_in_full: bool  # email/uri given: they replace the stored ones
    tags: tuple[tuple[str, str], ...]  # (slug, name) pairs
    published: datetime | None  # None: now (add, upsert) or as stored
    updated: datetime | None
    uid: str | None
    #: Media files (enclosures, transcripts, chapters) in stored order. An edit
    #: replaces those of the roles in ``media_roles`` and keeps the others.
    media: tuple[MediaValues, ...] = ()
    media_roles: frozenset[str] = frozenset(_media.ROLES)
    #: Episode fields (None: none). An edit changes only those in ``episode_fields``.
    episode: EpisodeValues | None = None
    episode_fields: frozenset[str] = frozenset(("duration", "number", "season", "episode_type"))
    #: Local files to copy into the media store before the article is written.
    files: tuple[_media.LocalFile, ...] = ()
    comment: str | None = None  # delete: why, for the tombstone's readers
    derived: Derived | None = None  # what ``content`` gives (computed where it was sanitised)


@lru_cache(maxsize=4096)  # bulk imports repeat the same few tag lists
def _tags_of(tags: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    return tuple(normalise_tags(tags))


def _summary(value: str | None) -> str:
    return clean_text(check_text(value, "summary")).strip() if value else ""


def _sanitised(html: str, url: str | None, config: Config) -> str:
    return sanitize_html(html, base_url=url, allow_iframes=config.content.allow_iframes)


def _url(config: Config, slug: str, link: str | None) -> str:
    return link or config.url(article_path(slug))


def _new(
    kind: Kind,
    config: Config,
    *,
    origin: str,
    title: str,
    slug: str | None,
    link: str | None,
    summary: str | None,
    content: str,
    author: str | Person | None,
    tags: Iterable[str],
    published: str | datetime | None,
    updated: str | datetime | None,
    uid: str | None,
    media: MediaFields | None = None,
) -> Intent:
    title = check_title(title, config.content.max_title_chars)
    check_content_size(content, config.content)
    given_slug = check_slug(slug) if slug else None
    checked_link = article_link(link) if link else None
    zone = config.zone
    when = parse_when(published, "published", zone) if published else None
    updated_at = parse_when(updated, "updated", zone) if updated else None
    person_, in_full = person(author, config.author) if author else (None, False)
    slug_base = "" if given_slug else slugify(title) or "article"
    url = _url(config, given_slug or slug_base, checked_link)
    html = _sanitised(content, url, config)
    given = media or MediaFields()
    values, files = _media.all_media(
        given.enclosures, given.transcripts, given.chapters, given.base, paths=given.paths
    )
    derived = derive_sanitised(html)
    return Intent(
        kind=kind,
        origin=origin,
        target=None,
        title=title,
        slug=given_slug,
        slug_base=slug_base,
        link=checked_link,
        summary=_summary(summary) or derive_summary(html),
        content=html,
        source=content,
        url=url,
        author=person_,
        author_in_full=in_full,
        tags=_tags_of(tuple(tags)),
        published=when,
        updated=updated_at,
        uid=uid,
        media=values,
        episode=_media.episode_values(given.duration, given.number, given.season, given.type),
        files=files,
        derived=derived,
    )


@dataclass(frozen=True)
class MediaFields:
    """The media files and episode fields of an article, as a writer gives them (unchecked).

    ``base``: what relative paths are relative to (the input file's directory);
    ``paths``: whether local paths may be given (not by another publisher's feed).
    """

    enclosures: Sequence[MediaInput] = ()
    transcripts: Sequence[MediaInput] = ()
    chapters: MediaInput | None = None
    duration: object = None
    number: object = None
    season: object = None
    type: object = None
    base: Path | None = None
    paths: bool = True


def add_intent(
    config: Config,
    title: str,
    *,
    slug: str | None = None,
    link: str | None = None,
    summary: str | None = None,
    content: str = "",
    author: str | Person | None = None,
    tags: Iterable[str] = (),
    published: str | datetime | None = None,
    updated: str | datetime | None = None,
    id: str | None = None,
    media: MediaFields | None = None,
) -> Intent:
    """A new article (``feeder add``): a taken slug or id is a conflict."""
    return _new(
        "add",
        config,
        origin="",
        title=title,
        slug=slug,
        link=link,
        summary=summary,
        content=content,
        author=author,
        tags=tags,
        published=published,
        updated=updated,
        uid=check_id(id) if id else None,
        media=media,
    )


def import_intent(
    config: Config,
    *,
    origin: str,
    title: str | None,
    slug: str | None,
    link: str | None,
    summary: str | None,
    content: str,
    author: str | Person | None,
    tags: Iterable[str],
    published: str | datetime | None,
    updated: str | datetime | None,
    id: str | None,
    foreign_id: bool,
    media: MediaFields | None = None,
) -> Intent:
    """An imported article: added, or matched by id (else slug) and updated if it differs."""
    try:
        if not title or not clean_text(title).strip():
            raise InputError("title: missing or empty; give the article a title")
        if id is None:
            uid = None
        elif foreign_id:
            # Another publisher's guid or id: kept as it is, as long as it is one token.
            uid = clean_text(id).strip()
            if not uid or any(ch.isspace() for ch in uid):
                raise InputError(f"id: {id!r} is empty or has spaces; fix the feed's guid/id")
            fits("id", uid)
        else:
            uid = check_id(id)
        return _new(
            "upsert",
            config,
            origin=origin,
            title=title,
            slug=slug,
            link=link,
            summary=summary,
            content=content,
            author=author,
            tags=tags,
            published=published,
            updated=updated,
            uid=uid,
            media=media,
        )
    except InputError as exc:
        raise InputError(f"{origin}: {exc}") from None


def edit_intent(
    config: Config,
    slug: str,
    *,
    title: str = UNSET,
    new_slug: str = UNSET,
    link: str | None = UNSET,
    summary: str | None = UNSET,
    content: str = UNSET,
    author: str | Person | None = UNSET,
    tags: Iterable[str] = UNSET,
    published: str | datetime = UNSET,
    enclosures: Sequence[MediaInput] = UNSET,
    transcripts: Sequence[MediaInput] = UNSET,
    chapters: MediaInput | None = UNSET,
    duration: object = UNSET,
    episode: object = UNSET,
    season: object = UNSET,
    episode_type: object = UNSET,
) -> Intent:
    """Changes to the article ``slug``; fields left UNSET keep their stored values.

    ``enclosures``, ``transcripts`` and ``chapters`` replace the stored ones
    (empty: none); an episode field given as None or "" clears it.
    """
    checked_title = UNSET if title is UNSET else check_title(title, config.content.max_title_chars)
    checked_slug = UNSET if new_slug is UNSET else check_slug(new_slug)
    checked_link = UNSET if link is UNSET else article_link(link) if link else None
    html = source = UNSET
    url = ""
    derived = None
    if content is not UNSET:
        check_content_size(content, config.content)
        # The URL is a guess until the stored article is known (an unchanged link).
        guess = slug if checked_slug is UNSET else checked_slug
        url = _url(config, guess, None if checked_link is UNSET else checked_link)
        source, html = content, _sanitised(content, url, config)
        derived = derive_sanitised(html)
    person_: Any = UNSET
    in_full = False
    if author is not UNSET:
        person_, in_full = person(author, config.author) if author else (None, False)
    checked_summary: Any = UNSET if summary is UNSET else _summary(summary)
    checked_tags: Any = UNSET if tags is UNSET else _tags_of(tuple(tags))
    when: Any = UNSET if published is UNSET else parse_when(published, "published", config.zone)
    roles: dict[str, Sequence[MediaInput]] = {}
    if enclosures is not UNSET:
        roles["enclosure"] = enclosures
    if transcripts is not UNSET:
        roles["transcript"] = transcripts
    if chapters is not UNSET:
        roles["chapters"] = (chapters,) if chapters else ()
    media, files = _media.all_media(
        roles.get("enclosure", ()),
        roles.get("transcript", ()),
        next(iter(roles.get("chapters", ())), None),
    )
    changed = EpisodeValues(
        duration=None if duration is UNSET else _media.parse_duration(duration),
        number=None if episode is UNSET else _media.positive(episode, "episode"),
        season=None if season is UNSET else _media.positive(season, "season"),
        episode_type=None if episode_type is UNSET else _media.episode_type(episode_type),
    )
    given = frozenset(
        name
        for name, value in (
            ("duration", duration),
            ("number", episode),
            ("season", season),
            ("episode_type", episode_type),
        )
        if value is not UNSET
    )
    return Intent(
        kind="edit",
        origin="",
        target=slug,
        title=checked_title,
        slug=checked_slug,
        slug_base="",
        link=checked_link,
        summary=checked_summary,
        content=html,
        source=source,
        url=url,
        author=person_,
        author_in_full=in_full,
        tags=checked_tags,
        published=when,
        updated=None,
        uid=None,
        media=media,
        media_roles=frozenset(roles),
        episode=changed,
        episode_fields=given,
        files=files,
        derived=derived,
    )


def _comment(value: str | None) -> str | None:
    if value is None:
        return None
    comment = clean_text(check_text(value, "comment")).strip()
    if len(comment) > COMMENT_MAX:
        raise InputError(
            f"comment: {len(comment)} characters is over the limit of {COMMENT_MAX}; shorten it"
        )
    return comment or None


def delete_intent(slug: str, *, comment: str | None = None) -> Intent:
    """Delete the article ``slug``; ``comment`` says why, in its tombstone."""
    return Intent(
        "delete", "", slug, UNSET, UNSET, "", UNSET, UNSET, UNSET, UNSET, "", UNSET, False,
        UNSET, UNSET, None, None, comment=_comment(comment),
    )  # fmt: skip


def purge_intent(*, slug: str | None = None, id: str | None = None) -> Intent:
    """Remove for good the article with ``slug`` or ``id`` (if it is still there) and
    every removal of its id, its tombstone included. A slug names the article that
    has it now, else the last one deleted with it."""
    if (slug is None) == (id is None):
        raise InputError("purge: give the slug or the id of the article, one of them")
    uid = None
    if id is not None:
        uid = clean_text(check_text(id, "id")).strip()
        if not uid:
            raise InputError("id: is empty; give the id of the article to purge")
    return Intent(
        "purge", "", slug, UNSET, UNSET, "", UNSET, UNSET, UNSET, UNSET, "", UNSET, False,
        UNSET, UNSET, None, uid,
    )  # fmt: skip


# -- applying intents ---------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One article a write added, updated or deleted."""

    action: Literal["add", "update", "delete", "purge"]
    slug: str
    id: str
    origin: str


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    failures: list[FeederError] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    #: The slug each intent ended at (None: refused), in order.
    slugs: list[str | None] = field(default_factory=list)
    # How many intents of this write derived each slug from their title: the
    # n-th gets "-n", so the same import gets the same slugs every time.
    derived: dict[str, int] = field(default_factory=dict)


@dataclass
class _Current:
    """An article as this batch sees it: stored (``pk`` set) or about to be inserted."""

    pk: int | None
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
    stored_slug: str | None = None  # the slug in the database (None: not stored yet)
    minted: bool = False  # the id was minted here and may need a suffix to be unique
    relink: bool = False  # its tag links must be rewritten
    remedia: bool = False  # its media files and episode fields must be rewritten
    deleted: bool = False
    derived: Derived | None = None  # what ``content`` gives; None: derive it when written

    @classmethod
    def of(cls, record: StoredArticle) -> _Current:
        """A stored article, refused in one line when another program made it unreadable."""
        try:
            fields = readable(record)
        except RowProblem as problem:
            raise InputError(
                f"article {record.slug!r} cannot be read: {problem}; another program wrote "
                "that into the database: correct the value there"
            ) from None
        assert fields.published_at and fields.updated_at and fields.created_at
        return cls(
            pk=record.pk,
            uid=fields.uid,
            slug=fields.slug,
            title=fields.title,
            link=fields.link,
            summary=fields.summary,
            content=fields.content,
            author=fields.author,
            tags=fields.tags,
            published_at=fields.published_at,
            updated_at=fields.updated_at,
            created_at=fields.created_at,
            media=fields.media,
            episode=fields.episode,
            stored_slug=fields.slug,
        )

    def values(self, config: Config, sealer: Sealer | None) -> ArticleValues:
        derived = self.derived or derive(self.content, allow_iframes=config.content.allow_iframes)
        words, digest, seal = derived_values(self.content, derived, sealer)
        return ArticleValues(
            uid=self.uid,
            slug=self.slug,
            title=self.title,
            link=self.link,
            summary=self.summary,
            content=self.content,
            author=self.author.name if self.author else None,
            tags=self.tags,
            published_at=self.published_at,
            updated_at=self.updated_at,
            created_at=self.created_at,
            media=self.media,
            episode=self.episode,
            word_count=words,
            content_hash=digest,
            content_seal=seal,
        )


def _derived_of(item: Intent, content: str) -> Derived | None:
    """What the intent derived, if ``content`` is what it sanitised (None: derive it again)."""
    return item.derived if content is item.content else None


def _tag_slugs(tags: tuple[tuple[str, str], ...]) -> tuple[str, ...]:
    return tuple(slug for slug, _name in tags)


def _edited_media(stored: tuple[MediaValues, ...], item: Intent) -> tuple[MediaValues, ...]:
    """The stored media files with those of the roles the edit gives replaced."""
    if not item.media_roles:
        return stored
    kept = [value for value in stored if value.role not in item.media_roles]
    return _media.in_role_order([*kept, *item.media])


def _edited_episode(stored: EpisodeValues | None, item: Intent) -> EpisodeValues | None:
    """The stored episode fields with those the edit gives replaced."""
    given, changed, old = item.episode_fields, item.episode, stored or EpisodeValues()
    if not given or changed is None:
        return stored
    edited = EpisodeValues(
        duration=changed.duration if "duration" in given else old.duration,
        number=changed.number if "number" in given else old.number,
        season=changed.season if "season" in given else old.season,
        episode_type=changed.episode_type if "episode_type" in given else old.episode_type,
    )
    return None if edited == EpisodeValues() else edited


def _feeds_of(current: _Current) -> tuple[tuple[str, str], ...]:
    """The feeds an article is in: the site's, its tags', its author's."""
    feeds = [("site", ""), *(("tag", slug) for slug in _tag_slugs(current.tags))]
    if current.author is not None:
        feeds.append(("author", current.author.name))
    return tuple(feeds)


class _Batch:
    """Decides what a batch of intents changes, then writes it with one plan."""

    def __init__(
        self, writer: Writer, config: Config, now: datetime, counts: Counts, strict: bool
    ) -> None:
        self.writer = writer
        self.config = config
        self.now = now
        self.counts = counts
        self.strict = strict
        self.plan = WritePlan()
        self.by_uid: dict[str, _Current] = {}
        self.by_slug: dict[str, _Current] = {}
        self.written: dict[int, _Current] = {}  # by id(): an intent may touch one twice
        # Stored rows another program made unreadable, refused when an intent meets them.
        self.unreadable: dict[tuple[str, str], InputError] = {}
        self.pending: list[tuple[Literal["add", "update", "delete", "purge"], _Current, str]] = []
        self.purged: list[Change] = []  # what is left of articles deleted before

    def fail(self, error: FeederError, origin: str) -> None:
        if origin:
            error = type(error)(f"{origin}: {error}")
        if self.strict:
            raise error
        self.counts.failures.append(error)
        self.counts.slugs.append(None)

    def apply(self, items: Sequence[Intent | FeederError]) -> None:
        good = [item for item in items if not isinstance(item, FeederError)]
        wanted = [(item, self._candidate_slug(item)) for item in good]
        uids = {item.uid for item in good if item.uid}
        slugs = {slug for _item, slug in wanted if slug}
        slugs |= {str(item.slug) for item in good if item.kind == "edit" and item.slug}
        for record in self.writer.find(uids, slugs):
            self._remember(record)
        found = iter(wanted)
        for item in items:
            if isinstance(item, FeederError):
                self.fail(item, "")
                continue
            _item, slug = next(found)
            try:
                self._decide(item, slug)
            except (ConflictError, NotFoundError, InputError) as exc:
                self.fail(exc, item.origin)
        self._write()

    def _remember(self, record: StoredArticle) -> None:
        try:
            current = _Current.of(record)
        except InputError as error:
            if isinstance(record.uid, str):
                self.unreadable[("uid", record.uid)] = error
            if isinstance(record.slug, str):
                self.unreadable[("slug", record.slug)] = error
            return
        self.by_uid[current.uid] = current
        self.by_slug[current.slug] = current

    def _lookup(self, key: str, value: str | None) -> _Current | None:
        if value is None:
            return None
        table = self.by_uid if key == "uid" else self.by_slug
        current = table.get(value)
        if current is None:
            error = self.unreadable.get((key, value))
            if error is not None:
                raise error
        return current

    def _candidate_slug(self, item: Intent) -> str | None:
        if item.kind in ("edit", "delete", "purge"):
            return item.target
        if item.slug:
            return item.slug
        seen = self.counts.derived.get(item.slug_base, 0) + 1
        self.counts.derived[item.slug_base] = seen
        return item.slug_base if seen == 1 else f"{item.slug_base}-{seen}"

    def _decide(self, item: Intent, slug: str | None) -> None:
        if item.kind == "delete":
            self._delete(item)
        elif item.kind == "purge":
            self._purge(item)
        elif item.kind == "edit":
            self._edit(item)
        else:
            assert slug is not None
            self._add_or_update(item, slug)

    def _done(
        self, action: Literal["add", "update", "delete"] | None, current: _Current, item: Intent
    ) -> None:
        self.counts.slugs.append(current.slug)
        if action is None:
            self.counts.unchanged += 1
            return
        if action == "add":
            self.counts.added += 1
        elif action == "update":
            self.counts.updated += 1
        else:
            self.counts.deleted += 1
        self.pending.append((action, current, item.origin))
        if action != "delete":
            self.written[id(current)] = current

    def _holder(self, slug: str) -> _Current | None:
        holder = self._lookup("slug", slug)
        return None if holder is None or holder.deleted else holder

    # -- the kinds ----------------------------------------------------------------

    def _delete(self, item: Intent) -> None:
        assert item.target is not None
        current = self._holder(item.target)
        if current is None:
            raise NotFoundError(f"slug: no article {item.target!r}; 'feeder list' shows the slugs")
        self._remove(current)
        if current.pk is not None and current.published_at <= self.now:
            # It was in feeds: they announce its deletion. (A scheduled article was in none.)
            self.plan.tombstones[current.pk] = (item.comment, _feeds_of(current))
        self._done("delete", current, item)

    def _remove(self, current: _Current) -> None:
        current.deleted = True
        self._left(current, (), None)
        if current.pk is not None:
            self.plan.moved.add(current.pk)
        del self.by_slug[current.slug]
        if current.pk is not None:
            self.plan.deleted.append((current.pk, current.uid, current.stored_slug or current.slug))

    def _purge(self, item: Intent) -> None:
        current = (
            self._holder(item.target) if item.target is not None else self._lookup("uid", item.uid)
        )
        if current is not None and not current.deleted:
            self._remove(current)
            self.plan.purged.add(current.uid)
            self._done("delete", current, item)
            self.pending.append(("purge", current, item.origin))
            return
        stored = self.writer.deletion(slug=item.target, uid=item.uid)
        if stored is None:
            what = f"slug {item.target!r}" if item.target is not None else f"id {item.uid!r}"
            field = "slug" if item.target is not None else "id"
            raise NotFoundError(
                f"{field}: no article and no deleted article has the {what}; "
                "'feeder list' and 'feeder list --deleted' show them"
            )
        if not isinstance(stored.uid, str) or not stored.uid:
            raise InputError(
                f"the removal #{stored.pk} has an id that cannot be read ({stored.uid!r}); "
                "another program wrote that into the database: correct the value there"
            )
        slug = stored.slug if isinstance(stored.slug, str) else ""
        self.plan.purged.add(stored.uid)
        self.counts.slugs.append(slug)
        self.purged.append(Change("purge", slug, stored.uid, item.origin))

    def _add_or_update(self, item: Intent, slug: str) -> None:
        if item.kind == "add":
            if item.uid is not None and self._lookup("uid", item.uid) is not None:
                raise ConflictError(f"id: {item.uid!r} is already used by another article")
            match = None
        else:
            match = self._lookup("uid", item.uid) if item.uid else self._holder(slug)
        holder = self._holder(slug)
        if match is None:
            if holder is not None:
                if item.slug and item.kind == "add":
                    raise ConflictError(
                        f"slug: {slug!r} is already used by another article; "
                        "choose another with --slug"
                    )
                if item.slug:
                    raise ConflictError(
                        f"slug: {slug!r} is already used by an article with a different id "
                        f"({holder.uid}); change the slug, or use that article's id"
                    )
                slug = self._free_slug(item.slug_base)
            current = self._insert(item, slug)
            self._done("add", current, item)
            return
        new_slug = item.slug or match.slug
        if new_slug != match.slug and holder is not None and holder is not match:
            raise ConflictError(
                f"slug: {new_slug!r} is already used by an article with a different id "
                f"({holder.uid}); change the slug, or use that article's id"
            )
        published = item.published or match.published_at
        values: dict[str, Any] = {
            "slug": new_slug,
            "title": item.title,
            "link": item.link,
            "summary": item.summary,
            "content": self._content_for(item, new_slug, item.link),
            "author": item.author,
            "tags": item.tags,
            "published_at": published,
            "media": item.media,
            "episode": item.episode,
        }
        if item.updated is not None:
            updated_at = max(item.updated, published)
        else:
            updated_at = max(self.now, published)
        changed = self._changed(match, values, item)
        if not changed and (item.updated is None or updated_at == match.updated_at):
            self._done(None, match, item)
            return
        self._update(match, values, updated_at, item)
        self._done("update", match, item)

    def _edit(self, item: Intent) -> None:
        assert item.target is not None
        match = self._holder(item.target)
        if match is None:
            raise NotFoundError(f"slug: no article {item.target!r}; 'feeder list' shows the slugs")
        new_slug: str = match.slug if item.slug is UNSET else str(item.slug)
        if new_slug != match.slug and self._holder(new_slug) is not None:
            raise ConflictError(f"slug: {new_slug!r} is already used by another article")
        link: str | None = match.link if item.link is UNSET else item.link
        content = match.content
        if item.content is not UNSET:
            content = self._content_for(item, new_slug, link)
        if item.summary is UNSET:
            # A summary derived from the old content follows the new content.
            follows = match.summary == derive_summary(match.content)
            summary = (
                derive_summary(content) if follows and content != match.content else (match.summary)
            )
        else:
            summary = item.summary or derive_summary(content)
        published: datetime = (
            match.published_at if item.published is UNSET else item.published or match.published_at
        )
        values: dict[str, Any] = {
            "slug": new_slug,
            "title": match.title if item.title is UNSET else item.title,
            "link": link,
            "summary": summary,
            "content": content,
            "author": match.author if item.author is UNSET else item.author,
            "tags": match.tags if item.tags is UNSET else item.tags,
            "published_at": published,
            "media": _edited_media(match.media, item),
            "episode": _edited_episode(match.episode, item),
        }
        if not self._changed(match, values, item):
            self._done(None, match, item)
            return
        self._update(match, values, max(self.now, published), item)
        self._done("update", match, item)

    # -- helpers -------------------------------------------------------------------

    def _changed(self, match: _Current, values: dict[str, Any], item: Intent) -> bool:
        for key, value in values.items():
            old = getattr(match, key)
            if key == "tags":
                if _tag_slugs(value) != _tag_slugs(old):
                    return True
            elif key == "author":
                if (value.name if value else None) != (old.name if old else None):
                    return True
                if (
                    value is not None
                    and item.author_in_full
                    and old is not None
                    and ((value.email, value.uri) != (old.email, old.uri))
                ):
                    return True  # the same person with a new email or uri: readers see it
            elif old != value:
                return True
        return False

    def _update(
        self, match: _Current, values: dict[str, Any], updated_at: datetime, item: Intent
    ) -> None:
        if values["slug"] != match.slug:
            del self.by_slug[match.slug]
            self.by_slug[values["slug"]] = match
            if match.stored_slug == match.slug:
                self.plan.renamed.append((match.uid, match.slug))
        match.relink = match.relink or _tag_slugs(values["tags"]) != _tag_slugs(match.tags)
        match.remedia = match.remedia or (values["media"], values["episode"]) != (
            match.media,
            match.episode,
        )
        left = self._left(match, values["tags"], values["author"])
        if match.pk is not None and (left or values["published_at"] != match.published_at):
            self.plan.moved.add(match.pk)  # its archive pages are known by where it was
        if values["content"] != match.content:
            match.derived = _derived_of(item, values["content"])
        for key, value in values.items():
            setattr(match, key, value)
        match.updated_at = updated_at
        self._person(item)

    def _left(
        self, current: _Current, tags: tuple[tuple[str, str], ...], author: Person | None
    ) -> bool:
        """Note the tags and author ``current`` no longer has: their feeds change too.

        True when it leaves any.
        """
        kept = set(_tag_slugs(tags))
        left = {("tag", slug) for slug in _tag_slugs(current.tags) if slug not in kept}
        if current.author is not None and (author is None or author.name != current.author.name):
            left.add(("author", current.author.name))
        self.plan.left.update(left)
        return bool(left)

    def _insert(self, item: Intent, slug: str) -> _Current:
        published = item.published or self.now
        content = self._content_for(item, slug, item.link)
        current = _Current(
            pk=None,
            # A minted id is made unique in _write, with one query for the whole batch.
            uid=item.uid or mint_tag_uri(self.config.authority, self.now, slug),
            minted=item.uid is None,
            slug=slug,
            title=item.title,
            link=item.link,
            summary=item.summary,
            content=content,
            author=item.author,
            tags=item.tags,
            published_at=published,
            updated_at=max(item.updated or published, published),
            created_at=self.now,
            media=item.media,
            episode=item.episode,
            derived=_derived_of(item, content),
        )
        self.by_uid[current.uid] = current
        self.by_slug[current.slug] = current
        self._person(item)
        return current

    def _person(self, item: Intent) -> None:
        if item.author is None or item.author is UNSET:
            return
        details = PersonValues(item.author.name, item.author.email, item.author.uri)
        self.plan.people.setdefault(details.name, details)
        if item.author_in_full:
            self.plan.details[details.name] = details

    def _content_for(self, item: Intent, slug: str, link: str | None) -> str:
        url = _url(self.config, slug, link)
        if url == item.url:
            return item.content
        # The slug or link is not the one guessed when sanitising: resolve relative URLs again.
        return _sanitised(item.source, url, self.config)

    def _free_slug(self, base: str) -> str:
        """``base-2``, ``base-3``...: the first one no article (nor this batch) has."""
        n = 2
        while True:
            candidates = [f"{base}-{k}" for k in range(n, n + 20)]
            taken = self.writer.taken_slugs(candidates)
            for candidate in candidates:
                if candidate not in taken and self._holder(candidate) is None:
                    return candidate
            n += 20

    def _mint_unique(self, new: list[_Current]) -> None:
        """Make minted ids unique among articles and removals (ids are never reused)."""
        if not new:
            return
        taken = self.writer.taken_uids({current.uid for current in new})
        seen: set[str] = set()
        for current in new:
            if current.uid in taken or current.uid in seen:
                base, n = current.uid, 2
                while True:
                    candidates = [f"{base}-{k}" for k in range(n, n + 20)]
                    taken |= self.writer.taken_uids(candidates)
                    free = [c for c in candidates if c not in taken and c not in seen]
                    if free:
                        current.uid = free[0]
                        break
                    n += 20
            seen.add(current.uid)

    def _write(self) -> None:
        written = list(self.written.values())
        new = [current for current in written if current.pk is None]
        self._mint_unique([current for current in new if current.minted])
        sealer = (
            Sealer.of(self.writer.seal_key(), allow_iframes=self.config.content.allow_iframes)
            if written
            else None
        )
        self.plan.inserts = [current.values(self.config, sealer) for current in new]
        self.plan.updates = [
            (current.pk, current.values(self.config, sealer), current.relink)
            for current in written
            if current.pk is not None
        ]
        self.plan.media_changed = {
            current.pk for current in written if current.pk is not None and current.remedia
        }
        self.writer.apply(self.plan, self.now)
        # After writing: a minted id may have had to become unique.
        self.counts.changes.extend(
            Change(action, current.slug, current.uid, origin)
            for action, current, origin in self.pending
        )
        self.counts.changes.extend(self.purged)


def _with_files(
    batch: Sequence[Intent | FeederError], config: Config, strict: bool
) -> Sequence[Intent | FeederError]:
    """``batch`` with the local media files of its intents copied into the media store.

    An intent whose file cannot be stored becomes its error (raised when ``strict``).
    A file stored for an article that is then refused stays in the store: the
    store is content-addressed, so it is only ever reused, never wrong.
    """
    if not any(isinstance(item, Intent) and item.files for item in batch):
        return batch
    kept: list[Intent | FeederError] = []
    for item in batch:
        if isinstance(item, Intent) and item.files:
            try:
                for local in item.files:
                    _media.keep(local, config.media_dir)
            except InputError as exc:
                error = InputError(f"{item.origin}: {exc}") if item.origin else exc
                if strict:
                    raise error from None
                kept.append(error)
                continue
        kept.append(item)
    return kept


def write(
    storage_writer: Callable[..., AbstractContextManager[Writer]],
    config: Config,
    batches: Iterable[Sequence[Intent | FeederError]],
    *,
    now: datetime,
    strict: bool = False,
    dry_run: bool = False,
    counts: Counts | None = None,
    progress: Callable[[int], None] | None = None,
    clash_hint: str = "",
) -> Counts:
    """Apply ``batches`` of intents (errors in the stream count as refused inputs).

    ``storage_writer(commit=...)`` opens a write transaction. Without ``strict``
    a refused intent is counted and skipped, and each batch is its own
    transaction; with ``strict`` everything is one transaction that the first
    refusal aborts. ``dry_run`` does it all in one transaction and rolls it
    back, so the counts say exactly what would happen.
    """
    counts = counts if counts is not None else Counts()
    try:
        if strict or dry_run:
            with storage_writer(commit=not dry_run) as writer:
                for batch in batches:
                    if not dry_run:
                        batch = _with_files(batch, config, strict)
                    _Batch(writer, config, now, counts, strict).apply(batch)
                    if progress is not None:
                        progress(len(batch))
        else:
            for batch in batches:
                # Copied before the transaction, which then holds the write lock only briefly.
                batch = _with_files(batch, config, strict)
                with storage_writer(commit=True) as writer:
                    _Batch(writer, config, now, counts, strict).apply(batch)
                if progress is not None:
                    progress(len(batch))
    except Clash as clash:
        raise ConflictError(
            f"another writer stored a clashing slug or id at the same time: {clash}{clash_hint}"
        ) from None
    return counts
