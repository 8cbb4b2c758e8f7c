"""Importing article drafts: checked, matched to stored articles, written in batches.

An import is idempotent. A draft is matched to a stored article by ``id``,
else by ``slug`` (given, or derived from the title); a match whose visible
fields are all equal is left alone, so importing the same input twice writes
nothing and the feeds keep their bytes. A changed draft updates its article
and its ``updated_at``; the id never changes.

The rules are those of :meth:`feeder.Site.add_article` and ``edit_article``
(ids minted once, ``updated_at`` moves only on a visible change, one revision
bump per transaction, a removal row when a slug changes), applied to a batch
at a time with SQLAlchemy Core: one lookup per batch, ``executemany`` for
inserts and updates. Checking and sanitising the drafts (the costly, pure
part) runs in worker threads while the main thread writes the previous batch;
nh3 and SQLite both release the GIL while they work.

Without ``strict`` a bad draft is reported and skipped and every batch is its
own transaction; with ``strict`` the whole import is one transaction that the
first bad draft aborts. ``dry_run`` does everything in one transaction and
rolls it back, so the report says exactly what would happen.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from itertools import islice
from typing import Any, Literal, NamedTuple

from sqlalchemy import Engine, delete, insert, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.sql.expression import bindparam

from db import queries
from db.bulk import insert_many
from db.engine import for_writing
from db.models import Article as ArticleRow
from db.models import Author, Removal, Tag, article_tags
from feeder._store import (
    article_link,
    check_id,
    fits,
    normalise_tags,
    person,
    unique_slug,
    unique_uid,
)
from feeder.build import article_path
from feeder.config import Config
from feeder.content import derive_summary, sanitize_html
from feeder.entries import Person
from feeder.errors import ConflictError, FeederError, InputError
from feeder.fields import check_text, check_title, parse_when
from feeder.formats import Draft, Pending, Source, resolve
from feeder.formats.jsonl import Line
from feeder.ids import check_slug, mint_tag_uri, slugify
from feeder.text import clean_text
from feeder.workers import WorkerGone, Workers

__all__ = ["BATCH_SIZE", "Change", "ImportReport", "run"]

BATCH_SIZE = 1000
# What an import reads: drafts, input still to parse, and inputs already refused.
Item = Draft | FeederError | Pending
Progress = Callable[[int], None]

_TABLES = ArticleRow.metadata.tables
_ARTICLES = _TABLES[ArticleRow.__tablename__]
_AUTHORS = _TABLES[Author.__tablename__]
_TAGS = _TABLES[Tag.__tablename__]
_REMOVALS = _TABLES[Removal.__tablename__]


@dataclass(frozen=True)
class Change:
    """One article an import added or updated."""

    action: Literal["add", "update"]
    slug: str
    id: str
    origin: str


@dataclass(frozen=True)
class ImportReport:
    """What an import did (or, with ``dry_run``, would do)."""

    added: int
    updated: int
    unchanged: int
    failures: tuple[FeederError, ...]
    changes: tuple[Change, ...]
    dry_run: bool = False

    @property
    def rejected(self) -> int:
        return len(self.failures)

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        """0, or the exit code of the first failure."""
        return self.failures[0].exit_code if self.failures else 0

    def summary(self) -> str:
        text = (
            f"{self.added} added, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.rejected} rejected"
        )
        return text + " (dry run: nothing was written)" if self.dry_run else text


# -- checking drafts (pure, runs in worker threads) ----------------------------------


class _Checked(NamedTuple):
    """A draft whose fields passed every check, content sanitised for ``url``.

    (A named tuple, not a frozen dataclass: bulk imports make one per article,
    and a frozen dataclass takes several times longer to build.)
    """

    draft: Draft
    title: str
    slug: str | None  # as given
    slug_base: str  # derived from the title when no slug is given, else ""
    link: str | None
    summary: str  # as given, or derived from the content
    content: str
    url: str  # what relative URLs in ``content`` were resolved against
    author: Person | None
    author_given_in_full: bool  # email/uri given: they replace the stored ones
    tags: tuple[tuple[str, str], ...]  # (slug, name) pairs
    tag_slugs: tuple[str, ...]
    published: datetime | None
    updated: datetime | None
    uid: str | None


def _check(draft: Draft, config: Config) -> _Checked:
    try:
        return _check_fields(draft, config)
    except InputError as exc:
        raise InputError(f"{draft.origin}: {exc}") from None


def _check_fields(draft: Draft, config: Config) -> _Checked:
    limits = config.content
    if not draft.title or not clean_text(draft.title).strip():
        raise InputError("title: missing or empty; give the article a title")
    title = check_title(draft.title, limits.max_title_chars)
    # Four bytes per character at most: skip encoding when that cannot exceed the limit.
    if len(draft.content) * 4 > limits.max_content_bytes:
        size = len(draft.content.encode("utf-8", "surrogatepass"))
        if size > limits.max_content_bytes:
            raise InputError(
                f"content: {size} bytes is over the limit of {limits.max_content_bytes}; "
                "shorten it or raise content.max_content_bytes in feeder.toml"
            )
    slug = check_slug(draft.slug) if draft.slug else None
    link = article_link(draft.link) if draft.link else None
    zone = config.zone
    published = parse_when(draft.published, "published", zone) if draft.published else None
    updated = parse_when(draft.updated, "updated", zone) if draft.updated else None
    if draft.id is None:
        uid = None
    elif draft.foreign_id:
        uid = clean_text(draft.id).strip()
        if not uid or any(ch.isspace() for ch in uid):
            raise InputError(f"id: {draft.id!r} is empty or has spaces; fix the feed's guid/id")
        fits("id", uid, _ARTICLES.c.uid)
    else:
        uid = check_id(draft.id)
    author, in_full = person(draft.author, config.author) if draft.author else (None, False)
    tags, tag_slugs = _tags_of(draft.tags)
    slug_base = "" if slug else slugify(title) or "article"
    url = link or config.url(article_path(slug or slug_base))
    content = sanitize_html(draft.content, base_url=url, allow_iframes=config.content.allow_iframes)
    summary = clean_text(check_text(draft.summary, "summary")).strip() if draft.summary else ""
    return _Checked(
        draft=draft,
        title=title,
        slug=slug,
        slug_base=slug_base,
        link=link,
        summary=summary or derive_summary(content),
        content=content,
        url=url,
        author=author,
        author_given_in_full=in_full,
        tags=tags,
        tag_slugs=tag_slugs,
        published=published,
        updated=updated,
        uid=uid,
    )


@lru_cache(maxsize=4096)  # bulk imports repeat the same few tag lists
def _tags_of(tags: tuple[str, ...]) -> tuple[tuple[tuple[str, str], ...], tuple[str, ...]]:
    """``(slug, name)`` pairs and the slugs alone."""
    pairs = tuple(normalise_tags(tags))
    return pairs, tuple([slug for slug, _ in pairs])


def check_all(items: Sequence[Item], config: Config) -> list[_Checked | FeederError]:
    """Each item parsed (if it is not yet) and checked, or the error that refuses it."""
    checked: list[_Checked | FeederError] = []
    for item in items:
        if isinstance(item, Source | Line):
            item = resolve(item)
        if isinstance(item, FeederError):
            checked.append(item)
            continue
        try:
            checked.append(_check(item, config))
        except InputError as exc:
            checked.append(exc)
    return checked


# -- writing ---------------------------------------------------------------------------


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
    author: str | None
    tags: tuple[str, ...]  # tag slugs, sorted
    published_at: datetime
    updated_at: datetime
    created_at: datetime
    stored_slug: str | None = None  # the slug in the database (None: not stored yet)
    minted: bool = False  # the id was minted here and may need a suffix to be unique
    tags_dirty: bool = False
    tag_pairs: tuple[tuple[str, str], ...] = ()
    person: Person | None = None


@dataclass
class _Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    failures: list[FeederError] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    # How many drafts of this import derived each slug from their title: the
    # n-th gets "-n", so the same input gets the same slugs every time.
    derived: dict[str, int] = field(default_factory=dict)


class _Batch:
    """Applies checked drafts to one transaction."""

    def __init__(
        self, session: Session, config: Config, now: datetime, counts: _Counts, strict: bool
    ) -> None:
        self.session = session
        self.connection: Connection = session.connection()
        self.config = config
        self.now = now
        self.counts = counts
        self.strict = strict
        self._revision: int | None = None

    def revision(self) -> int:
        """The transaction's revision: the counter moves once, on the first write."""
        if self._revision is None:
            self._revision = queries.bump_revision(self.session)
        return self._revision

    def fail(self, error: FeederError) -> None:
        if self.strict:
            raise error
        self.counts.failures.append(error)

    # The batch: look up, decide in memory, then write with a few statements.
    def apply(self, items: Sequence[_Checked | FeederError]) -> None:
        good: list[_Checked] = []
        for item in items:
            if isinstance(item, FeederError):
                self.fail(item)
            else:
                good.append(item)
        if not good:
            return
        wanted = [(item, self._candidate_slug(item)) for item in good]
        by_uid, by_slug = self._lookup(
            {item.uid for item in good if item.uid}, {slug for _, slug in wanted}
        )
        touched: dict[int, _Current] = {}  # by id(): a draft may touch an article twice
        renamed: list[tuple[str, str]] = []  # (uid, old slug)
        persons: dict[str, Person] = {}
        changes: list[tuple[Literal["add", "update"], _Current, str]] = []
        for item, slug in wanted:
            try:
                current, action = self._decide(item, slug, by_uid, by_slug, renamed)
            except ConflictError as exc:
                self.fail(ConflictError(f"{item.draft.origin}: {exc}"))
                continue
            if item.author is not None and item.author_given_in_full:
                persons[item.author.name] = item.author
            if action == "unchanged":
                self.counts.unchanged += 1
                continue
            if action == "add":
                self.counts.added += 1
            else:
                self.counts.updated += 1
            changes.append((action, current, item.draft.origin))
            touched[id(current)] = current
        self._write(list(touched.values()), renamed, persons)
        # After writing: a minted id may have had to become unique.
        self.counts.changes.extend(
            Change(action, current.slug, current.uid, origin) for action, current, origin in changes
        )

    def _candidate_slug(self, item: _Checked) -> str:
        if item.slug:
            return item.slug
        seen = self.counts.derived.get(item.slug_base, 0) + 1
        self.counts.derived[item.slug_base] = seen
        return item.slug_base if seen == 1 else f"{item.slug_base}-{seen}"

    def _lookup(
        self, uids: set[str], slugs: set[str]
    ) -> tuple[dict[str, _Current], dict[str, _Current]]:
        a = _ARTICLES.c
        rows = self.connection.execute(
            select(
                a.pk,
                a.uid,
                a.slug,
                a.title,
                a.link,
                a.summary,
                a.content,
                _AUTHORS.c.name,
                a.published_at,
                a.updated_at,
                a.created_at,
            )
            .select_from(_ARTICLES.outerjoin(_AUTHORS, a.author_pk == _AUTHORS.c.pk))
            .where(or_(a.uid.in_(uids), a.slug.in_(slugs)))
        ).all()
        tags: dict[int, list[str]] = {row.pk: [] for row in rows}
        if rows:
            for article_pk, slug in self.connection.execute(
                select(article_tags.c.article_pk, _TAGS.c.slug)
                .join(_TAGS, _TAGS.c.pk == article_tags.c.tag_pk)
                .where(article_tags.c.article_pk.in_(list(tags)))
            ):
                tags[article_pk].append(slug)
        by_uid: dict[str, _Current] = {}
        by_slug: dict[str, _Current] = {}
        for row in rows:
            current = _Current(
                pk=row.pk,
                uid=row.uid,
                slug=row.slug,
                title=row.title,
                link=row.link,
                summary=row.summary,
                content=row.content,
                author=row.name,
                tags=tuple(sorted(tags[row.pk])),
                published_at=row.published_at,
                updated_at=row.updated_at,
                created_at=row.created_at,
                stored_slug=row.slug,
            )
            by_uid[current.uid] = current
            by_slug[current.slug] = current
        return by_uid, by_slug

    def _decide(
        self,
        item: _Checked,
        slug: str,
        by_uid: dict[str, _Current],
        by_slug: dict[str, _Current],
        renamed: list[tuple[str, str]],
    ) -> tuple[_Current, Literal["add", "update", "unchanged"]]:
        match = by_uid.get(item.uid) if item.uid else by_slug.get(slug)
        holder = by_slug.get(slug)
        if match is None:
            if holder is not None:
                if item.slug:
                    raise ConflictError(
                        f"slug: {slug!r} is already used by an article with a different id "
                        f"({holder.uid}); change the slug, or use that article's id"
                    )
                slug = unique_slug(self.session, item.slug_base, reserved=by_slug)
            current = self._new(item, slug)
            by_uid[current.uid] = current
            by_slug[current.slug] = current
            return current, "add"
        new_slug = item.slug or match.slug
        if new_slug != match.slug and holder is not None and holder is not match:
            raise ConflictError(
                f"slug: {new_slug!r} is already used by an article with a different id "
                f"({holder.uid}); change the slug, or use that article's id"
            )
        values: dict[str, Any] = {
            "slug": new_slug,
            "title": item.title,
            "link": item.link,
            "summary": item.summary,
            "content": self._content_for(item, new_slug),
            "author": item.author.name if item.author else None,
            "tags": item.tag_slugs,
            "published_at": item.published or match.published_at,
        }
        changed = any(getattr(match, key) != value for key, value in values.items())
        if item.updated is not None:
            updated_at = max(item.updated, values["published_at"])
        else:
            updated_at = max(self.now, values["published_at"])
        if not changed and (item.updated is None or updated_at == match.updated_at):
            return match, "unchanged"
        if values["slug"] != match.slug:
            del by_slug[match.slug]
            by_slug[values["slug"]] = match
            if match.stored_slug == match.slug:
                renamed.append((match.uid, match.slug))
        match.tags_dirty = match.tags_dirty or values["tags"] != match.tags
        for key, value in values.items():
            setattr(match, key, value)
        match.updated_at = updated_at
        match.tag_pairs = item.tags
        match.person = item.author
        return match, "update"

    def _new(self, item: _Checked, slug: str) -> _Current:
        published = item.published or self.now
        return _Current(
            pk=None,
            # A minted id is made unique in _write, with one query for the whole batch.
            uid=item.uid or mint_tag_uri(self.config.authority, self.now, slug),
            minted=item.uid is None,
            slug=slug,
            title=item.title,
            link=item.link,
            summary=item.summary,
            content=self._content_for(item, slug),
            author=item.author.name if item.author else None,
            tags=item.tag_slugs,
            published_at=published,
            updated_at=max(item.updated or published, published),
            created_at=self.now,
            tags_dirty=bool(item.tags),
            tag_pairs=item.tags,
            person=item.author,
        )

    def _content_for(self, item: _Checked, slug: str) -> str:
        url = item.link or self.config.url(article_path(slug))
        if url == item.url:
            return item.content
        # The slug was not the one guessed when sanitising: resolve relative URLs again.
        return sanitize_html(
            item.draft.content, base_url=url, allow_iframes=self.config.content.allow_iframes
        )

    def _write(
        self, touched: list[_Current], renamed: list[tuple[str, str]], persons: dict[str, Person]
    ) -> None:
        author_pks = self._authors(touched, persons)
        if not touched and not persons:
            return
        revision = self.revision()
        new = [current for current in touched if current.pk is None]
        old = [current for current in touched if current.pk is not None]
        self._mint_unique([current for current in new if current.minted])
        if renamed:
            self.connection.execute(
                insert(_REMOVALS),
                [
                    {
                        "uid": uid,
                        "slug": slug,
                        "removed_at": self.now,
                        "revision": revision,
                        "deleted": False,
                    }
                    for uid, slug in renamed
                ],
            )
        if old:
            self.connection.execute(
                update(_ARTICLES).where(_ARTICLES.c.pk == bindparam("b_pk")),
                [
                    {"b_pk": current.pk, **_columns(current, author_pks, revision)}
                    for current in old
                ],
            )
        if new:
            insert_many(
                self.connection,
                _ARTICLES,
                _INSERTED,
                [_columns(current, author_pks, revision) | {"uid": current.uid} for current in new],
            )
            pks = dict(
                self.connection.execute(
                    select(_ARTICLES.c.uid, _ARTICLES.c.pk).where(
                        _ARTICLES.c.uid.in_([current.uid for current in new])
                    )
                ).all()
            )
            for current in new:
                current.pk = pks[current.uid]
        self._link_tags([current for current in touched if current.tags_dirty])

    def _mint_unique(self, new: list[_Current]) -> None:
        """Make minted ids unique among articles and removals (ids are never reused)."""
        if not new:
            return
        minted = {current.uid for current in new}
        taken = set(
            self.connection.execute(
                select(_ARTICLES.c.uid).where(_ARTICLES.c.uid.in_(minted))
            ).scalars()
        ) | set(
            self.connection.execute(
                select(_REMOVALS.c.uid).where(_REMOVALS.c.uid.in_(minted))
            ).scalars()
        )
        seen: set[str] = set()
        for current in new:
            if current.uid in taken or current.uid in seen:
                current.uid = unique_uid(self.session, current.uid, reserved=seen | taken)
            seen.add(current.uid)

    def _authors(self, touched: list[_Current], persons: dict[str, Person]) -> dict[str, int]:
        """Author pks by name, creating missing authors; full details replace stored ones."""
        wanted = {c.person.name: c.person for c in touched if c.person is not None}
        wanted.update(persons)
        if not wanted:
            return {}
        au = _AUTHORS.c
        stored = {
            row.name: row
            for row in self.connection.execute(
                select(au.pk, au.name, au.email, au.uri).where(au.name.in_(list(wanted)))
            )
        }
        missing = [person for name, person in wanted.items() if name not in stored]
        stale = [
            person
            for name, person in persons.items()
            if name in stored
            and (person.email, person.uri) != (stored[name].email, stored[name].uri)
        ]
        if missing or stale:
            self.revision()
        if missing:
            self.connection.execute(
                insert(_AUTHORS),
                [{"name": p.name, "email": p.email, "uri": p.uri} for p in missing],
            )
        if stale:
            self.connection.execute(
                update(_AUTHORS).where(au.name == bindparam("b_name")),
                [{"b_name": p.name, "email": p.email, "uri": p.uri} for p in stale],
            )
        return dict(
            self.connection.execute(select(au.name, au.pk).where(au.name.in_(list(wanted)))).all()
        )

    def _link_tags(self, changed: list[_Current]) -> None:
        if not changed:
            return
        names = {slug: name for current in changed for slug, name in current.tag_pairs}
        pks: dict[str, int] = {}
        if names:
            pks = dict(
                self.connection.execute(
                    select(_TAGS.c.slug, _TAGS.c.pk).where(_TAGS.c.slug.in_(list(names)))
                ).all()
            )
            missing = [{"slug": s, "name": n} for s, n in sorted(names.items()) if s not in pks]
            if missing:
                self.connection.execute(insert(_TAGS), missing)
                pks.update(
                    self.connection.execute(
                        select(_TAGS.c.slug, _TAGS.c.pk).where(
                            _TAGS.c.slug.in_([row["slug"] for row in missing])
                        )
                    ).all()
                )
        stored = [current.pk for current in changed if current.stored_slug is not None]
        if stored:
            self.connection.execute(
                delete(article_tags).where(article_tags.c.article_pk.in_(stored))
            )
        links = [
            {"article_pk": current.pk, "tag_pk": pks[slug]}
            for current in changed
            for slug in current.tags
        ]
        if links:
            insert_many(self.connection, article_tags, ("article_pk", "tag_pk"), links)


