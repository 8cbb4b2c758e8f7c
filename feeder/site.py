"""The Python API: one :class:`Site` per feeder.toml, every CLI command is a method.

>>> from feeder import Site
>>> with Site.open("feeder.toml") as site:
...     article = site.add_article("Hello", content="<p>First post.</p>")
...     site.build()

Every write runs in one transaction that also advances the site's revision
counter, so a publisher can tell "something changed" from one row.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from sqlalchemy import Engine, select
from sqlalchemy.exc import DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from db import migrate, queries
from db.engine import create as create_engine
from db.engine import database_file, read_session, write_session
from db.models import Article as ArticleRow
from db.models import Author, Removal, Tag
from feeder import config as _config
from feeder import feedimport, importer, sources
from feeder._store import article_link as _article_link
from feeder._store import check_id as _check_id
from feeder._store import normalise_tags as _normalise_tags
from feeder._store import person as _person
from feeder._store import slug_taken as _slug_taken
from feeder._store import unique_slug as _unique_slug
from feeder._store import unique_uid as _unique_uid
from feeder.articles import Article
from feeder.build import BuildReport, article_path, run_build
from feeder.config import Config
from feeder.content import derive_summary, sanitize_html
from feeder.entries import Person
from feeder.errors import ConflictError, InputError, NotFoundError, StorageError
from feeder.fields import check_text, check_title, parse_when
from feeder.ids import check_slug, mint_tag_uri, slugify
from feeder.text import clean_text

__all__ = ["Clock", "Site", "SiteStatus", "utc_now"]

Clock = Callable[[], datetime]
log = logging.getLogger(__name__)
_UNSET: Any = object()
Status = Literal["all", "published", "scheduled"]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class SiteStatus:
    """What ``feeder status`` reports, read from the database."""

    revision: int
    built_revision: int
    built_at: datetime | None
    build_seconds: float | None
    build_result: str | None
    last_error: str | None
    last_error_at: datetime | None
    daemon_pid: int | None
    daemon_host: str | None
    daemon_heartbeat: datetime | None
    next_scheduled: datetime | None
    articles: int


_CONFIG_TEMPLATE = """\
# feeder site settings. Every key is optional except where noted.
title = {title}
description = {description}
# Public address of the output directory; feed self links and article URLs use it.
base_url = {base_url}
language = "en"
# Authority for permanent article ids (tag: URIs); defaults to base_url's host.
# Set it once and never change it.
id_authority = {authority}
output_dir = "public"
max_items = 50
# database_url = "postgresql+psycopg://user@host/dbname"  (default: feeder.db here)

[author]
name = {author}
# email = "you@example.org"

[schedule]
poll_interval = 2        # seconds between checks for changes
rebuild_interval = 3600  # seconds between full rebuilds

[server]
host = "127.0.0.1"
port = 8080
"""


def _toml_string(value: str) -> str:
    """``value`` as a TOML basic string: backslash, quote and control characters escaped."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _TOML_CONTROL.sub(lambda m: f"\\u{ord(m.group()):04x}", escaped) + '"'


# What a TOML basic string may not hold as it is (tab may stay).
_TOML_CONTROL = re.compile("[\x00-\x08\x0a-\x1f\x7f]")


