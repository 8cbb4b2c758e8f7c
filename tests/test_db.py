"""Storage: UTC datetimes, SQLite settings, migrations, the revision counter, concurrency."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    column,
    insert,
    inspect,
    select,
    table,
    text,
)
from sqlalchemy.exc import IntegrityError, StatementError

import db
from db import bulk, migrate, queries, writes
from db.engine import BUSY_TIMEOUT_MS
from db.models import Base
from db.records import read_instant
from db.types import UTCDateTime
from feeder import Site
from tests.conftest import FakeClock

REPO = Path(__file__).resolve().parent.parent
TABLES = {"alembic_version", "articles", "article_tags", "authors", "removals", "state", "tags"}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    created = db.create_engine(database_url, create=True)
    yield created
    created.dispose()


def open_site(directory: Path, url: str, clock: FakeClock) -> Site:
    return Site.init(
        directory,
        title="T",
        base_url="https://example.org/",
        id_authority="example.org",
        database_url=url,
        clock=clock,
    )


# -- UTCDateTime -----------------------------------------------------------------


def _times_table(engine: Engine) -> Table:
    table = Table(
        "times",
        MetaData(),
        Column("pk", Integer, primary_key=True),
        Column("at", UTCDateTime(), nullable=True),
    )
    table.create(engine)
    return table


def test_aware_datetimes_come_back_as_the_same_instant_in_utc(engine: Engine) -> None:
    table = _times_table(engine)
    values = [
        datetime(2026, 11, 26, 12, 0, tzinfo=UTC),
        datetime(2026, 11, 26, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        datetime(2026, 3, 29, 1, 30, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
        None,
    ]
    with engine.begin() as connection:
        connection.execute(insert(table), [{"pk": i, "at": v} for i, v in enumerate(values)])
    with engine.connect() as connection:
        rows = dict(connection.execute(select(table.c.pk, table.c.at)).all())  # type: ignore[arg-type]
    for i, value in enumerate(values):
        back = rows[i]
        if value is None:
            assert back is None
            continue
        assert back == value  # the same instant
        assert back.utcoffset() == timedelta(0)
        assert back.tzinfo is not None and back.tzname() == "UTC"
        assert back.microsecond == value.microsecond


def test_comparisons_in_sql_follow_instants_not_wall_clock_text(engine: Engine) -> None:
    table = _times_table(engine)
    plus_two = timezone(timedelta(hours=2))
    with engine.begin() as connection:
        connection.execute(
            insert(table),
            [
                # 12:00+02:00 is 10:00Z: earlier than 11:00Z although "12" > "11".
                {"pk": 1, "at": datetime(2026, 11, 26, 12, 0, tzinfo=plus_two)},
                {"pk": 2, "at": datetime(2026, 11, 26, 11, 0, tzinfo=UTC)},
            ],
        )
    cutoff = datetime(2026, 11, 26, 10, 30, tzinfo=UTC)
    with engine.connect() as connection:
        before = connection.execute(select(table.c.pk).where(table.c.at <= cutoff)).scalars()
        ordered = connection.execute(select(table.c.pk).order_by(table.c.at)).scalars()
        assert list(before) == [1]
        assert list(ordered) == [1, 2]


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    table = _times_table(engine)
    naive = datetime(2026, 11, 26, 12, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(StatementError, match="naive datetime"), engine.begin() as connection:
        connection.execute(insert(table), {"pk": 1, "at": naive})
    with engine.connect() as connection:
        assert connection.execute(select(table.c.pk)).all() == []


# -- SQLite settings ---------------------------------------------------------------


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = db.create_engine(f"sqlite:///{tmp_path / 'x.db'}", create=True)
    try:
        for _ in range(2):  # a fresh connection and one from the pool
            with engine.connect() as connection:
                pragma = connection.exec_driver_sql
                assert pragma("PRAGMA journal_mode").scalar() == "wal"
                assert pragma("PRAGMA busy_timeout").scalar() == BUSY_TIMEOUT_MS
                assert BUSY_TIMEOUT_MS >= 1000
                assert pragma("PRAGMA foreign_keys").scalar() == 1
        # What WAL is for: a reader in the middle of a snapshot does not hold up a
        # writer, and keeps seeing its snapshot until it ends.
        with engine.connect() as setup, setup.begin():
            setup.exec_driver_sql("CREATE TABLE t (n INTEGER)")
            setup.exec_driver_sql("INSERT INTO t VALUES (1)")
        with engine.connect() as reader, reader.begin():
            assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
            with engine.connect() as writer, writer.begin():
                writer.exec_driver_sql("INSERT INTO t VALUES (2)")
            assert reader.exec_driver_sql("SELECT count(*) FROM t").scalar() == 1
        with engine.connect() as later:
            assert later.exec_driver_sql("SELECT count(*) FROM t").scalar() == 2
    finally:
        engine.dispose()


def test_sqlite_foreign_keys_are_enforced(sqlite_site: Site) -> None:
    sqlite_site.add_article("Tagged", tags=["news"])
    with sqlite_site.storage.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        # Deleting an article removes its tag links (ON DELETE CASCADE needs the pragma).
    sqlite_site.delete_article("tagged")
    with sqlite_site.storage.engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM article_tags")).scalar() == 0
        assert connection.execute(text("SELECT count(*) FROM tags")).scalar() == 1


# -- migrations ----------------------------------------------------------------------


def test_the_known_head_is_the_newest_migration_script() -> None:
    # Opening a database compares its revision with HEAD without loading Alembic.
    assert migrate.head() == migrate.scripts_head()


def test_an_empty_database_is_created_at_head(engine: Engine) -> None:
    assert migrate.current(engine) is None
    assert migrate.upgrade(engine) is True
    assert migrate.current(engine) == migrate.head()
    assert set(inspect(engine).get_table_names()) >= TABLES
    # Reopening is a no-op.
    assert migrate.upgrade(engine) is False
    assert migrate.current(engine) == migrate.head()


def test_migrations_create_exactly_what_the_models_describe(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert differences == []


def test_opening_a_site_twice_changes_nothing(
    site_dir: Path, database_url: str, clock: FakeClock
) -> None:
    with open_site(site_dir, database_url, clock) as site:
        site.add_article("Kept")
        revision = site.revision()
        created = site.status()
    clock.advance(days=3)
    with open_site(site_dir, database_url, clock) as site:
        assert site.revision() == revision
        assert [a.slug for a in site.list_articles()] == ["kept"]
        assert site.status() == created
        assert migrate.upgrade(site.storage.engine) is False


def test_a_database_at_the_first_revision_is_upgraded_and_keeps_its_rows(
    engine: Engine, site_dir: Path, database_url: str, clock: FakeClock
) -> None:
    # What the very first release created, filled by hand the way it stored rows.
    config = migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0001")
    when = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
    with engine.begin() as connection:  # the state table as it was at 0001
        old_state = table(
            "state",
            column("pk"),
            column("revision"),
            column("built_revision"),
            column("created_at", UTCDateTime()),
        )
        connection.execute(
            insert(old_state).values(
                pk=queries.STATE_PK, revision=0, built_revision=-1, created_at=when
            )
        )
    with engine.begin() as connection:  # only the columns 0001 has (the models have more)
        revision = connection.execute(
            text("UPDATE state SET revision = 1 RETURNING revision")
        ).scalar_one()
        author = connection.execute(
            insert(db.Author.__table__).values(name="Old Author").returning(db.Author.pk)
        ).scalar_one()
        tag = connection.execute(
            insert(db.Tag.__table__).values(slug="old", name="Old").returning(db.Tag.pk)
        ).scalar_one()
        article = connection.execute(
            insert(db.Article.__table__)
            .values(
                uid="tag:example.org,2026-11-20:/articles/old",
                slug="old",
                title="Old article",
                summary="s",
                content="<p>c</p>",
                author_pk=author,
                published_at=when,
                updated_at=when,
                created_at=when,
                revision=revision,
            )
            .returning(db.Article.pk)
        ).scalar_one()
        connection.execute(
            text("INSERT INTO article_tags VALUES (:a, :t)"), {"a": article, "t": tag}
        )
    with open_site(site_dir, database_url, clock) as site:
        assert migrate.current(site.storage.engine) == migrate.head()
        old = site.get_article("old")
        assert old.id == "tag:example.org,2026-11-20:/articles/old"
        assert old.author is not None and old.author.name == "Old Author"
        assert [t.slug for t in old.tags] == ["old"]
        assert old.published_at == when
        assert site.revision() == 1
        site.build()
        assert (site.config.output_dir / "articles" / "old.html").exists()


NEXT_REVISION = '''
"""A later release: rebuilds the articles table the way Alembic does on SQLite."""
import sqlalchemy as sa
from alembic import op

revision = "9001"
down_revision = "{down}"
branch_labels = None
depends_on = None


def upgrade():
    if op.get_context().dialect.name == "sqlite":
        with op.batch_alter_table("articles", recreate="always") as batch:
            batch.add_column(sa.Column("extra", sa.Text(), nullable=True))
    else:
        op.add_column("articles", sa.Column("extra", sa.Text(), nullable=True))


def downgrade():
    op.drop_column("articles", "extra")
'''


@pytest.fixture
def next_release(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Pretend a newer feeder ships one more migration on top of today's head."""
    versions = tmp_path / "later_versions"
    versions.mkdir()
    (versions / "9001_later.py").write_text(NEXT_REVISION.format(down=migrate.head()))
    real = migrate._config

    def with_later() -> object:
        config = real()
        shipped = Path(migrate.__file__).parent / "migrations" / "versions"
        config.set_main_option("path_separator", "os")
        config.set_main_option("version_locations", os.pathsep.join([str(shipped), str(versions)]))
        return config

    monkeypatch.setattr(migrate, "_config", with_later)
    monkeypatch.setattr(migrate, "HEAD", "9001")
    try:
        yield "9001"
    finally:
        monkeypatch.undo()


