"""The renderers as pure functions: fixed dataclasses in, feed bytes out.

The golden files under tests/golden/ are the exact bytes for ENTRIES. After a
deliberate change to the output, regenerate them and review the diff by eye:

    FEEDER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_render.py
"""

from __future__ import annotations

import dataclasses
import email.utils
import os
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta, timezone
from html import escape, unescape
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import time_machine
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from feeder._text import clean_line
from feeder.config import Config
from feeder.entries import (
    Channel,
    DeletedEntry,
    Enclosure,
    Entry,
    Episode,
    FeedLink,
    Link,
    Person,
    SiteInfo,
    TagRef,
)
from feeder.publishing.feeds import FORMATS, FeedDocument, channel_for, site_feeds, site_info
from feeder.publishing.render import _fast, render_article, render_atom, render_index, render_rss
from feeder.publishing.render import atom as _atom
from feeder.publishing.render import rss as _rss
from tests.feedcheck import parse_feed

GOLDEN = Path(__file__).parent / "golden"
UPDATE_GOLDEN = os.environ.get("FEEDER_UPDATE_GOLDEN") == "1"
BASE_URL = "https://example.org/blog/"
ATOM_NS = "http://www.w3.org/2005/Atom"

Renderer = Callable[[Channel, Sequence[Entry]], bytes]


