"""The publisher's queries: right rows, stable order, and index range scans on both backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event

from db import Selection, queries
from feeder import Site
from tests.conftest import START, FakeClock

ALL = Selection()


def fill(site: Site, clock: FakeClock, count: int = 60) -> None:
    """Articles spread over the past and the future, some sharing an instant."""
    for i in range(count):
        offset = timedelta(hours=i - count // 2)
        site.add_article(f"Article {i}", published=START + offset, content=f"<p>{i}</p>")
    for i in range(3):
        site.add_article(f"Tied {i}", published=START - timedelta(minutes=30), tags=["t"])


class Statements:
    """The SQL a piece of code sends, with its parameters, for EXPLAIN."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, Any]] = []

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *_exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._record)

    def _record(self, _conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.seen.append((statement, params))


def plans(site: Site, run: Callable[[Connection], object]) -> list[tuple[str, list[str]]]:
    """Each article query ``run`` sends, with the plan the database chooses for it."""
    engine = site.storage.engine
    with Statements(engine) as captured, engine.begin() as connection:
        run(connection)
    result = []
    with site.storage.engine.connect() as connection:
        postgres = connection.dialect.name == "postgresql"
        if postgres:
            # Small tables make a sequential scan cheaper; ask what the index path is.
            connection.exec_driver_sql("SET enable_seqscan = off")
        for statement, params in captured.seen:
            if "FROM articles" not in statement:
                continue
            prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
            rows = connection.exec_driver_sql(prefix + statement, params).all()
            lines = [str(row[-1]) for row in rows]
            result.append((statement, lines))
        if postgres:
            connection.exec_driver_sql("RESET enable_seqscan")
    assert result, "the query sent no SQL on articles"
    return result


def assert_index_range_scan(found: list[tuple[str, list[str]]]) -> None:
    statement, lines = found[0]
    plan = "\n".join(lines)
    assert "ix_articles_published" in plan, f"{statement}\n{plan}"
    for _statement, other in found:
        for line in other:
            assert "SCAN articles" not in line, "\n".join(other)
            assert "Seq Scan on articles" not in line, "\n".join(other)


@pytest.fixture
def filled(site: Site, clock: FakeClock) -> Iterator[Site]:
    fill(site, clock)
    with site.storage.engine.connect() as connection:
        if connection.dialect.name == "sqlite":
            connection.exec_driver_sql("ANALYZE")
        else:
            connection.exec_driver_sql("ANALYZE articles")
        connection.commit()
    yield site


def test_newest_published_is_an_index_range_scan(filled: Site) -> None:
    found = plans(filled, lambda s: queries.newest(s, ALL, START, 10))
    assert_index_range_scan(found)


def test_next_due_is_an_index_seek(filled: Site) -> None:
    found = plans(filled, lambda s: queries.next_due(s, START))
    assert_index_range_scan(found)


def test_iter_published_pages_use_the_index(filled: Site) -> None:
    found = plans(filled, lambda s: list(queries.published(s, START, batch=7)))
    assert len(found) >= 2
    assert_index_range_scan(found)
    if filled.storage.engine.dialect.name == "postgresql":
        # Each later page starts at the previous page's last key inside the index,
        # rather than re-reading everything newer and filtering it out.
        for statement, lines in found[1:]:
            bounds = [line for line in lines if "Index Cond" in line or "Recheck Cond" in line]
            assert any("published_at" in line and "pk" in line for line in bounds), (
                statement + "\n" + "\n".join(lines)
            )
    # A later page is bounded by the previous page's last key alone: given a second
    # upper bound on published_at ("<= now"), SQLite seeks to that one and steps over
    # every newer row (its plan reads the same), so reading a million rows in pages
    # took quadratic time.
    for statement, _lines in found[1:]:
        assert "published_at <=" not in statement.replace('"', ""), statement


def _slugs(rows: Any) -> list[str]:
    return [row.slug for row in rows]


def test_newest_published_is_newest_first_with_ties_by_id(site: Site, clock: FakeClock) -> None:
    fill(site, clock, count=10)
    with site.storage.engine.begin() as session:
        rows = queries.newest(session, ALL, START, 100)
        again = queries.newest(session, ALL, START, 100)
        first_three = queries.newest(session, ALL, START, 3)
    assert _slugs(rows) == _slugs(again)
    assert all(row.published_at <= START for row in rows)
    keys = [(row.published_at, row.pk) for row in rows]
    assert keys == sorted(keys, reverse=True)
    # Six published at or before START (offsets -5h..0h), plus the three tied at -30 min.
    assert len(rows) == 9
    tied = [row.slug for row in rows if row.slug.startswith("tied")]
    assert tied == ["tied-2", "tied-1", "tied-0"]  # later id first
    assert _slugs(first_three) == _slugs(rows)[:3]


def test_an_article_due_exactly_now_is_published(site: Site) -> None:
    site.add_article("Exactly now", published=START)
    site.add_article("A second later", published=START + timedelta(seconds=1))
    with site.storage.engine.begin() as session:
        assert _slugs(queries.newest(session, ALL, START, 10)) == ["exactly-now"]
        assert queries.next_due(session, START) == START + timedelta(seconds=1)
        assert queries.next_due(session, START + timedelta(seconds=1)) is None


def test_iter_published_pages_through_ties_without_loss_or_repeat(
    site: Site, clock: FakeClock
) -> None:
    fill(site, clock, count=10)
    with site.storage.engine.begin() as session:
        expected = _slugs(queries.newest(session, ALL, START, 1000))
    for batch in (1, 2, 3, 500):
        with site.storage.engine.begin() as session:
            assert _slugs(queries.published(session, START, batch=batch)) == expected


def test_due_between_is_half_open(site: Site) -> None:
    for hours in (1, 2, 3):
        site.add_article(f"In {hours}", published=START + timedelta(hours=hours))
    with site.storage.engine.begin() as session:
        got = queries.due_between(session, START + timedelta(hours=1), START + timedelta(hours=2))
        assert _slugs(got) == ["in-2"]
        assert queries.next_due(session, START) == START + timedelta(hours=1)


def test_changed_and_removed_since_a_revision(site: Site) -> None:
    site.add_article("One")
    site.add_article("Two")
    mark = site.revision()
    site.edit_article("one", title="One again")
    site.delete_article("two")
    with site.storage.engine.begin() as session:
        assert _slugs(queries.changed_since(session, mark)) == ["one"]
        assert [r.slug for r in queries.removed_since(session, mark)] == ["two"]
        assert queries.count_articles(session) == 1


def test_results_are_timezone_aware_utc(site: Site) -> None:
    site.add_article("Zoned", published="2026-11-26T13:00:00+01:00")
    with site.storage.engine.begin() as session:
        (row,) = queries.newest(session, ALL, START, 5)
    assert row.published_at == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
    assert row.published_at.utcoffset() == timedelta(0)


@pytest.fixture
def selections(site: Site, clock: FakeClock) -> Iterator[Site]:
    """Articles by several authors with several tags, statistics up to date."""
    for i in range(60):
        site.add_article(
            f"Post {i}",
            published=START - timedelta(hours=i),
            author=f"Author {i % 3}",
            tags=[f"tag-{i % 4}", "all"],
        )
    with site.storage.engine.connect() as connection:
        connection.exec_driver_sql("ANALYZE")
        connection.commit()
    yield site


@pytest.mark.parametrize(
    ("selection", "index"),
    [
        (Selection(tag="tag-1"), "ix_article_tags_published"),
        (Selection(author="Author 2"), "ix_articles_author_published"),
    ],
    ids=["by-tag", "by-author"],
)
def test_each_selection_is_an_index_range_scan(
    selections: Site, selection: Selection, index: str
) -> None:
    found = plans(selections, lambda s: queries.newest(s, selection, START, 10))
    statement, lines = found[0]
    plan = "\n".join(lines)
    assert index in plan, f"{statement}\n{plan}"
    assert "SCAN articles" not in plan and "Seq Scan on articles" not in plan, plan
    assert "TEMP B-TREE" not in plan and "Sort" not in plan, plan  # in index order
    # The keyset's next page too.
    with selections.storage.engine.connect() as connection:
        first = queries.newest(connection, selection, START, 5)
    found = plans(selections, lambda s: queries.newest(s, selection, START, 5, after=first[-1]))
    assert index in "\n".join(found[0][1])


@pytest.mark.parametrize("key", ["tag", "author"])
def test_a_selection_holds_exactly_its_articles_newest_first(selections: Site, key: str) -> None:
    selection = Selection(tag="tag-2") if key == "tag" else Selection(author="Author 1")
    with selections.storage.engine.connect() as connection:
        pages = []
        last = None
        while page := queries.newest(connection, selection, START, 4, after=last):
            pages.extend(page)
            last = page[-1]
    titles = [record.title for record in pages]
    wanted = [f"Post {i}" for i in range(60) if (i % 4 == 2 if key == "tag" else i % 3 == 1)]
    assert titles == wanted


def test_a_tag_follows_its_articles_publication_even_when_another_program_moves_it(
    selections: Site,
) -> None:
    # The copy of published_at in article_tags is kept by triggers, whoever writes.
    with selections.storage.engine.begin() as connection:
        pk = connection.exec_driver_sql(
            "SELECT pk FROM articles WHERE title = 'Post 59'"
        ).scalar_one()
        later = START - timedelta(minutes=30)
    selections.edit_article("post-59", published=later)
    with selections.storage.engine.connect() as connection:
        first = queries.newest(connection, Selection(tag="all"), START, 2)
        assert [r.title for r in first] == ["Post 0", "Post 59"]
        connection.exec_driver_sql(f"DELETE FROM article_tags WHERE article_pk = {pk}")
        connection.exec_driver_sql(
            f"INSERT INTO article_tags (article_pk, tag_pk) SELECT {pk}, pk FROM tags"
            " WHERE slug = 'tag-0'"
        )
        connection.commit()
        newest = queries.newest(connection, Selection(tag="tag-0"), START, 2)
    assert [r.title for r in newest] == ["Post 0", "Post 59"]
