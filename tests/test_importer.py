"""Importing through the Python API on every backend: matching, idempotence, strictness."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from feeder import ConflictError, InputError, Person, Site
from feeder.importing import importer
from feeder.importing.formats import Draft
from tests.conftest import START, FakeClock
from tests.feedcheck import parse_feed
from tests.test_import_cli import snapshot_database

DAY = START.strftime("%Y-%m-%d")


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def jsonl(directory: Path, name: str, *records: dict[str, object]) -> Path:
    lines = "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
    return write(directory, name, lines)


def feeds(site: Site) -> dict[str, bytes]:
    site.build()
    return {name: (site.config.output_dir / name).read_bytes() for name in ("rss.xml", "atom.xml")}


# -- round trips, one per format ---------------------------------------------------------


def test_markdown_round_trip(site: Site, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "post.md",
        "---\ntitle: Markdown post\nslug: md-post\ntags: [news, Python]\n"
        "published: 2026-11-20T09:00:00Z\nauthor: Bob\n---\n"
        "Intro with a [relative link](other.html).\n\n| a | b |\n|---|---|\n| 1 | 2 |\n",
    )
    report = site.import_paths([path])
    assert (report.added, report.updated, report.unchanged, report.rejected) == (1, 0, 0, 0)
    article = site.get_article("md-post")
    assert article.title == "Markdown post"
    assert article.id == f"tag:example.org,{DAY}:/articles/md-post"
    assert [tag.name for tag in article.tags] == ["news", "Python"]
    assert article.author == Person("Bob")
    assert article.published_at == article.updated_at == datetime(2026, 11, 20, 9, tzinfo=UTC)
    assert article.summary == "Intro with a relative link."
    assert (
        '<a href="https://example.org/blog/articles/other.html" rel="noopener">' in article.content
    )
    assert "<td>2</td>" in article.content
    assert article.word_count == 9
    assert article.reading_minutes == 1


def test_html_round_trip(site: Site, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "page.html",
        "<html><head><title>An HTML page</title><script>x()</script></head>"
        '<body><article><p onclick="x()">Body <img src="img/a.png"></p></article></body></html>',
    )
    site.import_paths([path])
    article = site.get_article("an-html-page")
    assert article.title == "An HTML page"
    assert article.content == (
        '<p>Body <img src="https://example.org/blog/articles/img/a.png"></p>'
    )


def test_plain_text_round_trip_keeps_curly_quotes(site: Site, tmp_path: Path) -> None:
    write(
        tmp_path,
        "notes/letter.txt",
        "A “curly” letter\n\n"
        "It’s the first paragraph — with ‘single’ quotes…\n"
        "and a second line.\n\n"
        "The second paragraph says “hello”.\n\n"
        "The third: 5 < 6 & 7 > 2.\n",
    )
    site.import_paths([tmp_path / "notes"])
    article = site.get_article("a-curly-letter")
    assert article.title == "A “curly” letter"
    assert article.content == (
        "<p>It’s the first paragraph — with ‘single’ quotes…\nand a second line.</p>\n"
        "<p>The second paragraph says “hello”.</p>\n"
        "<p>The third: 5 &lt; 6 &amp; 7 &gt; 2.</p>"
    )
    assert article.summary == (
        "It’s the first paragraph — with ‘single’ quotes… and a second line."
    )
    parsed = parse_feed(feeds(site)["atom.xml"])
    assert parsed.entries[0].title == "A “curly” letter"
    assert "“hello”" in parsed.entries[0].content[0].value


def test_jsonl_round_trip(site: Site, tmp_path: Path) -> None:
    path = jsonl(
        tmp_path,
        "bulk.jsonl",
        {
            "title": "First",
            "slug": "first",
            "id": "urn:uuid:3c7a9c4e-0f54-4d8e-9d2b-6a1f0c7d8e9f",
            "link": "https://elsewhere.example/first",
            "summary": "Given summary",
            "author": "Carol",
            "tags": ["x"],
            "published": "2026-11-01T08:00:00Z",
            "updated": "2026-11-02T08:00:00Z",
            "content": "<p>One</p>",
        },
        {"title": "Second", "format": "md", "content": "**Two**"},
    )
    report = site.import_paths([path])
    assert report.added == 2 and report.ok
    first = site.get_article("first")
    assert first.id == "urn:uuid:3c7a9c4e-0f54-4d8e-9d2b-6a1f0c7d8e9f"
    assert first.url == first.link == "https://elsewhere.example/first"
    assert first.summary == "Given summary"
    assert first.updated_at == datetime(2026, 11, 2, 8, tzinfo=UTC)
    second = site.get_article("second")
    assert second.content == "<p><strong>Two</strong></p>\n"
    assert second.published_at == START  # not given: now


# -- idempotence and updates ------------------------------------------------------------


def test_importing_twice_changes_nothing_and_feeds_keep_their_bytes(
    site: Site, tmp_path: Path, clock: FakeClock
) -> None:
    write(tmp_path, "in/a.md", "---\ntitle: A\ntags: [t]\nauthor: Ann Author\n---\nText a\n")
    write(tmp_path, "in/b.txt", "B\n\nText b\n")
    jsonl(tmp_path, "in/c.jsonl", {"title": "C", "content": "<p>c</p>"})
    first = site.import_paths([tmp_path / "in"])
    assert first.added == 3
    before = feeds(site)
    database = snapshot_database(site.storage.engine)
    clock.advance(hours=5)
    again = site.import_paths([tmp_path / "in"])
    assert (again.added, again.updated, again.unchanged, again.rejected) == (0, 0, 3, 0)
    assert snapshot_database(site.storage.engine) == database
    assert site.build().written == ()
    assert feeds(site) == before


def test_changed_input_updates_the_article_but_never_its_id(
    site: Site, tmp_path: Path, clock: FakeClock
) -> None:
    path = write(tmp_path, "a.md", "---\ntitle: Original\nslug: post\n---\nOld text\n")
    site.import_paths([path])
    original = site.get_article("post")
    revision = site.revision()
    clock.advance(days=1)
    write(tmp_path, "a.md", "---\ntitle: Changed\nslug: post\ntags: [new]\n---\nNew text\n")
    report = site.import_paths([path])
    assert (report.added, report.updated) == (0, 1)
    assert [(c.action, c.slug) for c in report.changes] == [("update", "post")]
    changed = site.get_article("post")
    assert changed.id == original.id
    assert changed.title == "Changed"
    assert changed.summary == "New text"
    assert [tag.slug for tag in changed.tags] == ["new"]
    assert changed.published_at == original.published_at
    assert changed.updated_at == clock.value
    assert site.revision() == revision + 1


def test_matched_by_id_a_new_slug_renames_and_the_old_page_goes(
    site: Site, tmp_path: Path, clock: FakeClock
) -> None:
    record = {"id": "tag:example.org,2020:/p/1", "title": "T", "slug": "old", "content": "<p>x</p>"}
    path = jsonl(tmp_path, "a.jsonl", record)
    site.import_paths([path])
    site.build()
    old_page = site.config.output_dir / "articles/old.html"
    assert old_page.exists()
    clock.advance(minutes=1)
    jsonl(tmp_path, "a.jsonl", record | {"slug": "new"})
    assert site.import_paths([path]).updated == 1
    article = site.get_article("new")
    assert article.id == "tag:example.org,2020:/p/1"
    report = site.build()
    assert "articles/old.html" in report.removed
    assert not old_page.exists()
    assert (site.config.output_dir / "articles/new.html").exists()


def test_an_article_added_by_hand_is_matched_by_slug(site: Site, tmp_path: Path) -> None:
    added = site.add_article("By hand", content="<p>v1</p>")
    path = write(tmp_path, "x.md", "---\ntitle: By hand\n---\nv2\n")
    report = site.import_paths([path])
    assert report.updated == 1
    assert site.get_article(added.slug).id == added.id
    assert site.get_article(added.slug).content == "<p>v2</p>\n"


def test_same_title_twice_gets_stable_unique_slugs(site: Site, tmp_path: Path) -> None:
    write(tmp_path, "in/1.md", "---\ntitle: Notes\n---\none\n")
    write(tmp_path, "in/2.md", "---\ntitle: Notes\n---\ntwo\n")
    site.import_paths([tmp_path / "in"])
    assert site.get_article("notes").content == "<p>one</p>\n"
    assert site.get_article("notes-2").content == "<p>two</p>\n"
    again = site.import_paths([tmp_path / "in"])
    assert again.unchanged == 2 and again.added == 0


def test_a_new_id_whose_derived_slug_is_taken_gets_another_slug(site: Site) -> None:
    site.add_article("Taken")
    report = site.import_drafts([Draft("script", title="Taken", id="urn:x:1", content="<p>n</p>")])
    assert report.added == 1
    assert [c.slug for c in report.changes] == ["taken-2"]
    assert site.get_article("taken-2").id == "urn:x:1"


def test_duplicate_slug_with_a_different_id_is_rejected(site: Site, tmp_path: Path) -> None:
    site.add_article("Mine", slug="mine")
    before = snapshot_database(site.storage.engine)
    path = jsonl(tmp_path, "a.jsonl", {"title": "Other", "slug": "mine", "id": "urn:x:other"})
    report = site.import_paths([path])
    assert report.rejected == 1 and report.exit_code == 65
    message = str(report.failures[0])
    assert message.startswith("a.jsonl:1: slug: 'mine' is already used by an article") or (
        str(path) + ":1: slug: 'mine' is already used" in message
    )
    assert "different id" in message
    assert snapshot_database(site.storage.engine) == before


def test_bad_inputs_are_skipped_and_good_ones_imported(site: Site, tmp_path: Path) -> None:
    write(tmp_path, "in/good.md", "---\ntitle: Good\n---\nok\n")
    write(tmp_path, "in/bad.md", "---\ntitle: Bad\npublished: yesterday\n---\n")
    jsonl(tmp_path, "in/mixed.jsonl", {"title": "J"}, {"title": "K", "link": "nope"})
    report = site.import_paths([tmp_path / "in"])
    assert (report.added, report.rejected) == (2, 2)
    assert sorted(a.slug for a in site.list_articles()) == ["good", "j"]
    messages = [str(failure) for failure in report.failures]
    assert messages[0].endswith(
        "bad.md: published: cannot read 'yesterday' as a date; use ISO 8601, "
        "e.g. 2026-11-26T09:30:00Z"
    )
    assert messages[1].endswith(
        "mixed.jsonl:2: link: 'nope' is not an absolute http(s) URL; "
        "use e.g. 'https://example.org/post'"
    )


def test_strict_aborts_everything_at_the_first_bad_input(site: Site, tmp_path: Path) -> None:
    write(tmp_path, "in/a.md", "---\ntitle: A\n---\nok\n")
    write(tmp_path, "in/b.md", "no title here\n")
    before = snapshot_database(site.storage.engine)
    with pytest.raises(InputError, match=r"b\.md: title: missing"):
        site.import_paths([tmp_path / "in"], strict=True)
    assert snapshot_database(site.storage.engine) == before


def test_strict_import_is_one_transaction_and_one_revision(site: Site, tmp_path: Path) -> None:
    records = [{"title": f"T{n}", "content": f"<p>{n}</p>"} for n in range(7)]
    path = jsonl(tmp_path, "a.jsonl", *records)
    revision = site.revision()
    report = site.import_drafts(
        _drafts_of(path), strict=True
    )  # the default batch size holds them all
    assert report.added == 7
    assert site.revision() == revision + 1


def _drafts_of(path: Path) -> list[Draft]:
    from feeder.importing.formats import resolve
    from feeder.importing.sources import drafts_from_paths

    drafts = [resolve(item) for item in drafts_from_paths([path])]  # type: ignore[arg-type]
    assert all(isinstance(draft, Draft) for draft in drafts)
    return drafts  # type: ignore[return-value]


def test_many_batches_behave_like_one(site: Site, tmp_path: Path) -> None:
    from feeder.importing import importer

    records = [{"title": "Same", "content": f"<p>{n}</p>"} for n in range(5)]
    # The sixth names the slug the third derived, in an earlier batch: the same article.
    records.append({"title": "Same", "slug": "same-3", "content": "<p>2</p>"})
    path = jsonl(tmp_path, "a.jsonl", *records)
    report = importer.run(site.storage, site.config, _drafts_of(path), now=site.now(), batch_size=2)
    assert report.ok, report.failures
    slugs = sorted(article.slug for article in site.list_articles())
    assert slugs == ["same", "same-2", "same-3", "same-4", "same-5"]
    assert (report.added, report.updated, report.unchanged) == (5, 0, 1)
    again = importer.run(site.storage, site.config, _drafts_of(path), now=site.now(), batch_size=2)
    assert again.unchanged == 6


def test_dry_run_reports_and_stores_nothing(site: Site, tmp_path: Path) -> None:
    site.add_article("Existing", slug="existing", content="<p>old</p>")
    write(tmp_path, "in/existing.md", "---\ntitle: Existing\nslug: existing\n---\nnew\n")
    write(tmp_path, "in/new.md", "---\ntitle: New\n---\nx\n")
    before = snapshot_database(site.storage.engine)
    report = site.import_paths([tmp_path / "in"], dry_run=True)
    assert report.dry_run
    assert sorted((c.action, c.slug) for c in report.changes) == [
        ("add", "new"),
        ("update", "existing"),
    ]
    assert (
        report.summary()
        == "1 added, 1 updated, 0 unchanged, 0 rejected (dry run: nothing was written)"
    )
    assert snapshot_database(site.storage.engine) == before


# -- fields ------------------------------------------------------------------------------------


def test_naive_dates_are_refused_without_a_time_zone(site: Site, tmp_path: Path) -> None:
    path = write(tmp_path, "a.md", "---\ntitle: A\npublished: 2026-11-20T09:00:00\n---\n")
    report = site.import_paths([path])
    assert report.rejected == 1
    assert str(report.failures[0]).endswith(
        "a.md: published: 2026-11-20T09:00:00 has no time zone; add one (e.g. 'Z' or "
        "'+01:00') or set 'timezone' in feeder.toml"
    )


def test_naive_dates_are_read_in_the_configured_time_zone(
    site_dir: Path, database_url: str, clock: FakeClock, tmp_path: Path
) -> None:
    Site.init(site_dir, database_url=database_url, clock=clock).close()
    config = site_dir / "feeder.toml"
    config.write_text('timezone = "Europe/Berlin"\n' + config.read_text())
    path = write(tmp_path, "a.md", "---\ntitle: A\npublished: 2026-07-01T09:00:00\n---\n")
    with Site.open(config, database_url=database_url, clock=clock) as site:
        assert site.import_paths([path]).ok
        assert site.get_article("a").published_at == datetime(2026, 7, 1, 7, tzinfo=UTC)


def test_size_limits_come_from_the_config(site: Site, tmp_path: Path) -> None:
    limits = site.config.content
    path = jsonl(
        tmp_path,
        "a.jsonl",
        {"title": "x" * (limits.max_title_chars + 1)},
        {"title": "big", "content": "é" * limits.max_content_bytes},
    )
    long_title, big = (str(failure) for failure in site.import_paths([path]).failures)
    assert long_title.endswith(
        f"a.jsonl:1: title: {limits.max_title_chars + 1} characters is over the limit of "
        f"{limits.max_title_chars}; shorten it or raise content.max_title_chars in feeder.toml"
    )
    assert big.endswith(
        f"a.jsonl:2: content: {2 * limits.max_content_bytes} bytes is over the limit of "
        f"{limits.max_content_bytes}; shorten it or raise content.max_content_bytes in feeder.toml"
    )


def test_xml_forbidden_characters_are_removed_from_every_field(site: Site) -> None:
    report = site.import_drafts(
        [
            Draft(
                "script",
                title="Ti\x00tle\ufffe",
                summary="Sum\x1fmary",
                content="<p>Con\x0btent</p>",
                author="Au\x08thor",
                tags=("t\x01ag",),
                link="https://example.org/\x0cx",
            )
        ]
    )
    assert report.ok, report.failures
    article = site.get_article("title")
    assert (article.title, article.summary, article.content) == (
        "Title",
        "Summary",
        "<p>Content</p>",
    )
    assert article.author == Person("Author")
    assert [t.name for t in article.tags] == ["tag"]
    assert article.link == "https://example.org/x"


def test_the_site_author_gets_the_configured_email(site: Site) -> None:
    site.import_drafts([Draft("s", title="A", author="Ann Author")])
    author = site.get_article("a").author
    assert author is not None and author.name == "Ann Author"
    assert author == site.get_article("a").author


def test_an_author_given_in_full_updates_the_stored_one(site: Site) -> None:
    site.import_drafts([Draft("s", title="A", author="Dora")])
    site.import_drafts(
        [Draft("s", title="B", author=Person("Dora", "dora@example.org", "https://dora.example"))]
    )
    assert site.get_article("a").author == Person(
        "Dora", "dora@example.org", "https://dora.example"
    )


def test_iframes_are_kept_when_the_config_allows_them(
    site_dir: Path, database_url: str, clock: FakeClock
) -> None:
    Site.init(site_dir, database_url=database_url, clock=clock).close()
    config = site_dir / "feeder.toml"
    frame = '<iframe src="https://video.example/1"></iframe>'
    with Site.open(config, database_url=database_url, clock=clock) as site:
        site.import_drafts([Draft("s", title="No frames", content=frame)])
        assert site.get_article("no-frames").content == ""
    config.write_text(config.read_text() + "\n[content]\nallow_iframes = true\n")
    with Site.open(config, database_url=database_url, clock=clock) as site:
        site.import_drafts([Draft("s", title="Frames", content=frame)])
        assert site.get_article("frames").content == frame


def test_add_article_also_resolves_relative_urls(site: Site) -> None:
    article = site.add_article("Rel", content='<a href="x.html">x</a>')
    assert article.content == (
        '<a href="https://example.org/blog/articles/x.html" rel="noopener">x</a>'
    )
    edited = site.edit_article("rel", content='<img src="/i.png">', link="https://b.example/p/")
    assert edited.content == '<img src="https://b.example/i.png">'


def test_a_conflicting_id_from_another_article_is_refused(site: Site) -> None:
    site.import_drafts([Draft("s", title="One", slug="one", id="urn:x:1")])
    with pytest.raises(ConflictError, match=r"^s: slug: 'one' is already used"):
        site.import_drafts([Draft("s", title="Two", slug="one", id="urn:x:2")], strict=True)


def test_ids_of_deleted_articles_are_never_minted_again(site: Site) -> None:
    deleted = site.add_article("Gone")
    site.delete_article("gone")
    report = site.import_drafts([Draft("s", title="Gone")])
    article = site.get_article("gone")
    assert article.id != deleted.id
    assert article.id == deleted.id + "-2"
    assert [change.id for change in report.changes] == [article.id]


def test_values_longer_than_their_columns_are_refused(site: Site) -> None:
    before = snapshot_database(site.storage.engine)
    report = site.import_drafts(
        [
            Draft("a", title="A", author="x" * 501),
            Draft("b", title="B", tags=("t" * 201,)),
            Draft("c", title="C", link="https://example.org/" + "p" * 2000),
        ]
    )
    assert [str(failure) for failure in report.failures] == [
        "a: author: 501 characters is over the limit of 500; shorten it",
        "b: tag: 201 characters is over the limit of 200; shorten it",
        "c: link: 2020 characters is over the limit of 2000; shorten it",
    ]
    assert snapshot_database(site.storage.engine) == before


def _planner_rows(site: Site, table: str) -> float:
    """What PostgreSQL's planner believes ``table`` holds (-1: it was never analyzed)."""
    with site.storage.engine.connect() as connection:
        found = connection.exec_driver_sql(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(%(t)s)", {"t": table}
        ).scalar_one()
    return float(found)


def test_a_bulk_import_brings_postgresqls_statistics_up_to_date(
    pg_site: Site, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without statistics (autovacuum off, or not there yet) PostgreSQL planned the next
    full build's tag reads as scans of the whole table."""
    monkeypatch.setattr(importer, "ANALYZE_FROM", 20)
    few = [
        Draft(origin=f"few:{n}", title=f"Few {n}", content="<p>x</p>", tags=("a",))
        for n in range(5)
    ]
    pg_site.import_drafts(few)
    assert _planner_rows(pg_site, "article_tags") == -1  # a small import leaves them be
    many = [
        Draft(origin=f"many:{n}", title=f"Post {n}", content="<p>x</p>", tags=("a", "b"))
        for n in range(30)
    ]
    report = pg_site.import_drafts(many)
    assert report.added == 30
    assert _planner_rows(pg_site, "articles") == 35
    assert _planner_rows(pg_site, "article_tags") == 65