def at(day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


ANN = Person("Ann Author", "ann@example.org", "https://example.org/ann")
BOB = Person("Bob Writer")

ENTRIES: tuple[Entry, ...] = (
    Entry(
        id="tag:example.org,2026-11-24:/articles/third",
        slug="third",
        title="Third: fish & chips <today>",
        url=BASE_URL + "articles/third.html",
        summary="Fish, chips & “quotes”.",
        content="<p>Fish &amp; chips, <em>hot</em>.</p>\n<p>Ünïcödé ✓</p>",
        author=BOB,
        tags=(TagRef("food", "Food"), TagRef("uk", "UK")),
        published=at(25, 10),
        updated=at(26, 8, 30),
    ),
    Entry(
        id="tag:example.org,2026-11-22:/articles/elsewhere",
        slug="elsewhere",
        title="Elsewhere",
        url="https://other.example.net/post?id=1&x=2",
        summary="A link to another site.",
        content="",
        author=None,
        tags=(),
        published=at(23, 12),
        updated=at(23, 12),
    ),
    Entry(
        id="tag:example.org,2026-11-20:/articles/first",
        slug="first",
        title="First post",
        url=BASE_URL + "articles/first.html",
        summary="",
        content="<p>Hello, world.</p>",
        author=ANN,
        tags=(TagRef("news", "News"),),
        published=at(20),
        updated=at(21),
    ),
)


def config() -> Config:
    return Config(
        title="Test Site",
        description="Notes & things",
        base_url=BASE_URL,
        id_authority="example.org",
        author=dataclasses.replace(Config().author, name="Ann Author", email="ann@example.org"),
    )


SITE_CREATED = at(1)


def channel(fmt: str, entries: Sequence[Entry] = ENTRIES) -> Channel:
    spec = next(s for s in site_feeds(config()) if s.format.name == fmt)
    return channel_for(config(), spec, entries, site_created=SITE_CREATED)


def render(fmt: str, entries: Sequence[Entry] = ENTRIES, chan: Channel | None = None) -> bytes:
    return FORMATS[fmt].render(FeedDocument(chan or channel(fmt, entries), entries))


FORMAT_NAMES = ["rss", "atom"]


# -- golden files --------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_output_matches_golden_file(fmt: str) -> None:
    data = render(fmt)
    golden = GOLDEN / f"{fmt}.xml"
    if UPDATE_GOLDEN:
        golden.parent.mkdir(exist_ok=True)
        golden.write_bytes(data)
    assert golden.exists(), f"{golden} missing: run with FEEDER_UPDATE_GOLDEN=1 to create it"
    assert data == golden.read_bytes(), (
        f"{fmt} output differs from {golden}; if the change is intended, "
        "regenerate with FEEDER_UPDATE_GOLDEN=1 and review the diff"
    )


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_golden_file_is_a_valid_feed(fmt: str) -> None:
    parsed = parse_feed(GOLDEN / f"{fmt}.xml")
    assert [e.id for e in parsed.entries] == [e.id for e in ENTRIES]


# -- round trip through a feed reader --------------------------------------------


def _struct(value: datetime) -> Any:
    return value.astimezone(UTC).timetuple()[:6]


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_feedparser_reads_back_every_field(fmt: str) -> None:
    parsed = parse_feed(render(fmt))
    chan = channel(fmt)
    assert parsed.feed.title == "Test Site"
    assert parsed.feed.link == BASE_URL
    self_links = [link.href for link in parsed.feed.links if link.rel == "self"]
    assert self_links == [f"{BASE_URL}{fmt}.xml"]
    assert tuple(parsed.feed.updated_parsed[:6]) == _struct(chan.updated)
    assert len(parsed.entries) == len(ENTRIES)
    for got, want in zip(parsed.entries, ENTRIES, strict=True):
        assert got.id == want.id
        assert got.title == want.title
        assert got.link == want.url
        # An empty summary falls back to the title, so every entry has one; what a reader
        # shows of it (RSS summaries are HTML to readers) is exactly its text.
        assert shown(got.summary) == (want.summary or want.title)
        # Full content, or the summary as a paragraph where there is none.
        assert got.content[0].value == (want.content or f"<p>{escape(want.summary)}</p>")
        author = want.author or chan.author
        if fmt == "rss" or want.author is not None:
            assert got.author_detail.name == author.name
            if fmt == "atom" and author.email:
                assert got.author_detail.email == author.email
            if fmt == "atom" and author.uri:
                assert got.author_detail.href == author.uri
        expected_tags = [t.slug if fmt == "atom" else t.name for t in want.tags]
        assert [t.term for t in got.get("tags", [])] == expected_tags
        assert tuple(got.published_parsed[:6]) == _struct(want.published)
        assert "updated" in got, f"{fmt}: entry {want.slug} has no updated date"
        assert tuple(got.updated_parsed[:6]) == _struct(want.updated)


def shown(value: str) -> str:
    """What a reader shows of a feed text that may be HTML: tags dropped, references decoded."""
    return unescape(re.sub(r"<[^>]+>", "", value))


def test_atom_has_a_feed_level_author_for_entries_without_one() -> None:
    parsed = parse_feed(render("atom"))
    assert parsed.feed.author_detail.name == "Ann Author"
    assert parsed.feed.author_detail.email == "ann@example.org"


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_lxml_parses_and_entries_keep_their_order(fmt: str) -> None:
    root = etree.fromstring(render(fmt))
    if fmt == "rss":
        assert root.tag == "rss" and root.get("version") == "2.0"
        ids = [g.text for g in root.iter("guid")]
    else:
        assert root.tag == f"{{{ATOM_NS}}}feed"
        ids = [e.findtext(f"{{{ATOM_NS}}}id") for e in root.iter(f"{{{ATOM_NS}}}entry")]
    assert ids == [e.id for e in ENTRIES]
    assert len(set(ids)) == len(ids)


# -- what the W3C validator checks ---------------------------------------------------


def _urls(root: Any) -> list[str]:
    """Every URL-valued attribute and element text in a feed."""
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        for attribute in ("href", "uri", "url", "domain"):
            if element.get(attribute) is not None:
                found.append(element.get(attribute))
        local = etree.QName(element).localname
        if local in ("link", "docs", "uri", "comments") and element.text and element.text.strip():
            found.append(element.text.strip())
        if local == "guid" and element.get("isPermaLink", "true") == "true":
            found.append(element.text)
    return found


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_every_url_is_absolute(fmt: str) -> None:
    urls = _urls(etree.fromstring(render(fmt)))
    assert urls, "no URLs found: the check would prove nothing"
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme in ("http", "https") and parts.netloc, f"relative URL {url!r}"


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_self_link_is_base_url_plus_path(fmt: str) -> None:
    root = etree.fromstring(render(fmt))
    selfs = [
        link.get("href") for link in root.iter(f"{{{ATOM_NS}}}link") if link.get("rel") == "self"
    ]
    assert selfs == [f"{BASE_URL}{fmt}.xml"]


RFC822 = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) "
    r"\d{4} \d{2}:\d{2}:\d{2} (\+0000|GMT)$"
)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")