def test_an_older_database_is_upgraded_without_losing_rows_or_links(
    site_dir: Path, database_url: str, clock: FakeClock, request: pytest.FixtureRequest
) -> None:
    with open_site(site_dir, database_url, clock) as site:
        site.add_article("One", tags=["a", "b"], author="Bob", content="<p>1</p>")
        site.add_article("Two", tags=["b"], content="<p>2</p>")
        before = site.list_articles()
        revision = site.revision()
        old_head = migrate.current(site.storage.engine)
    newer = request.getfixturevalue("next_release")
    with open_site(site_dir, database_url, clock) as site:
        assert migrate.current(site.storage.engine) == newer != old_head
        assert site.list_articles() == before
        assert [t.slug for t in site.get_article("one").tags] == ["a", "b"]
        assert site.revision() == revision
        with site.storage.engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM article_tags")).scalar() == 3
            if connection.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").all() == []


# -- the revision counter --------------------------------------------------------------


def test_revision_counter_moves_once_per_write_and_never_on_reads(site: Site) -> None:
    assert site.revision() == 0
    site.add_article("A")
    assert site.revision() == 1
    site.add_article("B", tags=["x"])
    assert site.revision() == 2
    site.edit_article("a", title="A2")
    assert site.revision() == 3
    site.edit_article("a", title="A2")  # nothing changes
    assert site.revision() == 3
    site.list_articles()
    site.get_article("b")
    site.status()
    site.build()
    assert site.revision() == 3
    site.delete_article("b")
    assert site.revision() == 4


