"""Derived values: word counts and content seals stored when feeder writes, never trusted blindly.

feeder computes an article's word count (and whether its content is exactly what its
sanitiser gives) once, when it writes the article; builds use them instead of
counting and sanitising every page again. Another program that changes the content
cannot keep them valid: its rows are counted and sanitised again when published.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from alembic import command
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, text

from db import migrate
from db.engine import create as create_engine
from feeder import Site
from feeder._content import sanitize_html, word_count
from feeder._derived import Sealer, content_hash
from feeder._text import clean_text
from tests.conftest import START, FakeClock

MIGRATION = Path(migrate.__file__).parent / "migrations" / "versions" / "0007_derived_values.py"


def _migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0007", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(site: Site, slug: str) -> dict[str, Any]:
    with site.storage.engine.connect() as connection:
        row = connection.execute(
            text(
                "SELECT word_count, content_hash, content_seal, content FROM articles "
                "WHERE slug = :s"
            ),
            {"s": slug},
        ).one()
    return dict(row._mapping)


def _sql(site: Site, statement: str, **params: Any) -> None:
    with site.storage.engine.begin() as connection:
        connection.execute(text("UPDATE state SET revision = revision + 1"))
        connection.execute(text(statement), params)
        connection.execute(text("UPDATE articles SET revision = (SELECT revision FROM state)"))


def _page(site: Site, slug: str) -> str:
    return (site.config.output_dir / "articles" / f"{slug}.html").read_text()


def _words_shown(page: str) -> int | None:
    found = re.search(r" · ([\d,]+) words, \d+ min read", page)
    return int(found.group(1).replace(",", "")) if found else None


BODY = "<p>One two three.</p><p>Four <em>five</em> six, 七八九.</p>"


def test_the_write_path_stores_the_word_count_the_hash_and_a_seal(site: Site) -> None:
    site.add_article("Counted", content=BODY)
    row = _row(site, "counted")
    assert row["word_count"] == word_count(BODY) == 10
    assert row["content_hash"] == content_hash(row["content"])
    assert row["content_seal"] is not None
    site.build()
    assert _words_shown(_page(site, "counted")) == 10


def test_an_edit_derives_them_again(site: Site, clock: FakeClock) -> None:
    site.add_article("Edited", content=BODY)
    clock.advance(minutes=1)
    site.edit_article("edited", content="<p>Just two.</p>")
    row = _row(site, "edited")
    assert (row["word_count"], row["content_hash"]) == (2, content_hash("<p>Just two.</p>"))
    clock.advance(minutes=1)
    site.edit_article("edited", title="New title")  # content as it was: still sealed
    assert _row(site, "edited")["content_seal"] == row["content_seal"]


@pytest.mark.parametrize("full", [False, True], ids=["incremental", "full"])
def test_a_count_another_program_left_stale_is_not_shown(site: Site, full: bool) -> None:
    site.add_article("Stale", content=BODY)
    site.build()
    _sql(site, "UPDATE articles SET content = '<p>Only three words.</p>' WHERE slug = 'stale'")
    assert _row(site, "stale")["word_count"] == 10  # what the other program left
    site.build(full=full)
    assert _words_shown(_page(site, "stale")) == 3


def _seal_as(site: Site, content: str, key: str) -> str:
    sealer = Sealer.of(key, allow_iframes=site.config.content.allow_iframes)
    assert sealer is not None
    return sealer.seal(content_hash(content))


HOSTILE = '<p onclick="steal()">Hi<script>steal()</script><a href="javascript:x">y</a></p>'


@pytest.mark.parametrize(
    "forgery",
    ["keeps the old seal", "copies another row's seal", "seals with a guessed key", "no seal"],
)
def test_unsafe_content_with_a_seal_it_could_make_is_sanitised_anyway(
    site: Site, forgery: str
) -> None:
    site.add_article("Victim", content="<p>Fine.</p>")
    site.add_article("Other", content="<p>Also fine.</p>")
    site.build()
    seal = {
        "keeps the old seal": _row(site, "victim")["content_seal"],
        "copies another row's seal": _row(site, "other")["content_seal"],
        "seals with a guessed key": _seal_as(site, HOSTILE, "0" * 64),
        "no seal": None,
    }[forgery]
    # The other program even stores the right hash and a word count.
    _sql(
        site,
        "UPDATE articles SET content = :c, content_hash = :h, word_count = 3, "
        "content_seal = :s WHERE slug = 'victim'",
        c=HOSTILE,
        h=content_hash(HOSTILE),
        s=seal,
    )
    for full in (False, True):
        assert site.build(full=full).ok
        published = b"".join(
            p.read_bytes() for p in site.config.output_dir.rglob("*") if p.is_file()
        )
        assert b"steal" not in published and b"javascript" not in published
        assert "Hi" in _page(site, "victim")


def test_only_the_site_secret_makes_a_seal_that_holds(site: Site) -> None:
    site.add_article("Sealed", content="<p>Kept as written.</p>")
    with site.storage.read() as reader:
        key = reader.state().seal_key
    assert key is not None and len(key) == 64
    row = _row(site, "sealed")
    assert row["content_seal"] == _seal_as(site, row["content"], key)
    assert row["content_seal"] != _seal_as(site, row["content"], "f" * 64)


def test_allowing_iframes_no_longer_lets_sealed_iframes_through_once_switched_off(
    site: Site, clock: FakeClock
) -> None:
    embed = '<p>Watch:</p><iframe src="https://video.example/1"></iframe>'
    with_iframes = dataclasses.replace(
        site.config,
        content=dataclasses.replace(site.config.content, allow_iframes=True),
    )
    Site(with_iframes, site.storage, clock).add_article("Embed", content=embed)
    assert "<iframe" in _row(site, "embed")["content"]
    assert _row(site, "embed")["content_seal"] is not None
    site.build(full=True)  # iframes are not allowed (any more)
    assert "<iframe" not in _page(site, "embed") and "Watch:" in _page(site, "embed")


CORPUS = [
    BODY,
    '<p>A <a href="../rel">relative</a> link &amp; an <img src="data:image/png;base64,AAA">.</p>',
    "<h2>Heading</h2><ul><li>one</li><li>two</li></ul><pre>  code\n  block</pre>",
    "<table><tr><td>1</td><td>2</td></tr></table><blockquote>Quoted.</blockquote>",
    "<p>これは日本語の文章です</p><p>我们明天见 See you</p><p>한국어는 띄어쓰기를 합니다</p>",
    "<p>&nbsp;é&#x26;&lt;b&gt; “quotes” and ‘more’…</p><!-- a comment --><p>after</p>",
    "<p>x<br>y<hr>z</p><div><p>nested<p>more</div><figure><figcaption>Cap</figcaption></figure>",
    '<p title="a&quot;b">t</p><p>\u202eevil\u202c</p><svg><text>x</text></svg>',
]


def test_sealed_pages_are_the_bytes_sanitising_again_gives(site: Site) -> None:
    """Publishing sealed content as stored changes no byte of any file."""
    for n, body in enumerate(CORPUS):
        site.add_article(
            f"Article {n}", content=body, tags=["t"], published=START - timedelta(hours=n)
        )
    site.build()
    root = site.config.output_dir
    sealed = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    _sql(site, "UPDATE articles SET content_seal = NULL, word_count = NULL")
    site.build(full=True)
    again = {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert again == sealed
    for body in CORPUS:  # and every body of the corpus was sealable
        clean = sanitize_html(body, base_url="https://example.org/blog/articles/x.html")
        assert sanitize_html(clean) == clean


# -- migration 0007: existing rows get their counts -------------------------------------


@pytest.fixture
def old_database(database_url: str, site_dir: Path) -> Iterator[Engine]:
    """A site's database as migration 0004 left it (before derived values)."""
    engine = create_engine(database_url, create=True)
    config = migrate._config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0004")
    yield engine
    engine.dispose()