def _rss_dates(data: bytes) -> list[str]:
    root = etree.fromstring(data)
    return [el.text for el in root.iter("pubDate", "lastBuildDate")]


def _atom_dates(data: bytes) -> list[str]:
    root = etree.fromstring(data)
    return [el.text for el in root.iter(f"{{{ATOM_NS}}}updated", f"{{{ATOM_NS}}}published")]


def test_rss_dates_are_rfc822_with_the_right_weekday() -> None:
    data = render("rss")
    dates = _rss_dates(data)
    assert len(dates) == len(ENTRIES) + 1
    for text in dates:
        assert RFC822.match(text), text
        # parsedate checks nothing about the weekday, so compare it ourselves.
        parsed = email.utils.parsedate_to_datetime(text)
        assert text.startswith(parsed.strftime("%a")), text
    assert {email.utils.parsedate_to_datetime(t) for t in dates} <= {
        *(e.published for e in ENTRIES),
        channel("rss").updated,
    }


def test_atom_dates_are_rfc3339() -> None:
    dates = _atom_dates(render("atom"))
    assert len(dates) == 2 * len(ENTRIES) + 1
    for text in dates:
        assert RFC3339.match(text), text
    assert {datetime.fromisoformat(t) for t in dates} <= {
        *(e.published for e in ENTRIES),
        *(e.updated for e in ENTRIES),
    }


def test_entry_dates_shown_in_another_zone_are_written_in_utc() -> None:
    plus_two = ENTRIES[0].published.astimezone(timezone(timedelta(hours=2)))
    entry = dataclasses.replace(ENTRIES[0], published=plus_two, updated=plus_two)
    for fmt in FORMAT_NAMES:
        parsed = parse_feed(render(fmt, [entry]))
        assert tuple(parsed.entries[0].published_parsed[:6]) == _struct(ENTRIES[0].published)
    assert "+00:00" in _atom_dates(render("atom", [entry]))[0]


# -- the feed's own date ---------------------------------------------------------


def test_channel_updated_is_the_newest_entry_update() -> None:
    newest = max(e.updated for e in ENTRIES)
    assert ENTRIES[0].updated == newest and newest != max(e.published for e in ENTRIES)
    for fmt in FORMAT_NAMES:
        assert channel(fmt).updated == newest
        parsed = parse_feed(render(fmt))
        assert tuple(parsed.feed.updated_parsed[:6]) == _struct(newest)


def test_empty_feed_is_valid_and_dated_by_site_creation() -> None:
    for fmt in FORMAT_NAMES:
        chan = channel(fmt, [])
        assert chan.updated == SITE_CREATED
        parsed = parse_feed(render(fmt, []))
        assert parsed.entries == []
        assert parsed.feed.title == "Test Site"
        assert tuple(parsed.feed.updated_parsed[:6]) == _struct(SITE_CREATED)
        etree.fromstring(render(fmt, []))


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
def test_same_input_gives_same_bytes_at_any_wall_time(fmt: str) -> None:
    with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False):
        first = render(fmt)
    with time_machine.travel(datetime(2031, 6, 15, 13, 14, 15, tzinfo=UTC), tick=False):
        second = render(fmt)
    assert first == second
    assert b"2030" not in first and b"2031" not in second


def test_no_date_in_a_feed_is_the_render_time() -> None:
    with time_machine.travel(datetime(2031, 6, 15, 13, 14, 15, tzinfo=UTC), tick=False):
        for fmt in FORMAT_NAMES:
            data = render(fmt, [])
            assert b"2031" not in data and b"Jun 2031" not in data


# -- hostile input -------------------------------------------------------------------

FORBIDDEN = "\x00\x01\x08\x0b\x0c\x1f\x7f\x80\x85\x9f\ufffe\uffff"


def _dirty(value: str) -> str:
    return value[:1] + FORBIDDEN + value[1:]


ENTRY_TEXT_FIELDS = [f.name for f in dataclasses.fields(Entry) if f.type in ("str", str)]
CHANNEL_TEXT_FIELDS = [f.name for f in dataclasses.fields(Channel) if f.type in ("str", str)]