class Site:
    """A site: its settings and its database. Use :meth:`open` or :meth:`init`."""

    def __init__(self, config: Config, engine: Engine, clock: Clock = utc_now) -> None:
        self.config = config
        self.engine = engine
        self._clock = clock

    # -- opening -------------------------------------------------------------

    @classmethod
    def open(
        cls,
        config: Config | str | os.PathLike[str] | None = None,
        *,
        database_url: str | None = None,
        clock: Clock = utc_now,
        create: bool = False,
    ) -> Site:
        """Open the site described by ``config`` (a Config or a path to feeder.toml).

        The database schema is upgraded to this version of feeder if needed. A
        database that does not exist, or holds no feeder site, is refused with a
        :class:`StorageError` (only :meth:`init`, or ``create=True``, makes one):
        a moved or mistyped database must not quietly become an empty site.
        """
        if not isinstance(config, Config):
            config = _config.load(config, overrides={"database_url": database_url})
        elif database_url:
            config = _config.load(
                config.root / _config.CONFIG_NAME,
                must_exist=False,
                overrides={"database_url": database_url},
            )
        engine = open_database(config.database_url, create=create)
        try:
            _prepare_database(engine, clock(), create=create)
        except DBAPIError as exc:
            engine.dispose()
            raise storage_error(exc) from exc
        except Exception:
            engine.dispose()
            raise
        if create:
            # Made; from now on a missing file is an error, as for every other opener.
            engine.dispose()
            engine = open_database(config.database_url, create=False)
        return cls(config, engine, clock)

    @classmethod
    def init(
        cls,
        directory: str | os.PathLike[str] = ".",
        *,
        title: str = "My feeder site",
        base_url: str = "http://127.0.0.1:8080/",
        author: str | None = None,
        id_authority: str | None = None,
        database_url: str | None = None,
        clock: Clock = utc_now,
    ) -> Site:
        """Create ``directory``/feeder.toml (kept if present) and the database."""
        root = Path(directory)
        root.mkdir(parents=True, exist_ok=True)
        path = root / _config.CONFIG_NAME
        if not path.exists():
            # Validate the settings first, so a bad flag is named and leaves nothing behind.
            _config.load(
                path,
                environ={},
                must_exist=False,
                overrides={
                    "title": title,
                    "base_url": base_url,
                    "id_authority": id_authority,
                    "author.name": author,
                },
            )
            text = _CONFIG_TEMPLATE.format(
                title=_toml_string(title),
                description=_toml_string(f"Latest articles from {title}"),
                base_url=_toml_string(base_url),
                authority=_toml_string(id_authority or Config(base_url=base_url).authority),
                author=_toml_string(author or title),
            )
            temp = root / f".{_config.CONFIG_NAME}.new"
            temp.write_text(text, encoding="utf-8")
            try:
                _config.load(temp, environ={})
            except Exception:
                temp.unlink()
                raise
            temp.replace(path)
        return cls.open(path, database_url=database_url, clock=clock, create=True)

    def close(self) -> None:
        self.engine.dispose()

    def __enter__(self) -> Site:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def now(self) -> datetime:
        """The clock, in whole seconds: feed dates carry no fractions."""
        return self._clock().astimezone(UTC).replace(microsecond=0)

    # -- reading -------------------------------------------------------------

    def url_of(self, slug: str, link: str | None) -> str:
        return link or self.config.url(article_path(slug))

    def _view(self, row: ArticleRow) -> Article:
        return Article.from_row(row, self.url_of(row.slug, row.link))

    def get_article(self, slug: str) -> Article:
        """The article with ``slug``; :class:`NotFoundError` if there is none."""
        with read_session(self.engine) as session:
            return self._view(_by_slug(session, slug))

    def list_articles(
        self,
        *,
        status: Status = "all",
        limit: int | None = None,
        on_unreadable: Callable[[str], None] | None = None,
    ) -> list[Article]:
        """Articles newest first (ties by creation order, newest first).

        A row another tool left unreadable (a date that is no date) is left out
        and described in one line to ``on_unreadable`` (default: a logged warning).
        """
        now = self.now()
        query = select(ArticleRow).order_by(ArticleRow.published_at.desc(), ArticleRow.pk.desc())
        if status == "published":
            query = query.where(ArticleRow.published_at <= now)
        elif status == "scheduled":
            query = query.where(ArticleRow.published_at > now)
        if limit is not None:
            query = query.limit(limit)
        with read_session(self.engine) as session:
            rows, skipped = queries.load_readable(session, query)
            articles = [self._view(row) for row in rows]
        report = on_unreadable or log.warning
        for _pk, slug, reason in skipped:
            report(_unreadable(slug, reason))
        return articles

    def revision(self) -> int:
        """The change counter: it moves on every write, in constant time."""
        with read_session(self.engine) as session:
            return queries.revision(session)

    def next_scheduled(self) -> datetime | None:
        """When the next scheduled article goes live, if any."""
        with read_session(self.engine) as session:
            return queries.next_due(session, self.now())

    def status(self) -> SiteStatus:
        with read_session(self.engine) as session:
            state = queries.get_state(session)
            return SiteStatus(
                revision=state.revision,
                built_revision=state.built_revision,
                built_at=state.built_at,
                build_seconds=state.build_seconds,
                build_result=state.build_result,
                last_error=state.last_error,
                last_error_at=state.last_error_at,
                daemon_pid=state.daemon_pid,
                daemon_host=state.daemon_host,
                daemon_heartbeat=state.daemon_heartbeat,
                next_scheduled=queries.next_due(session, self.now()),
                articles=queries.count_articles(session),
            )

    # -- writing -------------------------------------------------------------

    def add_article(
        self,
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
    ) -> Article:
        """Store a new article and return it; nothing is stored if any field is bad.

        ``published`` in the future schedules the article. ``id`` keeps an
        existing feed id (when moving from another publisher); otherwise a
        tag: URI is minted once and never changes.
        """
        now = self.now()
        title = check_title(title, self.config.content.max_title_chars)
        content = self._content(content)
        link = _article_link(link) if link else None
        published_at = self._when(published, "published") if published is not None else now
        updated_at = self._when(updated, "updated") if updated is not None else published_at
        updated_at = max(updated_at, published_at)
        summary_text = (
            clean_text(check_text(summary, "summary")).strip()
            if summary
            else derive_summary(content)
        )
        tag_pairs = _normalise_tags(tags)
        uid = _check_id(id) if id else None
        with self._writing() as session:
            if slug:
                check_slug(slug)
                if _slug_taken(session, slug):
                    raise ConflictError(
                        f"slug: {slug!r} is already used by another article; "
                        "choose another with --slug"
                    )
            else:
                slug = _unique_slug(session, slugify(title) or "article")
            if uid is None:
                uid = _unique_uid(session, mint_tag_uri(self.config.authority, now, slug))
            elif session.execute(select(ArticleRow.pk).where(ArticleRow.uid == uid)).first():
                raise ConflictError(f"id: {uid!r} is already used by another article")
            content = self._resolve_urls(content, slug, link)
            revision = queries.bump_revision(session)
            row = ArticleRow(
                uid=uid,
                slug=slug,
                title=title,
                link=link,
                summary=summary_text,
                content=content,
                author=self._author(session, author),
                tags=_tags(session, tag_pairs),
                published_at=published_at,
                updated_at=updated_at,
                created_at=now,
                revision=revision,
            )
            session.add(row)
            session.flush()
            return self._view(row)

    def edit_article(
        self,
        slug: str,
        *,
        title: str = _UNSET,
        new_slug: str = _UNSET,
        link: str | None = _UNSET,
        summary: str | None = _UNSET,
        content: str = _UNSET,
        author: str | Person | None = _UNSET,
        tags: Iterable[str] = _UNSET,
        published: str | datetime = _UNSET,
    ) -> Article:
        """Change some fields of an article; its id never changes.

        ``updated_at`` moves only when something a reader sees changed; an
        edit that changes nothing writes nothing. ``link=None`` or
        ``author=None`` clears them.
        """
        now = self.now()
        changes: dict[str, Any] = {}
        if title is not _UNSET:
            changes["title"] = check_title(title, self.config.content.max_title_chars)
        if link is not _UNSET:
            changes["link"] = _article_link(link) if link else None
        if content is not _UNSET:
            changes["content"] = self._content(content)
        if summary is not _UNSET:
            changes["summary"] = clean_text(check_text(summary or "", "summary")).strip()
        if published is not _UNSET:
            changes["published_at"] = self._when(published, "published")
        if new_slug is not _UNSET:
            changes["slug"] = check_slug(new_slug)
        tag_pairs = _normalise_tags(tags) if tags is not _UNSET else None
        with self._writing() as session:
            row = _by_slug(session, slug)
            if "content" in changes:
                changes["content"] = self._resolve_urls(
                    changes["content"], changes.get("slug", row.slug), changes.get("link", row.link)
                )
            # A summary derived from the old content follows the new content.
            follows_content = row.summary == derive_summary(row.content)
            if "content" in changes and "summary" not in changes and follows_content:
                changes["summary"] = derive_summary(changes["content"])
            if changes.get("summary") == "":
                changes["summary"] = derive_summary(changes.get("content", row.content))
            if (
                "slug" in changes
                and changes["slug"] != row.slug
                and _slug_taken(session, changes["slug"])
            ):
                raise ConflictError(f"slug: {changes['slug']!r} is already used by another article")
            changed = {k: v for k, v in changes.items() if getattr(row, k) != v}
            new_author = self._author(session, author) if author is not _UNSET else row.author
            new_tags = _tags(session, tag_pairs) if tag_pairs is not None else row.tags
            # Another person, or the same person with a new email or uri (people are
            # shared rows, so _author() updated the details in place).
            author_changed = new_author is not row.author or (
                new_author is not None and session.is_modified(new_author)
            )
            tags_changed = [t.slug for t in new_tags] != [t.slug for t in row.tags]
            if not changed and not author_changed and not tags_changed:
                return self._view(row)
            revision = queries.bump_revision(session)
            if "slug" in changed:
                session.add(
                    Removal(
                        uid=row.uid, slug=row.slug, removed_at=now, revision=revision, deleted=False
                    )
                )
            for key, value in changed.items():
                setattr(row, key, value)
            if author_changed:
                row.author = new_author
            if tags_changed:
                row.tags = sorted(new_tags, key=lambda t: t.slug)
            row.revision = revision
            row.updated_at = max(now, row.published_at)
            session.flush()
            return self._view(row)

    def delete_article(self, slug: str) -> Article:
        """Remove an article; its page disappears on the next build."""
        now = self.now()
        with self._writing() as session:
            row = _by_slug(session, slug)
            view = self._view(row)
            revision = queries.bump_revision(session)
            session.add(
                Removal(uid=row.uid, slug=row.slug, removed_at=now, revision=revision, deleted=True)
            )
            session.delete(row)
            return view

    def build(self, *, full: bool = False) -> BuildReport:
        """Publish feeds and pages for the current state; unchanged files are not touched."""
        return run_build(self.engine, self.config, now=self.now(), full=full)

    # -- helpers ---------------------------------------------------------------

    def _writing(self) -> Any:
        return _ConflictGuard(write_session(self.engine))

    def _when(self, value: str | datetime, field: str) -> datetime:
        return parse_when(value, field, self.config.zone)

    def _content(self, html: str) -> str:
        check_text(html, "content")
        limit = self.config.content.max_content_bytes
        size = len(html.encode("utf-8", "surrogatepass"))
        if size > limit:
            raise InputError(
                f"content: {size} bytes is over the limit of {limit}; shorten it or raise "
                "content.max_content_bytes in feeder.toml"
            )
        return sanitize_html(html, allow_iframes=self.config.content.allow_iframes)

    def _author(self, session: Session, author: str | Person | None) -> Author | None:
        if author is None:
            return None
        given, in_full = _person(author, self.config.author)
        if given is None:
            return None
        row = session.execute(select(Author).where(Author.name == given.name)).scalar_one_or_none()
        if row is None:
            row = Author(name=given.name, email=given.email, uri=given.uri)
            session.add(row)
        elif in_full and (given.email, given.uri) != (row.email, row.uri):
            # People are shared: new details show on all their articles.
            row.email, row.uri = given.email, given.uri
        return row

    # -- daemon support ----------------------------------------------------------
    # What ``feeder run`` (the ``jobs`` package) needs from the database, kept
    # together here so that jobs never touches the tables itself.

    def with_config(self, config: Config) -> Site:
        """The same database and clock with other settings (a reloaded feeder.toml)."""
        return Site(config, self.engine, self._clock)

    def pending(self) -> bool:
        """Whether articles changed since the last build.

        The daemon asks this every poll interval, so it is one primary-key read
        on a plain connection: no ORM session, no scan, whatever the site's size.
        """
        from db.models import State  # kept local: only this method reads State directly

        query = select(State.revision, State.built_revision).where(State.pk == queries.STATE_PK)
        with self.engine.connect() as connection:
            row = connection.execute(query).one_or_none()
        return row is not None and row.revision != row.built_revision

    def next_unpublished(self) -> datetime | None:
        """The earliest publication instant the last build has not covered yet.

        Counting from the last build rather than from now matters: an article
        that came due while that build ran is still returned (in the past), so
        the daemon builds again at once instead of missing it.
        """
        with read_session(self.engine) as session:
            state = queries.get_state(session)
            covered = state.built_until if state.built_until is not None else self.now()
            return queries.next_due(session, covered)

    def record_daemon(self, pid: int, host: str) -> None:
        """Note that the daemon ``pid`` on ``host`` publishes this site and is alive now."""
        with write_session(self.engine) as session:
            state = queries.get_state(session)
            state.daemon_pid, state.daemon_host = pid, host
            state.daemon_heartbeat = self.now()

    def clear_daemon(self, pid: int, host: str) -> None:
        """Note that the daemon ``pid`` stopped (unless another one took over since)."""
        with write_session(self.engine) as session:
            state = queries.get_state(session)
            if (state.daemon_pid, state.daemon_host) == (pid, host):
                state.daemon_pid = state.daemon_host = state.daemon_heartbeat = None

    def record_error(self, message: str) -> None:
        """Keep ``message`` as the last error, for ``feeder status``."""
        with write_session(self.engine) as session:
            state = queries.get_state(session)
            state.last_error, state.last_error_at = message, self.now()

    # -- importing (feeder import, feeder import-feed) -------------------------------
    # Thin wrappers over feeder.importer, which keeps the rules of add_article and
    # edit_article for many articles at a time.

    def import_paths(
        self,
        paths: Sequence[str | os.PathLike[str]],
        *,
        format: str | None = None,
        stdin: BinaryIO | None = None,
        strict: bool = False,
        dry_run: bool = False,
        progress: importer.Progress | None = None,
    ) -> importer.ImportReport:
        """Import Markdown, HTML, text and JSON Lines files, directories and ``-`` (stdin).

        Importing the same input again changes nothing. Bad inputs are reported
        in the result and skipped; with ``strict`` the first one raises and
        nothing is stored. ``dry_run`` reports what would happen.
        """
        drafts = sources.drafts_from_paths(paths, format=format, stdin=stdin)
        return self.import_drafts(drafts, strict=strict, dry_run=dry_run, progress=progress)

    def import_feed(
        self,
        source: str,
        *,
        strict: bool = False,
        dry_run: bool = False,
        progress: importer.Progress | None = None,
    ) -> importer.ImportReport:
        """Import the entries of an RSS, Atom or JSON feed (a URL or a file), keeping their ids."""
        drafts = feedimport.drafts_from_feed(source)
        return self.import_drafts(drafts, strict=strict, dry_run=dry_run, progress=progress)

    def import_drafts(
        self,
        drafts: Iterable[importer.Item],
        *,
        strict: bool = False,
        dry_run: bool = False,
        progress: importer.Progress | None = None,
    ) -> importer.ImportReport:
        """Import article drafts made by a script (errors in the stream count as rejected)."""
        return importer.run(
            self.engine,
            self.config,
            drafts,
            now=self.now(),
            strict=strict,
            dry_run=dry_run,
            progress=progress,
        )

    def _resolve_urls(self, html: str, slug: str, link: str | None) -> str:
        """Sanitised ``html`` with relative URLs made absolute against the article's URL."""
        return sanitize_html(
            html, base_url=self.url_of(slug, link), allow_iframes=self.config.content.allow_iframes
        )