# What _columns() gives, plus the id: every column of a new article but its pk.
_INSERTED = (
    "uid",
    "slug",
    "title",
    "link",
    "summary",
    "content",
    "author_pk",
    "published_at",
    "updated_at",
    "created_at",
    "revision",
)


def _columns(current: _Current, author_pks: dict[str, int], revision: int) -> dict[str, Any]:
    return {
        "slug": current.slug,
        "title": current.title,
        "link": current.link,
        "summary": current.summary,
        "content": current.content,
        "author_pk": author_pks[current.author] if current.author else None,
        "published_at": current.published_at,
        "updated_at": current.updated_at,
        "created_at": current.created_at,
        "revision": revision,
    }


# -- running an import -------------------------------------------------------------------


@contextmanager
def _transaction(engine: Engine, *, commit: bool) -> Iterator[Session]:
    """A write transaction that commits only if ``commit`` (a dry run rolls back)."""
    with Session(for_writing(engine), expire_on_commit=False) as session:
        transaction = session.begin()
        try:
            yield session
            if commit:
                transaction.commit()
            else:
                transaction.rollback()
        except IntegrityError as error:
            transaction.rollback()
            raise ConflictError(
                f"another writer stored a clashing slug or id at the same time "
                f"({error.orig}); run the import again"
            ) from None
        except BaseException:
            transaction.rollback()
            raise