def dirty_media(change: Callable[[str], str]) -> tuple[tuple[Enclosure, ...], Episode]:
    """Two enclosures and an episode whose every text went through ``change``."""
    enclosures = (
        Enclosure(change("https://cdn.example.org/one.mp3"), change("audio/mpeg"), 1234),
        Enclosure(change("https://cdn.example.org/two.m4a"), change("audio/mp4")),
    )
    episode = Episode(
        duration=61,
        number=2,
        transcripts=(Enclosure(change("https://cdn.example.org/t.vtt"), change("text/vtt")),),
        chapters=Enclosure(change("https://cdn.example.org/c.json"), change("application/json")),
    )
    return enclosures, episode


def _dirty_entry(field: str) -> Entry:
    entry = ENTRIES[0]
    if field in ("enclosures", "episode"):
        enclosures, episode = dirty_media(_dirty)
        return dataclasses.replace(entry, enclosures=enclosures, episode=episode)
    if field == "author":
        assert entry.author is not None
        return dataclasses.replace(
            entry,
            author=Person(_dirty("Bob"), _dirty("bob@example.org"), _dirty("https://b.example/")),
        )
    if field == "tags":
        return dataclasses.replace(entry, tags=(TagRef(_dirty("food"), _dirty("Food")),))
    return dataclasses.replace(entry, **{field: _dirty(getattr(entry, field))})


def _dirty_channel(fmt: str, field: str) -> Channel:
    chan = channel(fmt)
    if field == "author":
        return dataclasses.replace(
            chan,
            author=Person(_dirty("Ann"), _dirty("ann@example.org"), _dirty("https://a.example/")),
        )
    if field == "links":
        links = tuple(Link(link.rel, _dirty(link.href), link.media_type) for link in chan.links)
        return dataclasses.replace(chan, links=links)
    return dataclasses.replace(chan, **{field: _dirty(getattr(chan, field))})


def test_text_field_lists_are_complete() -> None:
    # If a field is added to the dataclasses, the tests below must cover it.
    assert set(ENTRY_TEXT_FIELDS) == {"id", "slug", "title", "url", "summary", "content"}
    assert set(CHANNEL_TEXT_FIELDS) == {"id", "title", "description", "language"}
    assert {f.name for f in dataclasses.fields(Entry)} - set(ENTRY_TEXT_FIELDS) == {
        "author",
        "tags",
        "published",
        "updated",
        "enclosures",
        "episode",
        "words",  # a number, shown on pages only
    }
    assert {f.name for f in dataclasses.fields(Channel)} - set(CHANNEL_TEXT_FIELDS) == {
        "links",
        "author",
        "updated",
    }


def _assert_clean_feed(data: bytes) -> None:
    text = data.decode("utf-8")
    assert not any(ch in text for ch in FORBIDDEN)
    parse_feed(data)
    etree.fromstring(data)


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("field", [*ENTRY_TEXT_FIELDS, "author", "tags", "enclosures"])
def test_control_characters_in_an_entry_field_are_removed(fmt: str, field: str) -> None:
    entry = _dirty_entry(field)
    data = render(fmt, [entry, *ENTRIES[1:]])
    _assert_clean_feed(data)
    parsed = parse_feed(data)
    assert len(parsed.entries) == len(ENTRIES)
    if field == "title":
        assert parsed.entries[0].title == ENTRIES[0].title
    if field == "author":
        assert parsed.entries[0].author_detail.name == "Bob"


@pytest.mark.parametrize("fmt", FORMAT_NAMES)
@pytest.mark.parametrize("field", [*CHANNEL_TEXT_FIELDS, "author", "links"])
def test_control_characters_in_a_channel_field_are_removed(fmt: str, field: str) -> None:
    data = render(fmt, chan=_dirty_channel(fmt, field))
    _assert_clean_feed(data)
    assert parse_feed(data).feed.title == "Test Site"


@pytest.mark.parametrize("field", [*ENTRY_TEXT_FIELDS, "author", "tags", "enclosures"])
def test_control_characters_do_not_break_pages(field: str) -> None:
    site = site_info(config())
    entry = _dirty_entry(field)
    for data in (render_article(site, entry), render_index(site, [entry])):
        assert not any(ch in data.decode("utf-8") for ch in FORBIDDEN)


