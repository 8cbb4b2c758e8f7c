"""Rows another program writes are changes to publish, and every change is notified.

Another program writes the tables with plain SQL, as a user's script would: on
SQLite through the sqlite3 module with its defaults (foreign keys off), on
PostgreSQL on a connection of its own with the default search path, naming
the site's schema. The next build must be an incremental one that ends
exactly where a full build does. On PostgreSQL, each committed change is one
notification on the site's channel (db.notify), and nothing else is.
"""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from db import ChangeListener, DaemonRecord, StorageFailure, migrate
from db.changes import channel_name
from feeder import Person, Site, _daemon
from feeder.publishing import outputs
from feeder.publishing.build import BuildReport
from tests.conftest import POSTGRES_URL, START, FakeClock
from tests.conftest import _postgres_schema_url as postgres_schema_url
from tests.feedcheck import parse_feed

Execute = Callable[..., list[Any]]


def schema_of(site: Site) -> str | None:
    """The PostgreSQL schema the test site lives in (None on SQLite)."""
    if site.storage.backend != "postgresql":
        return None
    options = make_url(site.config.database_url).query["options"]
    assert isinstance(options, str) and options.startswith("-csearch_path=")
    return options.removeprefix("-csearch_path=")


@contextmanager
def elsewhere(site: Site) -> Iterator[Execute]:
    """One transaction of another program's SQL; ``{s}`` in a statement is the schema prefix.

    SQLite: the sqlite3 module's own connection, foreign keys off as it defaults to.
    PostgreSQL: the default search path, so every table is named with its schema.
    """
    schema = schema_of(site)
    if schema is None:
        path = make_url(site.config.database_url).database
        assert path is not None
        connection = sqlite3.connect(path, timeout=10, isolation_level=None)
        try:
            connection.execute("BEGIN IMMEDIATE")

            def run_sqlite(statement: str, **params: Any) -> list[Any]:
                return connection.execute(statement.format(s=""), params).fetchall()

            yield run_sqlite
            connection.execute("COMMIT")
        finally:
            connection.close()
        return
    engine = create_engine(POSTGRES_URL)
    try:
        with engine.begin() as pg:

            def run_pg(statement: str, **params: Any) -> list[Any]:
                result = pg.execute(text(statement.format(s=schema + ".")), params)
                return list(result.all()) if result.returns_rows else []

            yield run_pg
    finally:
        engine.dispose()


def moment(site: Site, when: datetime) -> Any:
    """An instant as another program binds it: text on SQLite, a timestamptz on PostgreSQL."""
    if site.storage.backend == "sqlite":
        return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")
    return when


def titles(site: Site, name: str = "atom.xml") -> list[str]:
    path = site.config.output_dir / name
    if not path.exists():
        return []
    return sorted(entry.title for entry in parse_feed(path).entries)


def pages(site: Site) -> set[str]:
    directory = site.config.output_dir / "articles"
    return {p.stem for p in directory.glob("*.html")}


def files(root: Path) -> dict[str, bytes]:
    """What ``root`` publishes (not its identity file, which is never served)."""
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != outputs.OUTPUT_FILE
    }


def incremental(site: Site) -> BuildReport:
    """The next build: it must be incremental and leave no error."""
    report = site.build()
    assert not report.full, "a foreign write must not need a full build"
    assert report.ok, report.errors
    return report


def assert_as_full(site: Site, clock: FakeClock, tmp_path: Path) -> None:
    """What incremental builds left is exactly what a full build writes from scratch."""
    fresh = tmp_path / "full"
    full = Site(dataclasses.replace(site.config, output_dir=fresh), site.storage, clock)
    assert full.build(full=True).ok
    assert files(site.config.output_dir) == files(fresh)


@pytest.fixture
def blog(site: Site) -> Site:
    """Two published articles by two authors, tags shared and not, built once."""
    site.add_article("First", content="<p>One.</p>", author="Bob", tags=["news", "python"])
    site.add_article("Second", content="<p>Two.</p>", author="Cy", tags=["news"])
    assert site.build().full
    return site


# -- rows written elsewhere ----------------------------------------------------------