def test_the_migration_counts_the_words_of_every_existing_row(
    old_database: Engine, site_dir: Path, database_url: str, clock: FakeClock
) -> None:
    # More rows than the migration counts at once (it goes a thousand at a time).
    rows = [*CORPUS, "", "<p>" + "word " * 5000 + "</p>"]
    rows += [f"<p>Filler {n}.</p>" for n in range(2 * 1000 + 1)]
    with old_database.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO state (pk, revision, created_at, built_revision) VALUES (1, 1, :t, -1)"
            ),
            {"t": START.replace(tzinfo=None)},
        )
        connection.execute(
            text(
                "INSERT INTO articles (uid, slug, title, summary, content, published_at, "
                "updated_at, created_at, revision) VALUES (:u, :s, :t, '', :c, :p, :p, :p, 1)"
            ),
            [
                {
                    "u": f"tag:example.org,2026:/old/{n}",
                    "s": f"old-{n}",
                    "t": f"Old {n}",
                    "c": body,
                    "p": (START - timedelta(days=1)).replace(tzinfo=None),
                }
                for n, body in enumerate(rows)
            ],
        )
    assert migrate.upgrade(old_database)
    with old_database.connect() as connection:
        stored = connection.execute(
            text("SELECT slug, content, word_count, content_hash, content_seal FROM articles")
        ).all()
        key = connection.execute(text("SELECT seal_key FROM state")).scalar_one()
    assert len(stored) == len(rows) and isinstance(key, str) and len(key) == 64
    for _slug, content, words, digest, seal in stored:
        assert words == word_count(clean_text(content)), content
        assert digest == content_hash(content)
        assert seal is None  # not written by this feeder's write path: sanitised when published
    # Pages show the words of what is published: the stored count where sanitising the
    # content changes nothing (what feeder wrote), a new count where it does.
    with Site.init(
        site_dir,
        title="Old site",
        base_url="https://example.org/",
        database_url=database_url,
        clock=clock,
    ) as site:
        assert site.build().ok
        for n, body in enumerate(rows[: len(CORPUS) + 2]):
            shown = _words_shown(_page(site, f"old-{n}"))
            assert shown == (word_count(sanitize_html(body)) or None), body