def test_an_entry_cleans_its_texts_when_it_is_made() -> None:
    # The renderers write an entry's texts as they are: the entry is what cleans them.
    bidi = "\u202e\u2066"
    entry = dataclasses.replace(
        ENTRIES[0],
        id=_dirty("tag:example.org,2026:x"),
        url=_dirty("https://example.org/x"),
        title=_dirty(f"Ti{bidi}tle"),
        summary=_dirty("Sum"),
        content=_dirty("<p>Body</p>"),
        author=Person(
            _dirty(f"Bo{bidi}b"), _dirty("bob@example.org"), _dirty("https://b.example/")
        ),
        tags=(TagRef(_dirty("food"), _dirty(f"Fo{bidi}od")), TagRef("uk", "UK")),
    )
    assert (entry.id, entry.url, entry.title, entry.summary, entry.content) == (
        "tag:example.org,2026:x",
        "https://example.org/x",
        "Title",
        "Sum",
        "<p>Body</p>",
    )
    assert entry.author == Person("Bob", "bob@example.org", "https://b.example/")
    assert entry.tags == (TagRef("food", "Food"), TagRef("uk", "UK"))
    # Text other than a title or a name keeps its bidi controls (in a URL they are
    # percent-encoded by whoever made it, in content they are the sanitiser's).
    assert dataclasses.replace(entry, summary=f"a{bidi}b").summary == f"a{bidi}b"
    # What is clean already is kept as it is, not copied.
    again = dataclasses.replace(ENTRIES[0])
    assert again.author is ENTRIES[0].author
    assert all(a is b for a, b in zip(again.tags, ENTRIES[0].tags, strict=True))


@pytest.mark.parametrize("renderer", [render_rss, render_atom])
def test_naive_datetime_is_refused_with_a_message(renderer: Renderer) -> None:
    naive = datetime(2026, 11, 26, 12, 0)  # noqa: DTZ001 - the point of the test
    entry = dataclasses.replace(ENTRIES[0], published=naive)
    with pytest.raises(ValueError, match="naive"):
        renderer(channel("rss"), [entry])


# -- the human pages ---------------------------------------------------------------


def test_index_page_advertises_every_feed_for_autodiscovery() -> None:
    site = site_info(config())
    assert [f.url for f in site.feeds] == [
        BASE_URL + "rss.xml",
        BASE_URL + "atom.xml",
        BASE_URL + "feed.json",
    ]
    html = render_index(site, ENTRIES).decode("utf-8")
    head = html.split("</head>", 1)[0]
    alternates = re.findall(
        r'<link rel="alternate" type="([^"]+)" title="[^"]*" href="([^"]+)">', head
    )
    assert alternates == [
        ("application/rss+xml", BASE_URL + "rss.xml"),
        ("application/atom+xml", BASE_URL + "atom.xml"),
        ("application/feed+json", BASE_URL + "feed.json"),
    ]
    for entry in ENTRIES:
        assert f'href="{entry.url.replace("&", "&amp;")}"' in html
    assert "fish &amp; chips &lt;today&gt;" in html


def test_article_page_escapes_the_title_and_keeps_the_content() -> None:
    site = SiteInfo("S & T", "", "en", BASE_URL, (FeedLink("S", BASE_URL + "rss.xml", "x/y"),))
    html = render_article(site, ENTRIES[0]).decode("utf-8")
    assert '<h1 dir="auto">Third: fish &amp; chips &lt;today&gt;</h1>' in html
    assert ENTRIES[0].content in html
    assert "<title>Third: fish &amp; chips &lt;today&gt; – S &amp; T</title>" in html


def test_index_page_without_entries_says_so() -> None:
    html = render_index(site_info(config()), []).decode("utf-8")
    assert "Nothing published yet." in html


def test_article_page_shows_word_count_and_reading_time() -> None:
    site = site_info(config())
    long = dataclasses.replace(ENTRIES[0], content="<p>" + "word " * 1150 + "</p>")
    html = render_article(site, long).decode("utf-8")
    assert "1,150 words, 5 min read" in html
    short = dataclasses.replace(ENTRIES[0], content="<p>Just <em>three</em> words</p>")
    assert "3 words, 1 min read" in render_article(site, short).decode("utf-8")


# -- entries rendered once and spliced in --------------------------------------