def test_revision_is_minus_one_before_the_state_row_exists(engine: Engine) -> None:
    migrate.upgrade(engine)
    with engine.begin() as connection:
        assert queries.revision(connection) == -1
        with pytest.raises(LookupError):
            queries.state(connection)
    with engine.begin() as connection:
        writes.create_state(connection, datetime(2026, 1, 1, tzinfo=UTC))
        writes.create_state(connection, datetime(2027, 1, 1, tzinfo=UTC))  # a second one: no-op
        assert writes.bump_revision(connection) == 1
    with engine.begin() as connection:
        assert queries.revision(connection) == 1
        assert queries.state(connection).created_at == datetime(2026, 1, 1, tzinfo=UTC)


# -- concurrent writers ----------------------------------------------------------------

WRITER = """
import sys
from feeder import Site
with Site.open(sys.argv[1]) as site:
    for i in range(int(sys.argv[3])):
        site.add_article(f"{sys.argv[2]} {i}", content="<p>x</p>")
        site.list_articles(limit=3)
print("ok")
"""


def test_two_processes_writing_one_sqlite_file_serialise(sqlite_site: Site) -> None:
    config = sqlite_site.config.root / "feeder.toml"
    count = 15
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(WRITER), str(config), name, str(count)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for name in ("left", "right")
    ]
    results = [proc.communicate(timeout=120) for proc in procs]
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "database is locked" not in err
        assert out.strip() == "ok"
    slugs = {a.slug for a in sqlite_site.list_articles()}
    assert len(slugs) == 2 * count
    assert sqlite_site.revision() == 2 * count