def test_an_article_inserted_elsewhere_without_a_revision_is_published(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    before = blog.revision()
    when = moment(blog, START - timedelta(minutes=5))
    with elsewhere(blog) as execute:
        execute(
            "INSERT INTO {s}articles (uid, slug, title, summary, content, published_at, "
            "updated_at, created_at) VALUES ('tag:example.org,2026:/x/third', 'third', "
            "'Third', 'three', '<p>Three.</p>', :when, :when, :when)",
            when=when,
        )
    assert blog.revision() == before + 1
    report = incremental(blog)
    assert "articles/third.html" in report.written
    assert titles(blog) == ["First", "Second", "Third"]
    assert_as_full(blog, clock, tmp_path)


def test_an_article_inserted_elsewhere_moves_the_counter_before_any_build(site: Site) -> None:
    # A build may be reading an older snapshot right now: unless the counter moves, the
    # row would count as built when that build records what it covered.
    site.add_article("First")
    before = site.revision()
    with elsewhere(site) as execute:
        execute(
            "INSERT INTO {s}articles (uid, slug, title, summary, content, published_at, "
            "updated_at, created_at) VALUES ('tag:example.org,2026:/x/early', 'early', "
            "'Early', '', '', :when, :when, :when)",
            when=moment(site, START),
        )
    assert site.revision() == before + 1
    assert site.build().full  # the first build of a site
    assert titles(site) == ["Early", "First"]


def test_an_edit_made_elsewhere_is_published(blog: Site, clock: FakeClock, tmp_path: Path) -> None:
    with elsewhere(blog) as execute:
        execute("UPDATE {s}articles SET title = 'First, edited elsewhere' WHERE slug = 'first'")
    incremental(blog)
    assert titles(blog) == ["First, edited elsewhere", "Second"]
    assert titles(blog, "tags/python/atom.xml") == ["First, edited elsewhere"]
    page = (blog.config.output_dir / "articles" / "first.html").read_text()
    assert "First, edited elsewhere" in page
    assert_as_full(blog, clock, tmp_path)


def test_a_rename_made_elsewhere_removes_the_old_page(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    with elsewhere(blog) as execute:
        execute("UPDATE {s}articles SET slug = 'first-renamed' WHERE slug = 'first'")
    incremental(blog)
    assert pages(blog) == {"first-renamed", "second"}
    assert_as_full(blog, clock, tmp_path)


def test_a_deletion_made_elsewhere_removes_its_page_entries_tag_and_author(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    out = blog.config.output_dir
    assert (out / "tags" / "python" / "atom.xml").exists()
    assert (out / "authors" / "bob" / "atom.xml").exists()
    with elsewhere(blog) as execute:
        execute("DELETE FROM {s}articles WHERE slug = 'first'")
    report = incremental(blog)
    assert "articles/first.html" in report.removed
    assert pages(blog) == {"second"}
    assert titles(blog) == ["Second"]
    assert titles(blog, "tags/news/atom.xml") == ["Second"]
    # First was python's only article and Bob's: their feeds go with it.
    assert not (out / "tags" / "python").exists()
    assert not (out / "authors" / "bob").exists()
    assert_as_full(blog, clock, tmp_path)


def test_tag_links_changed_elsewhere_change_the_tag_feeds(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    with elsewhere(blog) as execute:
        execute(
            "INSERT INTO {s}article_tags (article_pk, tag_pk) "
            "SELECT a.pk, t.pk FROM {s}articles a, {s}tags t "
            "WHERE a.slug = 'second' AND t.slug = 'python'"
        )
    incremental(blog)
    assert titles(blog, "tags/python/atom.xml") == ["First", "Second"]
    with elsewhere(blog) as execute:
        execute(
            "DELETE FROM {s}article_tags WHERE article_pk = "
            "(SELECT pk FROM {s}articles WHERE slug = 'first')"
        )
    incremental(blog)
    assert titles(blog, "tags/python/atom.xml") == ["Second"]
    assert titles(blog, "tags/news/atom.xml") == ["Second"]
    assert_as_full(blog, clock, tmp_path)


def test_a_link_moved_elsewhere_moves_the_article_between_tag_feeds(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    with elsewhere(blog) as execute:
        execute(
            "UPDATE {s}article_tags SET tag_pk = (SELECT pk FROM {s}tags WHERE slug = 'python') "
            "WHERE article_pk = (SELECT pk FROM {s}articles WHERE slug = 'second')"
        )
    incremental(blog)
    assert titles(blog, "tags/python/atom.xml") == ["First", "Second"]
    assert titles(blog, "tags/news/atom.xml") == ["First"]
    assert_as_full(blog, clock, tmp_path)


def test_tags_renamed_or_deleted_elsewhere_change_every_feed_that_shows_them(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    out = blog.config.output_dir
    with elsewhere(blog) as execute:
        execute("UPDATE {s}tags SET name = 'Snakes' WHERE slug = 'python'")
    incremental(blog)
    entry = parse_feed(out / "atom.xml").entries[-1]
    assert entry.title == "First"
    assert "Snakes" in [tag.label for tag in entry.tags]
    assert "Snakes" in (out / "tags" / "python" / "index.html").read_text()
    with elsewhere(blog) as execute:
        execute("UPDATE {s}tags SET slug = 'snakes' WHERE slug = 'python'")
    incremental(blog)
    assert not (out / "tags" / "python").exists()
    assert titles(blog, "tags/snakes/atom.xml") == ["First"]
    with elsewhere(blog) as execute:
        # On SQLite without foreign keys (sqlite3's default) the links stay, dangling.
        execute("DELETE FROM {s}tags WHERE slug = 'news'")
    incremental(blog)
    assert not (out / "tags" / "news").exists()
    feed = parse_feed(out / "atom.xml")
    assert "news" not in [t.term for e in feed.entries for t in e.get("tags", [])]
    assert titles(blog, "tags/snakes/atom.xml") == ["First"]
    assert_as_full(blog, clock, tmp_path)


def test_authors_changed_or_deleted_elsewhere_change_every_feed_that_shows_them(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    out = blog.config.output_dir
    with elsewhere(blog) as execute:
        execute("UPDATE {s}authors SET email = 'bob@example.org' WHERE name = 'Bob'")
    incremental(blog)
    (python,) = parse_feed(out / "tags" / "python" / "atom.xml").entries
    assert python.author_detail.email == "bob@example.org"
    with elsewhere(blog) as execute:
        execute("UPDATE {s}articles SET author_pk = NULL WHERE slug = 'second'")
    incremental(blog)
    assert not (out / "authors" / "cy").exists()
    assert_as_full(blog, clock, tmp_path)


def test_an_author_renamed_or_deleted_elsewhere_makes_the_next_build_a_full_one(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    # Directories follow names ("José" and "Jose" both make jose; the later one takes its
    # pk): a rename can move other authors' directories, which a full build sets right.
    out = blog.config.output_dir
    with elsewhere(blog) as execute:
        execute("UPDATE {s}authors SET name = 'Robert' WHERE name = 'Bob'")
    assert blog.build().full
    assert not (out / "authors" / "bob").exists()
    assert titles(blog, "authors/robert/atom.xml") == ["First"]
    with elsewhere(blog) as execute:
        execute("DELETE FROM {s}authors WHERE name = 'Cy'")
    assert blog.build().full
    assert not (out / "authors" / "cy").exists()
    (second,) = parse_feed(out / "tags" / "news" / "atom.xml").entries[:1]
    assert second.title == "Second" and "author" not in second
    assert incremental(blog).written == ()
    assert_as_full(blog, clock, tmp_path)


def test_a_program_that_moves_the_counter_itself_is_left_alone(blog: Site) -> None:
    before = blog.revision()
    with elsewhere(blog) as execute:
        execute("UPDATE {s}state SET revision = revision + 1")
        execute(
            "UPDATE {s}articles SET title = 'Stamped', "
            "revision = (SELECT revision FROM {s}state) WHERE slug = 'first'"
        )
    assert blog.revision() == before + 1
    incremental(blog)
    assert titles(blog) == ["Second", "Stamped"]


def test_feeders_own_writes_move_the_counter_once_each(blog: Site, tmp_path: Path) -> None:
    before = blog.revision()
    source = tmp_path / "more.jsonl"
    source.write_text(
        "\n".join(
            f'{{"title": "Imported {n}", "tags": ["news", "t{n}"], "author": "Bob"}}'
            for n in range(30)
        )
    )
    assert blog.import_paths([source]).added == 30
    assert blog.revision() == before + 1
    blog.edit_article("first", tags=["other"], author="Cy")
    blog.delete_article("second")
    assert blog.revision() == before + 3


def test_new_author_details_reach_every_feed_of_that_authors_articles(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    blog.add_article("Third", author="Bob", tags=["misc"])
    blog.build()
    before = blog.revision()
    blog.edit_article("third", author=Person("Bob", "bob@new.example"))
    assert blog.revision() == before + 1
    incremental(blog)
    # First is Bob's too: the python feed, which Third is not in, shows the new address.
    (python,) = parse_feed(blog.config.output_dir / "tags" / "python" / "atom.xml").entries
    assert python.author_detail.email == "bob@new.example"
    assert_as_full(blog, clock, tmp_path)


def test_a_truncate_elsewhere_makes_the_next_build_a_full_one(
    blog: Site, clock: FakeClock, tmp_path: Path
) -> None:
    if blog.storage.backend == "sqlite":
        pytest.skip("SQLite has no TRUNCATE (a DELETE without WHERE fires the row triggers)")
    with elsewhere(blog) as execute:
        execute("TRUNCATE {s}articles CASCADE")
    assert _daemon.pending(blog, outputs.identify(blog.config.output_dir))
    report = blog.build()
    assert report.full, "nothing says what a TRUNCATE took: only a full build knows"
    assert pages(blog) == set() and titles(blog) == []
    assert_as_full(blog, clock, tmp_path)


def test_an_empty_statement_elsewhere_changes_nothing(blog: Site) -> None:
    before = blog.revision()
    with elsewhere(blog) as execute:
        execute("UPDATE {s}articles SET title = 'x' WHERE slug = 'no-such-article'")
        execute("DELETE FROM {s}articles WHERE slug = 'no-such-article'")
    assert blog.revision() == before
    assert not _daemon.pending(blog, outputs.identify(blog.config.output_dir))


# -- a migration is no change -------------------------------------------------------

REWRITING_MIGRATION = '''
"""A later release that rewrites every article row (say, to fill a new column)."""
from alembic import op

revision = "9002"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    op.execute("UPDATE articles SET title = title, summary = summary")


def downgrade():
    pass
'''


def test_a_migration_that_rewrites_rows_is_no_change_and_keeps_the_triggers(
    blog: Site, site_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    versions = tmp_path / "later_versions"
    versions.mkdir()
    (versions / "9002_rewrite.py").write_text(REWRITING_MIGRATION.format(down=migrate.head()))
    shipped = Path(migrate.__file__).parent / "migrations" / "versions"
    real = migrate._config

    def with_later() -> Any:
        config = real()
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", f"{shipped}{os.pathsep}{versions}")
        return config

    monkeypatch.setattr(migrate, "_config", with_later)
    monkeypatch.setattr(migrate, "HEAD", "9002")
    before = blog.revision()
    assert migrate.upgrade(blog.storage.engine)
    assert migrate.current(blog.storage.engine) == "9002"
    assert blog.revision() == before
    assert not _daemon.pending(blog, outputs.identify(blog.config.output_dir))
    # And the triggers are back for what comes after.
    with elsewhere(blog) as execute:
        execute("UPDATE {s}articles SET title = 'After the upgrade' WHERE slug = 'first'")
    assert blog.revision() == before + 1


# -- notifications (PostgreSQL) -------------------------------------------------------


#: The listener's session name: this process's own, where test processes share a server.
LISTENER = f"feeder test listener {os.getpid()}"


@pytest.fixture
def listener(pg_site: Site) -> Iterator[ChangeListener]:
    made = pg_site.storage.listener(LISTENER)
    assert made is not None
    made.connect()
    yield made
    made.close()


@contextmanager
def counting(channel: str) -> Iterator[Callable[[], int]]:
    """Notifications on ``channel`` since entering, counted by a connection of the test's."""
    connection = psycopg.connect(
        make_url(POSTGRES_URL).set(drivername="postgresql").render_as_string(False),
        autocommit=True,
    )
    connection.execute(f'LISTEN "{channel}"')
    received: list[str] = []

    def count(settle: float = 0.3) -> int:
        received.extend(n.payload for n in connection.notifies(timeout=settle))
        return len(received)

    try:
        yield count
    finally:
        connection.close()


@pytest.mark.postgres
def test_each_committed_write_is_one_notification(
    pg_site: Site, listener: ChangeListener, tmp_path: Path
) -> None:
    assert listener.channel is not None
    assert not listener.wait(0.05)
    with counting(listener.channel) as count:
        pg_site.add_article("One")
        assert listener.wait(5)
        assert count() == 1
        source = tmp_path / "many.jsonl"
        source.write_text("\n".join(f'{{"title": "Many {n}"}}' for n in range(50)))
        pg_site.import_paths([source])
        assert count() == 2, "an import is one transaction: one notification"
        with elsewhere(pg_site) as execute:
            execute("UPDATE {s}articles SET title = title || '!'")
            execute("DELETE FROM {s}articles WHERE slug = 'many-3'")
            execute("UPDATE {s}state SET revision = revision + 1")
        assert count() == 3, "another program's transaction: one notification"
        assert listener.wait(1)
        assert not listener.wait(0.2), "a burst is heard once"


@pytest.mark.postgres
def test_nothing_but_a_change_is_notified(pg_site: Site, listener: ChangeListener) -> None:
    pg_site.add_article("One")
    assert listener.wait(5)
    assert listener.channel is not None
    with counting(listener.channel) as count:
        pg_site.build()
        output = outputs.identify(pg_site.config.output_dir)
        _daemon.record_daemon(
            pg_site,
            DaemonRecord(
                id="elsewhere", output_id=output, output_dir="/srv/public",
                host="elsewhere.example", pid=1, role="leader", version="test",
                started_at=pg_site.now(), heartbeat=pg_site.now(),
            ),
        )  # fmt: skip
        _daemon.record_error(pg_site, output, "an error")
        pg_site.list_articles()
        pg_site.edit_article("one", title="One")  # the same title: nothing written
        with elsewhere(pg_site) as execute:
            execute("UPDATE {s}articles SET title = 'x' WHERE slug = 'no-such-article'")
            execute("DELETE FROM {s}article_tags WHERE article_pk = -1")
        assert count(1.0) == 0
    assert not listener.wait(0.1)


@pytest.mark.postgres
def test_each_site_in_a_database_hears_only_its_own_changes(
    pg_site: Site, listener: ChangeListener, tmp_path: Path, clock: FakeClock
) -> None:
    with (
        contextmanager(postgres_schema_url)() as other_url,
        Site.init(tmp_path / "other", database_url=other_url, clock=clock) as other,
    ):
        theirs = other.storage.listener(f"{LISTENER}, other site")
        assert theirs is not None
        theirs.connect()
        try:
            assert theirs.channel != listener.channel
            other.add_article("Theirs")
            assert theirs.wait(5)
            assert not listener.wait(0.5)
            pg_site.add_article("Mine")
            assert listener.wait(5)
            assert not theirs.wait(0.5)
        finally:
            theirs.close()
    with pg_site.storage.engine.connect() as connection:
        database, schema = connection.execute(
            text("SELECT current_database(), current_schema()")
        ).one()
    assert listener.channel == channel_name(database, schema)


@pytest.mark.postgres
def test_a_dropped_connection_is_an_error_and_connecting_again_works(
    pg_site: Site, listener: ChangeListener
) -> None:
    with pg_site.storage.engine.connect() as admin:
        killed = admin.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE application_name = :name"
            ),
            {"name": LISTENER},
        ).all()
        admin.commit()
    assert killed == [(True,)]
    with pytest.raises(StorageFailure, match=r"^database: "):
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            listener.wait(0.1)
    assert not listener.connected
    listener.connect()
    pg_site.add_article("After")
    assert listener.wait(5)


def test_sqlite_has_no_listener(sqlite_site: Site) -> None:
    assert sqlite_site.storage.listener(LISTENER) is None
