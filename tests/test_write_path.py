"""One write path: add, edit and import store the same rows for the same input."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from feeder import Draft, Person, Site
from tests.conftest import START, FakeClock, _postgres_schema_url

FIELDS: dict[str, Any] = {
    "title": "  Café & <b>friends</b> ",
    "slug": "cafe",
    "summary": None,  # derived from the content, the same way everywhere
    "content": (
        '<p onclick="x()">Read <a href="notes/more.html">more</a> and see '
        '<img src="../img/cup.png"></p><script>steal()</script><p>Second paragraph.</p>'
    ),
    "author": Person("Bea Writer", "bea@example.org", "https://bea.example/"),
    "tags": ["Coffee", "  coffee ", "Food & Drink"],
    "published": "2026-11-20T09:00:00+01:00",
}


def _rows(site: Site) -> dict[str, list[tuple[Any, ...]]]:
    """Every stored value a reader can see, keyed by table (no keys, no counters)."""
    with site.storage.engine.connect() as connection:
        return {
            "articles": [
                tuple(row)
                for row in connection.execute(
                    text(
                        "SELECT uid, slug, title, link, summary, content, published_at, "
                        "updated_at, created_at FROM articles ORDER BY slug"
                    )
                )
            ],
            "authors": [
                tuple(row)
                for row in connection.execute(text("SELECT name, email, uri FROM authors"))
            ],
            "tags": [
                tuple(row)
                for row in connection.execute(
                    text(
                        "SELECT t.slug, t.name, a.slug, l.published_at FROM article_tags l "
                        "JOIN tags t ON t.pk = l.tag_pk JOIN articles a ON a.pk = l.article_pk "
                        "ORDER BY t.slug"
                    )
                )
            ],
        }


@pytest.fixture
def make_site(tmp_path: Path, database_url: str) -> Any:
    """Sites of their own (files, or PostgreSQL schemas) on the test's backend."""
    opened: list[Site] = []
    counter = iter(range(100))
    schemas = contextlib.ExitStack()

    def make() -> Site:
        n = next(counter)
        if database_url.startswith("sqlite"):
            url = f"sqlite:///{tmp_path / f'site{n}.db'}"
        else:
            url = next(schemas.enter_context(contextlib.closing(_postgres_schema_url())))
        site = Site.init(
            tmp_path / f"site{n}",
            title="Same",
            base_url="https://example.org/blog/",
            id_authority="example.org",
            database_url=url,
            clock=FakeClock(START),
        )
        opened.append(site)
        return site

    with schemas:
        yield make
        for site in opened:
            site.close()


def test_add_edit_and_import_store_identical_rows(make_site: Any) -> None:
    added = make_site()
    added.add_article(**FIELDS)

    imported = make_site()
    draft = Draft(origin="in.jsonl:1", **{k: v for k, v in FIELDS.items() if k != "tags"},
                  tags=tuple(FIELDS["tags"]))  # fmt: skip
    report = imported.import_drafts([draft])
    assert report.ok and report.added == 1, report.failures

    edited = make_site()
    edited.add_article("Placeholder", slug="cafe", published=FIELDS["published"])
    edited.edit_article(
        "cafe",
        title=FIELDS["title"],
        content=FIELDS["content"],
        author=FIELDS["author"],
        tags=FIELDS["tags"],
    )
    expected = _rows(added)
    assert _rows(imported) == expected
    # An edit is a visible change now, so it alone moves updated_at (to now).
    edited_rows = _rows(edited)
    (edited_article,) = edited_rows["articles"]
    assert str(edited_article[7]).startswith("2026-11-26 12:00:00")
    (expected_article,) = expected["articles"]
    assert edited_article[:7] + edited_article[8:] == expected_article[:7] + expected_article[8:]
    assert {k: v for k, v in edited_rows.items() if k != "articles"} == {
        k: v for k, v in expected.items() if k != "articles"
    }
    (article,) = expected["articles"]
    assert article[2] == "Café & <b>friends</b>"  # a title is text, stripped
    assert "onclick" not in article[5] and "<script" not in article[5]
    assert 'href="https://example.org/blog/articles/notes/more.html"' in article[5]
    assert article[4] == "Read more and see"


def test_importing_what_add_stored_changes_nothing(make_site: Any) -> None:
    site = make_site()
    site.add_article(**FIELDS)
    before = _rows(site)
    revision = site.revision()
    draft = Draft(origin="again", **{k: v for k, v in FIELDS.items() if k != "tags"},
                  tags=tuple(FIELDS["tags"]))  # fmt: skip
    report = site.import_drafts([draft])
    assert (report.added, report.updated, report.unchanged) == (0, 0, 1)
    assert _rows(site) == before and site.revision() == revision