_PIECES = st.sampled_from(
    [*"ab \n\t<>/=\"'&;#!-?", "p", "br", "script", "style", "li", "nbsp", "amp", "\x00",
     "\x1c", "\u3042", "\u4e00", "\ud800", "\x85", "\u2028", "<!--", "-->"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_the_migrations_frozen_rules_agree_with_feeders(html: str) -> None:
    migration = _migration()
    assert migration.count_words(html) == word_count(clean_text(html))
    assert migration.content_hash(html) == content_hash(html)


def test_the_content_hash_is_blake2b_of_the_utf8(site: Site) -> None:
    assert content_hash("é") == hashlib.blake2b("é".encode(), digest_size=16).hexdigest()


_HTML_PIECES = st.sampled_from(
    ["<p>", "</p>", "<a href=\"rel/x\">", "<a href='https://e.org/'>", "</a>", "<br>",
     "<img src=\"data:image/png;base64,AA\">", "<iframe src=\"https://v.example/\">",
     "</iframe>", "<script>", "</script>", "<b>", "</i>", "&amp;", "&lt;", "&#x26;", "&nbsp;",
     "\"", "'", "<", ">", " ", "\n", "x", "é", "\x00", "\x85", "<!--", "-->", "<svg>",
     "<table><tr><td>", "<pre>", "<style>", "</style>", "<p title=\"a&quot;b\">"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(_HTML_PIECES, max_size=30).map("".join), st.booleans())
def test_what_the_write_path_stores_is_what_a_build_would_publish(
    html: str, allow_iframes: bool
) -> None:
    """Seals rest on this: sanitising the stored content again (as a build does for
    content without a seal) changes nothing."""
    stored = sanitize_html(
        html, base_url="https://example.org/blog/articles/a.html", allow_iframes=allow_iframes
    )
    assert sanitize_html(stored, allow_iframes=allow_iframes) == stored