OPENER = """
import sys
from feeder import Site
with Site.open(sys.argv[1], database_url=sys.argv[2], create=True) as site:
    site.add_article("From " + sys.argv[3])
print("ok")
"""


def test_processes_opening_a_new_database_at_once_both_succeed(
    tmp_path: Path, database_url: str
) -> None:
    # Two scripts creating a site on a fresh database at once both run the migrations.
    config = tmp_path / "feeder.toml"
    config.write_text('title = "T"\nbase_url = "https://example.org/"\n')
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, str(config), database_url, name],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for name in ("one", "two", "three")
    ]
    for proc in procs:
        _out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    with Site.open(config, database_url=database_url) as site:
        assert sorted(a.title for a in site.list_articles()) == [
            "From one",
            "From three",
            "From two",
        ]
        assert site.revision() == 3


# -- bulk inserts ------------------------------------------------------------------


def test_insert_many_stores_exactly_what_a_core_insert_stores(engine: Engine) -> None:
    metadata = MetaData()
    columns = ("name", "at", "count")
    tables = [
        Table(
            name,
            metadata,
            Column("pk", Integer, primary_key=True),
            Column("name", String(20)),
            Column("at", UTCDateTime()),
            Column("count", Integer),
        )
        for name in ("by_core", "by_bulk")
    ]
    metadata.create_all(engine)
    berlin = timezone(timedelta(hours=1))
    rows = [
        {"name": "plain", "at": datetime(2026, 11, 26, 9, 0, tzinfo=UTC), "count": 1},
        {"name": "offset", "at": datetime(2026, 11, 26, 9, 0, 0, 250, tzinfo=berlin), "count": 2},
        {"name": "nulls", "at": None, "count": None},
        {"name": "ünïcode ’", "at": datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC), "count": 3},
    ]
    with engine.begin() as connection:
        connection.execute(insert(tables[0]), rows)
        bulk.insert_many(connection, tables[1], columns, rows)
    with engine.connect() as connection:
        # The text the database holds, not what SQLAlchemy reads back from it.
        stored = [
            connection.exec_driver_sql(
                f"SELECT name, CAST(at AS TEXT), count FROM {t.name} ORDER BY pk"
            ).all()
            for t in tables
        ]
        read = [connection.execute(select(t.c.at).order_by(t.c.pk)).scalars().all() for t in tables]
    assert stored[0] == stored[1]
    assert read[0] == read[1] == [row["at"] for row in rows]


def test_insert_many_raises_integrity_error_like_core_on_a_duplicate(engine: Engine) -> None:
    metadata = MetaData()
    table = Table("uniques", metadata, Column("name", String(20), unique=True))
    metadata.create_all(engine)
    with engine.begin() as connection:
        bulk.insert_many(connection, table, ("name",), [{"name": "a"}])
    with pytest.raises(IntegrityError), engine.begin() as connection:
        bulk.insert_many(connection, table, ("name",), [{"name": "b"}, {"name": "a"}])
    with engine.connect() as connection:
        assert connection.execute(select(table.c.name)).scalars().all() == ["a"]


def _instant_the_long_way(value: str) -> datetime | None:
    """What a stored date string names, read as read_instant always read it."""
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


_WRITTEN_DATES = st.builds(
    lambda when, sep, spec, suffix, pad: pad + when.isoformat(sep, spec) + suffix + pad,
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),  # noqa: DTZ001
    st.sampled_from([" ", "T"]),
    st.sampled_from(["auto", "hours", "minutes", "seconds", "milliseconds", "microseconds"]),
    st.sampled_from(["", "Z", "+00:00", "-05:30", "+0530", "+05", "+00:00+00:00", "x"]),
    st.sampled_from(["", " "]),
)


@settings(max_examples=500, deadline=None)
@given(value=_WRITTEN_DATES | st.text(max_size=40))
def test_a_stored_date_string_names_the_same_instant_however_it_was_written(value: str) -> None:
    # Feeder's own naive UTC text is read in one parse; every other form as before.
    expected = _instant_the_long_way(value)
    if expected is None:
        with pytest.raises(ValueError, match="is not a date and time"):
            read_instant(value)
    else:
        got = read_instant(value)
        assert got == expected and got.tzinfo is UTC