def _batches(items: Iterable[Item], size: int) -> Iterator[list[Item]]:
    iterator = iter(items)
    while batch := list(islice(iterator, size)):
        yield batch


def _checked_batches(
    items: Iterable[Item], config: Config, size: int, processes: int | None = None
) -> Generator[list[_Checked | FeederError]]:
    """Checked batches, in input order, checked ahead of the writer.

    The first batch is checked in a thread; from the second on (a bulk import),
    by ``processes`` worker processes (default: one per CPU, at most four; none
    on a single CPU), so that checking does not compete with the writer for
    the interpreter.
    """
    cpus = os.cpu_count() or 1
    # On one CPU a worker process would only take turns with the writer.
    count = (min(4, cpus) if cpus > 1 else 0) if processes is None else processes
    workers: Workers | None = None

    def check(batch: list[Item]) -> list[_Checked | FeederError]:
        if workers is not None:
            try:
                result: list[_Checked | FeederError] = workers.run(batch)
                return result
            except WorkerGone:
                pass
        return check_all(batch, config)

    with ThreadPoolExecutor(max(1, count), thread_name_prefix="feeder-import") as pool:
        pending: deque[Future[list[_Checked | FeederError]]] = deque()
        try:
            for n, batch in enumerate(_batches(items, size)):
                if n == 1 and count > 0:
                    workers = Workers(f"{__name__}:check_all", config, count)
                pending.append(pool.submit(check, batch))
                if len(pending) > max(1, count):
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)
            if workers is not None:
                workers.close()


