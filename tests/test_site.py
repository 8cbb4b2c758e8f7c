"""The Python API on every backend: what a script using feeder.Site can rely on."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from feeder import (
    Article,
    ConflictError,
    FeederError,
    InputError,
    NotFoundError,
    Person,
    Site,
    StorageError,
)
from tests.conftest import START, FakeClock

DAY = START.strftime("%Y-%m-%d")


def snapshot(site: Site) -> tuple[int, list[Article]]:
    return site.revision(), site.list_articles()


def test_add_and_read_back_every_field(site: Site) -> None:
    added = site.add_article(
        "Hello, World!",
        content="<p>First <strong>post</strong>.</p><script>alert(1)</script>",
        summary="A greeting",
        author=Person("Bob", "bob@example.org", "https://example.org/bob"),
        tags=["News", "python ", "news"],
        published="2026-11-25T10:00:00+02:00",
    )
    assert added.slug == "hello-world"
    assert added.id == f"tag:example.org,{DAY}:/articles/hello-world"
    assert added.url == "https://example.org/blog/articles/hello-world.html"
    assert added.link is None
    assert added.summary == "A greeting"
    assert "<script>" not in added.content and "<strong>post</strong>" in added.content
    assert added.author == Person("Bob", "bob@example.org", "https://example.org/bob")
    assert [(t.slug, t.name) for t in added.tags] == [("news", "News"), ("python", "python")]
    assert added.published_at == datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    assert added.updated_at == added.published_at
    assert added.created_at == START
    assert site.get_article("hello-world") == added
    assert site.list_articles() == [added]


def test_defaults_publish_now_and_derive_slug_and_summary(site: Site, clock: FakeClock) -> None:
    clock.advance(microseconds=250_000)
    article = site.add_article("  Ünïcode títle  ", content="<p>First para.</p><p>Second.</p>")
    assert article.title == "Ünïcode títle"
    assert article.slug == "unicode-title"
    assert article.summary == "First para."
    # Fractions of a second are kept: they tell apart articles written in one second.
    assert article.published_at == START + timedelta(microseconds=250_000)
    again = site.add_article("Ünïcode títle")
    assert again.slug == "unicode-title-2"
    assert again.id != article.id


def test_external_link_is_the_url(site: Site) -> None:
    article = site.add_article("Elsewhere", link="https://other.example.net/x")
    assert article.link == article.url == "https://other.example.net/x"


def test_list_filters_scheduled_articles_and_orders_newest_first(
    site: Site, clock: FakeClock
) -> None:
    site.add_article("Old", published=START - timedelta(days=2))
    site.add_article("Later", published=START + timedelta(hours=1))
    site.add_article("Tie a", published=START - timedelta(days=1))
    site.add_article("Tie b", published=START - timedelta(days=1))
    assert [a.slug for a in site.list_articles()] == ["later", "tie-b", "tie-a", "old"]
    assert [a.slug for a in site.list_articles(status="published")] == ["tie-b", "tie-a", "old"]
    assert [a.slug for a in site.list_articles(status="scheduled")] == ["later"]
    assert [a.slug for a in site.list_articles(limit=2)] == ["later", "tie-b"]
    assert site.next_scheduled() == START + timedelta(hours=1)
    clock.advance(hours=1)
    assert site.list_articles(status="scheduled") == []
    assert site.next_scheduled() is None


def test_delete_removes_and_ids_are_never_reused(site: Site) -> None:
    first = site.add_article("Same")
    deleted = site.delete_article("same")
    assert deleted.id == first.id
    with pytest.raises(NotFoundError):
        site.get_article("same")
    second = site.add_article("Same")
    assert second.slug == "same"
    assert second.id != first.id


# -- the permanent id ----------------------------------------------------------------


def test_id_never_changes_on_slug_title_link_or_base_url_change(
    site: Site, clock: FakeClock
) -> None:
    original = site.add_article("Original title", tags=["a"])
    clock.advance(days=40)
    site.edit_article("original-title", title="New title")
    site.edit_article("original-title", new_slug="renamed")
    site.edit_article("renamed", link="https://elsewhere.example/x")
    site.edit_article("renamed", link=None)
    assert site.get_article("renamed").id == original.id
    moved = Site(
        dataclasses.replace(
            site.config, base_url="https://new.example.com/", id_authority="new.example.com"
        ),
        site.storage,
        clock,
    )
    article = moved.get_article("renamed")
    assert article.id == original.id
    assert article.url == "https://new.example.com/articles/renamed.html"
    # A new article at the old slug gets its own id.
    assert moved.add_article("Original title", slug="original-title").id != original.id


# -- updated_at and no-op edits --------------------------------------------------------


def test_updated_moves_only_on_a_visible_change(site: Site, clock: FakeClock) -> None:
    site.add_article("Title", content="<p>Body</p>", tags=["a", "b"], author="Bob", published=START)
    before = snapshot(site)
    clock.advance(hours=1)
    same: dict[str, Any] = {
        "title": " Title ",
        "content": "<p>Body</p>",
        "tags": ["B", "a"],
        "author": "Bob",
        "published": "2026-11-26T13:00:00+01:00",
        "link": None,
        "new_slug": "title",
        "summary": "",  # '' means "derived from the content", as it already is
    }
    for key, value in same.items():
        site.edit_article("title", **{key: value})
        assert snapshot(site) == before, f"edit of {key} with the same value wrote something"
    site.edit_article("title", **same)
    assert snapshot(site) == before

    edited = site.edit_article("title", content="<p>New body</p>")
    assert edited.updated_at == START + timedelta(hours=1)
    assert edited.published_at == START
    assert edited.summary == "New body"  # a derived summary follows the content
    assert site.revision() == before[0] + 1


@pytest.mark.parametrize(
    ("change", "value"),
    [
        ("title", "Other"),
        ("summary", "Hand-written"),
        ("tags", ["c"]),
        ("author", "Carol"),
        ("author", None),
        ("link", "https://example.net/"),
    ],
)
def test_each_visible_change_moves_updated(
    site: Site, clock: FakeClock, change: str, value: Any
) -> None:
    site.add_article("Title", content="<p>Body</p>", tags=["a"], author="Bob")
    revision = site.revision()
    clock.advance(minutes=5)
    edited = site.edit_article("title", **{change: value})
    assert edited.updated_at == START + timedelta(minutes=5)
    assert site.revision() == revision + 1


# -- bad input: the right error, naming the field, nothing changed --------------------


def _assert_refused(site: Site, call: Any, error: type[FeederError], field: str) -> FeederError:
    before = snapshot(site)
    with pytest.raises(error) as caught:
        call()
    message = str(caught.value)
    assert message.startswith(f"{field}:") or f"{field}" in message.split(":")[0], message
    assert "\n" not in message
    assert snapshot(site) == before
    return caught.value


@pytest.fixture
def existing(site: Site) -> Site:
    site.add_article("Existing", content="<p>x</p>")
    site.add_article("Other")
    return site


BAD_ADDS: list[tuple[dict[str, Any], type[FeederError], str]] = [
    ({"title": ""}, InputError, "title"),
    ({"title": "   "}, InputError, "title"),
    ({"title": "\x01\x02"}, InputError, "title"),
    ({"title": None}, InputError, "title"),
    ({"title": "x" * 501}, InputError, "title"),
    ({"title": "T", "slug": "existing"}, ConflictError, "slug"),
    ({"title": "T", "slug": "Not A Slug"}, InputError, "slug"),
    ({"title": "T", "slug": "../etc"}, InputError, "slug"),
    ({"title": "T", "link": "foo/bar"}, InputError, "link"),
    ({"title": "T", "link": "/relative"}, InputError, "link"),
    ({"title": "T", "link": "ftp://example.org/x"}, InputError, "link"),
    ({"title": "T", "link": "javascript:alert(1)"}, InputError, "link"),
    ({"title": "T", "published": "yesterday"}, InputError, "published"),
    ({"title": "T", "published": "2026-13-45T00:00:00Z"}, InputError, "published"),
    ({"title": "T", "published": "2026-11-26T10:00:00"}, InputError, "published"),
    ({"title": "T", "published": datetime(2026, 11, 26)}, InputError, "published"),  # noqa: DTZ001
    ({"title": "T", "updated": "soon"}, InputError, "updated"),
    ({"title": "T", "tags": ["ok", "!!!"]}, InputError, "tag"),
    ({"title": "T", "content": "x" * 1_000_001}, InputError, "content"),
    ({"title": "T", "id": "not a uri"}, InputError, "id"),
    (
        {"title": "T", "author": Person("A", uri="/relative")},
        InputError,
        "author uri",
    ),
    # Longer than the columns: PostgreSQL would refuse the row with a driver error.
    ({"title": "T", "author": "a" * 501}, InputError, "author"),
    ({"title": "T", "author": Person("A", "a" * 490 + "@example.org")}, InputError, "author email"),
    ({"title": "T", "tags": ["t" * 201]}, InputError, "tag"),
    ({"title": "T", "link": "https://e.org/" + "p" * 2000}, InputError, "link"),
    ({"title": "T", "id": "urn:x:" + "i" * 2000}, InputError, "id"),
]


@pytest.mark.parametrize(("kwargs", "error", "field"), BAD_ADDS)
def test_bad_add_is_refused_and_changes_nothing(
    existing: Site, kwargs: dict[str, Any], error: type[FeederError], field: str
) -> None:
    rest = {k: v for k, v in kwargs.items() if k != "title"}
    _assert_refused(existing, lambda: existing.add_article(kwargs["title"], **rest), error, field)


def test_duplicate_explicit_id_is_a_conflict(existing: Site) -> None:
    taken = existing.get_article("existing").id
    _assert_refused(existing, lambda: existing.add_article("T", id=taken), ConflictError, "id")


BAD_EDITS: list[tuple[str, dict[str, Any], type[FeederError], str]] = [
    ("missing", {"title": "T"}, NotFoundError, "slug"),
    ("existing", {"new_slug": "other"}, ConflictError, "slug"),
    ("existing", {"new_slug": "Bad Slug"}, InputError, "slug"),
    ("existing", {"title": ""}, InputError, "title"),
    ("existing", {"link": "example.org/post"}, InputError, "link"),
    ("existing", {"published": "not a date"}, InputError, "published"),
    ("existing", {"published": "2026-11-26 10:00"}, InputError, "published"),
    ("existing", {"tags": ["???"]}, InputError, "tag"),
    ("existing", {"title": "Fine", "link": "nope"}, InputError, "link"),
    ("existing", {"author": "a" * 501}, InputError, "author"),
    ("existing", {"tags": ["ok", "t" * 201]}, InputError, "tag"),
    ("existing", {"link": "https://e.org/" + "p" * 2000}, InputError, "link"),
]


@pytest.mark.parametrize(("slug", "kwargs", "error", "field"), BAD_EDITS)
def test_bad_edit_is_refused_and_changes_nothing(
    existing: Site, slug: str, kwargs: dict[str, Any], error: type[FeederError], field: str
) -> None:
    _assert_refused(existing, lambda: existing.edit_article(slug, **kwargs), error, field)


def test_unknown_slug_on_get_and_delete(existing: Site) -> None:
    for call in (lambda: existing.get_article("nope"), lambda: existing.delete_article("nope")):
        error = _assert_refused(existing, call, NotFoundError, "slug")
        assert "'nope'" in str(error)
        assert isinstance(error, LookupError)


def test_errors_subclass_the_matching_builtins() -> None:
    assert issubclass(InputError, ValueError)
    assert issubclass(ConflictError, ValueError)
    assert issubclass(NotFoundError, LookupError)


def test_dates_without_offset_use_the_configured_zone(site: Site) -> None:
    zoned = Site(dataclasses.replace(site.config, timezone="Europe/Berlin"), site.storage)
    article = zoned.add_article("Zoned", published="2026-07-01T12:00:00")
    assert article.published_at == datetime(2026, 7, 1, 10, 0, tzinfo=UTC)


def test_updated_before_published_is_raised_to_published(site: Site) -> None:
    article = site.add_article(
        "Odd", published="2026-11-20T00:00:00Z", updated="2026-11-01T00:00:00Z"
    )
    assert article.updated_at == article.published_at


def test_to_dict_is_json_ready(site: Site) -> None:
    article = site.add_article("Later", published=START + timedelta(days=1), content="<p>a b c</p>")
    data = article.to_dict(START)
    assert data["status"] == "scheduled"
    assert data["published"] == "2026-11-27T12:00:00+00:00"
    assert data["word_count"] == 3 and data["reading_minutes"] == 1


def test_changing_the_author_email_is_a_visible_change(site: Site, clock: FakeClock) -> None:
    site.add_article("Title", author=Person("Bob", "bob@old.example"))
    revision = site.revision()
    clock.advance(hours=1)
    edited = site.edit_article("title", author=Person("Bob", "bob@new.example"))
    assert edited.author == Person("Bob", "bob@new.example")
    assert site.revision() == revision + 1
    assert edited.updated_at == START + timedelta(hours=1)


def test_giving_an_article_without_author_a_new_author_is_a_visible_change(
    site: Site, clock: FakeClock
) -> None:
    site.add_article("Title")
    site.edit_article("title", author=None)
    revision = site.revision()
    clock.advance(hours=1)
    edited = site.edit_article("title", author=Person("Newcomer", "new@example.org"))
    assert edited.author == Person("Newcomer", "new@example.org")
    assert site.revision() == revision + 1
    assert edited.updated_at == START + timedelta(hours=1)


# -- a database that is not there is never made up ------------------------------------


def _config_without_database(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "feeder.toml"
    path.write_text(
        f'title = "T"\nbase_url = "https://example.org/"\ndatabase_url = "{url}"\n',
        encoding="utf-8",
    )
    return path


def test_opening_a_missing_sqlite_database_is_refused_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "dir" / "feeder.db"
    config = _config_without_database(tmp_path, f"sqlite:///{missing}")
    with pytest.raises(StorageError, match="does not exist; run 'feeder init'") as caught:
        Site.open(config)
    assert caught.value.exit_code == 69
    assert not (tmp_path / "no").exists()


def test_a_database_moved_away_is_noticed_and_never_replaced(tmp_path: Path) -> None:
    with Site.init(tmp_path, title="T", base_url="https://example.org/") as site:
        site.add_article("Kept")
        database = tmp_path / "feeder.db"
        database.rename(tmp_path / "moved.db")
        with pytest.raises(StorageError, match="no such database file") as caught:
            site.add_article("Lost")
        assert caught.value.exit_code == 69
        assert not database.exists()
        (tmp_path / "moved.db").rename(database)
        assert [a.slug for a in site.list_articles()] == ["kept"]
        site.add_article("Back")
    with Site.open(tmp_path / "feeder.toml") as site:
        assert [a.slug for a in site.list_articles()] == ["back", "kept"]


def test_a_file_that_is_no_database_is_one_storage_error(tmp_path: Path) -> None:
    garbage = tmp_path / "feeder.db"
    garbage.write_bytes(os.urandom(8192))
    config = _config_without_database(tmp_path, f"sqlite:///{garbage}")
    with pytest.raises(StorageError, match="database: ") as caught:
        Site.open(config)
    assert "\n" not in str(caught.value)


def test_a_database_without_a_feeder_site_is_refused(tmp_path: Path, database_url: str) -> None:
    if database_url.startswith("sqlite"):
        sqlite3.connect(tmp_path / "feeder.db").close()  # an empty SQLite file
    config = _config_without_database(tmp_path, database_url)
    with pytest.raises(StorageError, match="holds no feeder site; run 'feeder init'"):
        Site.open(config)
    with Site.open(config, create=True) as site:  # what init does
        assert site.revision() == 0