class _ConflictGuard:
    """Turns a unique-constraint race with another writer into a ConflictError."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __enter__(self) -> Session:
        session: Session = self._inner.__enter__()
        return session

    def __exit__(self, *exc: Any) -> bool:
        try:
            return bool(self._inner.__exit__(*exc))
        except IntegrityError as error:
            raise ConflictError(
                f"another writer stored a clashing slug or id at the same time: {error.orig}"
            ) from None


def storage_error(exc: SQLAlchemyError) -> StorageError:
    """A database failure as the one line a user reads (the cause stays chained)."""
    original = getattr(exc, "orig", None)
    reason = str(original if original is not None else exc).strip()
    reason = reason.splitlines()[0] if reason else type(exc).__name__
    if "no such database file" in reason:
        return StorageError(f"database: {reason}")
    return StorageError(f"database: {reason}; check database_url and that the server is up")


def open_database(url: str, *, create: bool) -> Engine:
    """An engine for ``url``; a missing SQLite file is a StorageError unless ``create``."""
    path = database_file(url)
    if path is not None:
        if create:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"database: cannot create {path.parent}: {exc.strerror}"
                ) from exc
        elif not path.is_file():
            what = "is not a file" if path.exists() else "does not exist"
            raise StorageError(
                f"database: {path} {what}; run 'feeder init' to create a site, or point "
                "database_url (--db) at the right file"
            )
    return create_engine(url, create=create)


def _prepare_database(engine: Engine, now: datetime, *, create: bool) -> None:
    if not create and migrate.current(engine) is None:
        raise StorageError(
            f"database: {engine.url.render_as_string(hide_password=True)} holds no feeder "
            "site; run 'feeder init' to create one there, or point database_url (--db) at "
            "the right database"
        )
    migrate.upgrade(engine)
    with read_session(engine) as session:
        if queries.revision(session) >= 0:
            return
    with write_session(engine) as session:
        queries.get_state(session, created_at=now)


def _by_slug(session: Session, slug: str) -> ArticleRow:
    try:
        row = (
            session.execute(select(ArticleRow).where(ArticleRow.slug == slug))
            .unique()
            .scalar_one_or_none()
        )
    except queries.UNREADABLE as exc:
        raise InputError(_unreadable(slug, str(exc))) from None
    if row is None:
        raise NotFoundError(f"slug: no article {slug!r}; 'feeder list' shows the slugs")
    return row


def _unreadable(slug: str, reason: str) -> str:
    return (
        f"article {slug!r} cannot be read: {reason}; another program wrote that into the "
        "database: correct the value there"
    )


def _tags(session: Session, pairs: Sequence[tuple[str, str]]) -> list[Tag]:
    tags: list[Tag] = []
    for slug, name in pairs:
        tag = session.execute(select(Tag).where(Tag.slug == slug)).scalar_one_or_none()
        if tag is None:
            tag = Tag(slug=slug, name=name)
            session.add(tag)
        tags.append(tag)
    return tags