def _spliced_cases() -> list[tuple[Entry, ...]]:
    enclosures, episode = dirty_media(lambda value: value)
    with_media = dataclasses.replace(ENTRIES[0], enclosures=enclosures, episode=episode)
    one_file = dataclasses.replace(ENTRIES[1], enclosures=enclosures[:1])
    tricky = dataclasses.replace(
        ENTRIES[-1],
        title="</item> <entry> </channel> ]\n} &lt;",
        content="<p>\n    <item>\n  </channel>\n</feed>\n]\n}</p><![CDATA[ x ]]>",
        summary="<entry>",
    )
    return [(), ENTRIES, ENTRIES[:1], (with_media, *ENTRIES), (one_file, tricky), (tricky,)]


@pytest.mark.parametrize("fmt", ["rss", "atom", "json"])
@pytest.mark.parametrize("summary_only", [False, True])
@pytest.mark.parametrize("case", range(len(_spliced_cases())))
def test_entries_rendered_once_splice_into_the_same_bytes(
    fmt: str, summary_only: bool, case: int
) -> None:
    """Each entry is rendered once per format and spliced into every feed and archive
    page that carries it: the bytes are those of the document rendered whole."""
    entries = _spliced_cases()[case]
    feed = FORMATS[fmt]
    chan = channel(fmt, entries)
    # Rendered along with other entries (other namespaces in play), then used alone.
    others = _spliced_cases()[3]
    batch = feed.items([*others, *entries], summary_only, chan.author)[len(others) :]
    stylesheets = (Link("stylesheet", BASE_URL + "feed.xsl", "text/xsl"),)
    tombstones = (DeletedEntry("tag:example.org,2026:/gone", at(20), BOB, "spam"),)
    for extra in [{}, {"archive": True, "stylesheets": stylesheets, "tombstones": tombstones}]:
        whole = FeedDocument(chan, entries, summary_only, **extra)  # type: ignore[arg-type]
        expected = feed.render(whole)
        assert feed.render(dataclasses.replace(whole, items=batch)) == expected
        alone = feed.items(entries, summary_only, chan.author)
        assert feed.render(dataclasses.replace(whole, items=alone)) == expected


# -- items written directly, as feedgen writes them ----------------------------

_TEXT = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from("&<>\"'\n\t\r ;#x"),
    max_size=40,
)
_PEOPLE = st.builds(Person, _TEXT, st.one_of(st.none(), _TEXT), st.one_of(st.none(), _TEXT))
# Hypothesis takes naive bounds and adds the zone.
_WHEN = st.datetimes(
    min_value=datetime(1, 1, 2),  # noqa: DTZ001
    max_value=datetime(9999, 12, 30),  # noqa: DTZ001
    timezones=st.just(UTC),
) | st.datetimes(
    min_value=datetime(1900, 1, 1),  # noqa: DTZ001
    max_value=datetime(2100, 1, 1),  # noqa: DTZ001
    timezones=st.just(timezone(timedelta(hours=5, minutes=30))),
)
_ENTRIES = st.builds(
    Entry,
    id=_TEXT,
    slug=_TEXT,
    title=_TEXT,
    url=_TEXT,
    summary=_TEXT,
    content=_TEXT,
    author=st.one_of(st.none(), _PEOPLE),
    tags=st.lists(st.builds(TagRef, _TEXT, _TEXT), max_size=3).map(tuple),
    published=_WHEN,
    updated=_WHEN,
)


@settings(max_examples=400, deadline=None)
@given(entry=_ENTRIES, summary_only=st.booleans())
def test_items_written_directly_are_the_bytes_feedgen_writes(
    entry: Entry, summary_only: bool
) -> None:
    author = Person("Ann Author", "ann@example.org")
    fast_rss = _fast.rss_item(entry, summary_only=summary_only, author=author)
    fast_atom = _fast.atom_entry(entry, summary_only=summary_only)
    for fast, through_feedgen in (
        (fast_rss, _rss.feedgen_rss_items),
        (fast_atom, _atom.feedgen_atom_items),
    ):
        if fast is None:
            continue
        (expected,) = through_feedgen([entry], summary_only=summary_only, author=author)
        assert fast == expected