def run(
    engine: Engine,
    config: Config,
    drafts: Iterable[Item],
    *,
    now: datetime,
    strict: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    batch_size: int = BATCH_SIZE,
    processes: int | None = None,
) -> ImportReport:
    """Import ``drafts`` (errors in the stream count as rejected inputs).

    ``processes`` worker processes check drafts beyond the first batch (default:
    one per CPU, at most four, none on a single CPU; 0: check in a thread here).
    """
    counts = _Counts()
    with closing(_checked_batches(drafts, config, batch_size, processes)) as batches:
        _apply_all(
            engine,
            config,
            batches,
            counts,
            now=now,
            strict=strict,
            dry_run=dry_run,
            progress=progress,
        )
    return ImportReport(
        added=counts.added,
        updated=counts.updated,
        unchanged=counts.unchanged,
        failures=tuple(counts.failures),
        changes=tuple(counts.changes),
        dry_run=dry_run,
    )


def _apply_all(
    engine: Engine,
    config: Config,
    batches: Iterable[list[_Checked | FeederError]],
    counts: _Counts,
    *,
    now: datetime,
    strict: bool,
    dry_run: bool,
    progress: Progress | None,
) -> None:
    if strict or dry_run:
        with _transaction(engine, commit=not dry_run) as session:
            writer = _Batch(session, config, now, counts, strict)
            for batch in batches:
                writer.apply(batch)
                if progress is not None:
                    progress(len(batch))
    else:
        for batch in batches:
            with _transaction(engine, commit=True) as session:
                _Batch(session, config, now, counts, strict).apply(batch)
            if progress is not None:
                progress(len(batch))
