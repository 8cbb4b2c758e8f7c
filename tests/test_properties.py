"""Whatever text and HTML come in, the feeds that go out are valid and say the same.

Each example gets a fresh site in its own temporary directory (a copy of one
made once, which is much faster than creating the database every time):
function-scoped fixtures are not reset between hypothesis examples.
"""

from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from lxml import etree
from sqlalchemy import insert, update

from db.models import Article, Author, Tag, article_tags
from feeder import Site
from feeder._text import clean_line, clean_text
from tests.conftest import FakeClock
from tests.feedcheck import parse_feed

# Every code point, lone surrogates, XML-forbidden and C1 controls included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
HTML_BITS = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<a href='rel/x.html' onclick='x()'>",
        "</a>",
        "<script>alert(1)</script>",
        "<style>p{}</style>",
        "<img src=javascript:x>",
        "<iframe src=https://x.example/>",
        "<![CDATA[",
        "]]>",
        "<!--",
        "-->",
        "&amp;",
        "&#0;",
        "&bogus;",
        "<",
        ">",
        "\x00",
        "\ud800",
        "\ufffe",
    ]
)
ANY_HTML = st.lists(st.one_of(HTML_BITS, ANY_TEXT), max_size=12).map("".join)


@cache
def _template() -> Path:
    directory = Path(tempfile.mkdtemp(prefix="feeder-prop-template-"))
    atexit.register(shutil.rmtree, directory, ignore_errors=True)
    Site.init(
        directory / "site",
        title="Props",
        base_url="https://example.org/",
        id_authority="example.org",
        clock=FakeClock(),
    ).close()
    return directory / "site"


@contextmanager
def _imported_and_built(record: dict[str, object]) -> Iterator[tuple[Site, dict[str, bytes]]]:
    with tempfile.TemporaryDirectory(prefix="feeder-prop-") as temp:
        directory = Path(temp)
        shutil.copytree(_template(), directory / "site")
        with Site.open(directory / "site" / "feeder.toml", clock=FakeClock()) as site:
            yield site, _build(site, directory, record)


def _build(site: Site, directory: Path, record: dict[str, object]) -> dict[str, bytes]:
    # ensure_ascii: lone surrogates travel as \\ud800 escapes, as another tool might write them.
    source = directory / "in.jsonl"
    source.write_text(json.dumps(record, ensure_ascii=True) + "\n", encoding="ascii")
    report = site.import_paths([source])
    assert report.ok, report.failures
    assert site.build().ok
    return {name: (site.config.output_dir / name).read_bytes() for name in ("rss.xml", "atom.xml")}


def _as_feedparser_reads(text: str) -> str:
    """``text`` after feedparser's repairs of double-encoded UTF-8 (feedparser/mixin.py pop()).

    A UTF-8 feed whose text, taken as Latin-1 bytes, is valid UTF-8 ("Ã©") is
    read as that UTF-8 ("é"): a guess at a common mistake, made by the reader.
    """
    try:
        return text.encode("iso-8859-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=ANY_TEXT,
    summary=ANY_TEXT,
    author=ANY_TEXT,
    tag=ANY_TEXT,
    content=ANY_HTML,
)
def test_any_text_and_html_make_valid_feeds_and_titles_round_trip(
    title: str, summary: str, author: str, tag: str, content: str
) -> None:
    expected_title = clean_text(title).strip()
    assume(expected_title)
    tags = [tag] if any(ch.isalnum() and ch.isascii() for ch in tag) else []
    record = {
        "title": title,
        "slug": "post",
        "summary": summary,
        "author": author,
        "tags": tags,
        "published": "2026-11-20T09:00:00Z",
        "content": content,
    }
    with _imported_and_built(record) as (site, feeds):
        for name, data in feeds.items():
            root = etree.fromstring(data)  # well-formed XML, or it raises
            # What we wrote is exactly the title...
            titles = root.iter("title", "{http://www.w3.org/2005/Atom}title")
            assert expected_title in [element.text for element in titles]
            (entry,) = parse_feed(data).entries
            if name == "atom.xml" or "<" not in expected_title:
                # ...and what feedparser reads back too, but for its own repairs.
                # (RSS readers guess that a title with markup in it is HTML.)
                assert entry.title == _as_feedparser_reads(expected_title)
            assert "<script" not in entry.get("content", [{"value": ""}])[0]["value"]
        assert site.get_article("post").title == expected_title


@settings(max_examples=30, deadline=None)
@given(title=ANY_TEXT, summary=ANY_TEXT, author=ANY_TEXT, tag=ANY_TEXT, content=ANY_HTML)
def test_rows_written_by_another_tool_never_break_the_feeds(
    title: str, summary: str, author: str, tag: str, content: str
) -> None:
    """Forbidden characters that reach the database past feeder are removed on the way out."""
    # (A row with no title at all is left out of the feeds, and the build says so.)
    assume(clean_text(_storable(title)).strip())
    with _imported_and_built({"title": "Clean", "slug": "post"}) as (site, _):
        with site.storage.engine.begin() as connection:
            connection.execute(
                update(Article.__table__).values(
                    title=_storable(title), summary=_storable(summary), content=_storable(content)
                )
            )
            connection.execute(
                insert(Author.__table__).values(pk=99, name=_storable(author) or "a")
            )
            connection.execute(update(Article.__table__).values(author_pk=99))
            connection.execute(insert(Tag.__table__).values(pk=99, slug="t", name=_storable(tag)))
            connection.execute(insert(article_tags).values(article_pk=1, tag_pk=99))
        report = site.build(full=True)
        assert report.ok, report.errors
        for name in ("rss.xml", "atom.xml"):
            data = (site.config.output_dir / name).read_bytes()
            etree.fromstring(data)
            (entry,) = parse_feed(data).entries
            if name == "atom.xml":
                assert entry.title == _as_feedparser_reads(clean_line(_storable(title)).strip())


def _storable(text: str) -> str:
    """What a database driver accepts: no lone surrogates, no NUL (PostgreSQL refuses both)."""
    return text.encode("utf-8", "replace").decode("utf-8").replace("\x00", "")