def test_ordinary_entries_are_written_directly() -> None:
    author = Person("Ann Author")
    for entry in ENTRIES:
        plain = dataclasses.replace(entry, enclosures=())
        for summary_only in (False, True):
            assert _fast.rss_item(plain, summary_only=summary_only, author=author) is not None
            assert _fast.atom_entry(plain, summary_only=summary_only) is not None


# -- feed heads made from a template, as feedgen writes them -------------------

_HREFS = (
    st.sampled_from(
        [
            "https://example.org/blog/feed.xml",
            "https://example.org/blog/archive/7/feed.xml",
            "https://xn--caf-dma.example/é/日本/feed.atom",
            "https://example.org/a?b=1&c=2",  # escaped in XML: rendered whole
            'https://example.org/"quoted"',
            "https://example.org/with space",
            "https://feeder-stand-in-a.invalid/0/",
        ]
    )
    | _TEXT
)
_LINKS = st.lists(
    st.builds(
        Link,
        st.sampled_from(["hub", "current", "prev-archive", "next-archive", "related"]),
        _HREFS,
        st.sampled_from([None, "application/rss+xml", "application/atom+xml"]),
    ),
    max_size=4,
).map(tuple)
# Titles and descriptions may hold what the stand-ins look like, or a date.
_CHANNEL_TEXT = _TEXT | st.sampled_from(
    ["1901-02-03T04:05:06.789012+00:00", "Sun, 03 Feb 1901 04:05:06 +0000", "feeder-stand-in-a"]
)


@settings(max_examples=300, deadline=None)
@given(
    title=_CHANNEL_TEXT.filter(lambda text: clean_line(text).strip()),  # feedgen needs one
    description=_CHANNEL_TEXT,
    own=_HREFS,
    links=_LINKS,
    updated=_WHEN,
    fmt=st.sampled_from(FORMAT_NAMES),
    archive=st.booleans(),
    styled=st.booleans(),
)
def test_feed_heads_from_a_template_are_the_bytes_feedgen_writes(
    title: str,
    description: str,
    own: str,
    links: tuple[Link, ...],
    updated: datetime,
    fmt: str,
    archive: bool,
    styled: bool,
) -> None:
    """A document whose items are given takes its head from a template of its shape:
    the bytes are those of the document rendered whole, whatever the channel holds."""
    feed = FORMATS[fmt]
    chan = dataclasses.replace(
        channel(fmt),
        title=title,
        description=description,
        updated=updated,
        links=(
            Link("self", own, feed.media_type),
            Link("alternate", BASE_URL, "text/html"),
            *links,
        ),
    )
    entries = ENTRIES[:2]
    stylesheets = (Link("stylesheet", "/feed.xsl", "text/xsl"),) if styled else ()
    whole = FeedDocument(chan, entries, False, stylesheets, archive=archive)
    items = feed.items(entries, False, chan.author)
    expected = feed.render(whole)
    # Seen once, the shape is rendered whole; from the second time, from its template.
    other = dataclasses.replace(chan, updated=chan.updated + timedelta(days=1))
    assert feed.render(dataclasses.replace(whole, channel=other, items=items)) == feed.render(
        dataclasses.replace(whole, channel=other)
    )
    assert feed.render(dataclasses.replace(whole, items=items)) == expected


def test_pages_of_one_feed_share_one_template_of_their_head() -> None:
    from feeder.publishing.render import _heads

    shapes: list[Channel] = []

    def counted(chan: Channel) -> bytes:
        shapes.append(chan)
        return _rss._document(chan, (), False, (), True, None, False)

    pages = [
        dataclasses.replace(
            channel("rss"),
            updated=at(day, minute=day),
            links=(
                Link("self", f"{BASE_URL}archive/{day}/feed.xml", "application/rss+xml"),
                Link("alternate", BASE_URL, "text/html"),
                Link("next-archive", f"{BASE_URL}archive/{day + 1}/feed.xml"),
            ),
        )
        for day in range(1, 6)
    ]
    key = ("test", object())
    for page in pages:
        expected = _rss._document(page, (), False, (), True, None, False)
        assert _heads.head(key, page, counted) == expected
        assert f"archive/{page.updated.day}/feed.xml".encode() in expected
    # The first page rendered whole, the second the template's two renderings, then every
    # page filled in.
    assert len(shapes) == 3
