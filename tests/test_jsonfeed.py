"""The JSON Feed 1.1 renderer: fixed dataclasses in, feed bytes out.

tests/golden/feed.json is the exact output for ENTRIES (the articles of
tests/test_render.py). After a deliberate change to the output, or to ENTRIES,
regenerate it and review the diff by eye:

    FEEDER_UPDATE_GOLDEN=1 .venv/bin/pytest tests/test_jsonfeed.py
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import feedparser
import pytest
import time_machine

# feedparser parses every feed date with this, whatever the format.
from feedparser.datetimes import _parse_date
from hypothesis import given, settings
from hypothesis import strategies as st

from feeder.entries import Channel, Entry, Link, Person, TagRef
from feeder.publishing.render import _json, jsonfeed
from feeder.publishing.render.jsonfeed import MEDIA_TYPE, render_json_feed
from tests.feedcheck import parse_feed
from tests.test_render import BASE_URL, ENTRIES, at, dirty_media

GOLDEN = Path(__file__).parent / "golden" / "feed.json"
UPDATE_GOLDEN = os.environ.get("FEEDER_UPDATE_GOLDEN") == "1"
SPEC_VERSION = "https://jsonfeed.org/version/1.1"
SELF_URL = BASE_URL + "feed.json"
SITE_AUTHOR = Person("Ann Author", "ann@example.org")


def json_channel(entries: Sequence[Entry] = ENTRIES, **changes: Any) -> Channel:
    chan = Channel(
        id="tag:example.org,2026-11-01:/feeds/feed.json",
        title="Test Site",
        description="Notes & things",
        links=(Link("self", SELF_URL, MEDIA_TYPE), Link("alternate", BASE_URL, "text/html")),
        language="en",
        author=SITE_AUTHOR,
        updated=max((entry.updated for entry in entries), default=at(1)),
    )
    return dataclasses.replace(chan, **changes)


def render(
    entries: Sequence[Entry] = ENTRIES, chan: Channel | None = None, *, summary_only: bool = False
) -> bytes:
    return render_json_feed(chan or json_channel(entries), entries, summary_only=summary_only)


def load(data: bytes) -> Any:
    """The document, decoded as a reader must: strict UTF-8, then JSON."""
    return json.loads(data.decode("utf-8"))


def document(entries: Sequence[Entry] = ENTRIES, chan: Channel | None = None, **kw: Any) -> Any:
    return load(render(entries, chan, **kw))


# -- what the specification requires ------------------------------------------------

# Every key JSON Feed 1.1 defines (the deprecated singular "author" left out); a
# key outside these, such as an "_feeder" extension, is not wanted.
TOP_LEVEL_KEYS = {
    "version",
    "title",
    "home_page_url",
    "feed_url",
    "description",
    "user_comment",
    "next_url",
    "icon",
    "favicon",
    "authors",
    "language",
    "expired",
    "hubs",
    "items",
}
ITEM_KEYS = {
    "id",
    "url",
    "external_url",
    "title",
    "content_html",
    "content_text",
    "summary",
    "image",
    "banner_image",
    "date_published",
    "date_modified",
    "authors",
    "tags",
    "language",
    "attachments",
}
AUTHOR_KEYS = {"name", "url", "avatar"}
RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?Z$")


def _check_authors(authors: Any) -> None:
    assert isinstance(authors, list) and authors
    for author in authors:
        # Every member is optional, "but if you provide an author object, then at
        # least one is required".
        assert isinstance(author, dict) and author
        assert set(author) <= AUTHOR_KEYS, sorted(set(author) - AUTHOR_KEYS)
        assert all(isinstance(value, str) and value for value in author.values()), author


def check_json_feed(feed: Any) -> None:
    """Fail unless ``feed`` is a JSON Feed 1.1 document with the right types throughout."""
    assert isinstance(feed, dict)
    assert feed.get("version") == SPEC_VERSION
    assert isinstance(feed.get("title"), str)
    assert isinstance(feed.get("items"), list)
    assert set(feed) <= TOP_LEVEL_KEYS, sorted(set(feed) - TOP_LEVEL_KEYS)
    for key in ("home_page_url", "feed_url", "description", "next_url", "language"):
        if key in feed:
            assert isinstance(feed[key], str) and feed[key], key
    if "authors" in feed:
        _check_authors(feed["authors"])
    if "hubs" in feed:
        # "type" and "url" are required and strings in every hub object.
        hubs = feed["hubs"]
        assert isinstance(hubs, list) and hubs
        for hub in hubs:
            assert isinstance(hub, dict) and set(hub) == {"type", "url"}, hub
            assert all(isinstance(value, str) and value for value in hub.values()), hub
    for item in feed["items"]:
        assert isinstance(item, dict)
        assert set(item) <= ITEM_KEYS, sorted(set(item) - ITEM_KEYS)
        assert isinstance(item.get("id"), str) and item["id"]
        assert "content_html" in item or "content_text" in item, item["id"]
        for key in ("url", "title", "content_html", "content_text", "summary"):
            if key in item:
                assert isinstance(item[key], str), (item["id"], key)
        for key in ("date_published", "date_modified"):
            if key in item:
                assert isinstance(item[key], str) and RFC3339_UTC.match(item[key]), item[key]
        if "tags" in item:
            tags = item["tags"]
            assert isinstance(tags, list) and all(isinstance(t, str) and t for t in tags)
        if "authors" in item:
            _check_authors(item["authors"])


def test_output_is_a_json_feed_with_every_required_field() -> None:
    feed = document()
    check_json_feed(feed)
    assert [item["id"] for item in feed["items"]] == [entry.id for entry in ENTRIES]


def test_empty_feed_is_a_valid_json_feed() -> None:
    feed = document([])
    check_json_feed(feed)
    assert feed["items"] == []
    assert feed["title"] == "Test Site"


def test_version_comes_first_and_the_bytes_are_utf8_with_a_newline() -> None:
    data = render()
    # The specification: version "should appear at the very top".
    assert data.startswith(b'{\n  "version": "https://jsonfeed.org/version/1.1",\n')
    assert data.endswith(b"}\n") and not data.endswith(b"\n\n")
    assert not data.startswith(b"\xef\xbb\xbf")
    data.decode("utf-8")


def test_media_type_is_the_one_the_specification_names() -> None:
    assert MEDIA_TYPE == "application/feed+json"


# -- golden file -----------------------------------------------------------------


def test_output_matches_golden_file() -> None:
    data = render()
    if UPDATE_GOLDEN:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_bytes(data)
    assert GOLDEN.exists(), f"{GOLDEN} missing: run with FEEDER_UPDATE_GOLDEN=1 to create it"
    assert data == GOLDEN.read_bytes(), (
        f"JSON Feed output differs from {GOLDEN}; if the change is intended, "
        "regenerate with FEEDER_UPDATE_GOLDEN=1 and review the diff"
    )


def test_golden_file_is_a_valid_json_feed() -> None:
    feed = load(GOLDEN.read_bytes())
    check_json_feed(feed)
    assert [item["id"] for item in feed["items"]] == [entry.id for entry in ENTRIES]


# -- the channel ----------------------------------------------------------------------


def test_top_level_fields_come_from_the_channel() -> None:
    feed = document()
    assert feed["title"] == "Test Site"
    assert feed["home_page_url"] == BASE_URL
    assert feed["feed_url"] == SELF_URL
    assert feed["description"] == "Notes & things"
    assert feed["language"] == "en"
    assert feed["authors"] == [{"name": "Ann Author", "url": "mailto:ann@example.org"}]


def test_links_are_found_by_rel_whatever_their_order() -> None:
    chan = json_channel()
    reversed_links = dataclasses.replace(chan, links=chan.links[::-1])
    assert render(chan=reversed_links) == render(chan=chan)


def test_empty_description_and_language_are_left_out() -> None:
    for blank in ("", "\x00\x7f"):
        feed = document(chan=json_channel(description=blank, language=blank))
        check_json_feed(feed)
        assert "description" not in feed
        assert "language" not in feed


def test_unknown_channel_links_are_not_written() -> None:
    chan = json_channel()
    others = (
        Link("related", "https://related.example/"),
        # Newer items: never next_url, which JSON Feed keeps for older ones (_LINK_KEYS).
        Link("next-archive", "https://example.org/blog/archive/2.json", MEDIA_TYPE),
    )
    data = render(chan=dataclasses.replace(chan, links=chan.links + others))
    assert data == render(chan=chan)
    assert b"related.example" not in data and b"archive" not in data


def test_hub_links_are_written_as_websub_hubs_after_language() -> None:
    chan = json_channel()
    hubs = (Link("hub", "https://hub.example/websub"), Link("hub", "https://other.example/?a=1&b"))
    feed = document(chan=dataclasses.replace(chan, links=chan.links + hubs))
    check_json_feed(feed)
    assert feed["hubs"] == [
        {"type": "WebSub", "url": "https://hub.example/websub"},
        {"type": "WebSub", "url": "https://other.example/?a=1&b"},
    ]
    # In the order the specification lists the top-level keys.
    assert list(feed).index("language") < list(feed).index("hubs") < list(feed).index("items")
    assert "hubs" not in document(chan=chan)


def test_channel_id_and_updated_are_not_written() -> None:
    # JSON Feed has no feed id (feed_url is the identifier) and no feed date.
    data = render(chan=json_channel(updated=at(28, 7, 7)))
    assert b"tag:example.org,2026-11-01" not in data
    assert b"2026-11-28" not in data
    assert data == render()


ANN_URL = "https://example.org/ann"
AUTHORS = [
    (Person("Ann", "ann@example.org", ANN_URL), {"name": "Ann", "url": ANN_URL}),
    (Person("Ann", "ann@example.org"), {"name": "Ann", "url": "mailto:ann@example.org"}),
    (Person("Ann"), {"name": "Ann"}),
    # What a mailto: URL reserves is percent-encoded (RFC 6068).
    (
        Person("Ann", "a?b%c#d@example.org"),
        {"name": "Ann", "url": "mailto:a%3Fb%25c%23d@example.org"},
    ),
    (Person("", None, ANN_URL), {"url": ANN_URL}),
    (Person(""), None),
    (Person("\x00", "", ""), None),
]


@pytest.mark.parametrize(("person", "expected"), AUTHORS)
def test_authors_have_a_name_and_a_url_when_known(
    person: Person, expected: dict[str, str] | None
) -> None:
    entry = dataclasses.replace(ENTRIES[0], author=person)
    feed = document([entry], json_channel(author=person))
    check_json_feed(feed)
    for where in (feed, feed["items"][0]):
        if expected is None:
            # An empty author object is not allowed: no authors at all.
            assert "authors" not in where
        else:
            assert where["authors"] == [expected]


# -- the items ----------------------------------------------------------------------


def test_items_carry_every_entry_field_in_order() -> None:
    feed = document()
    assert len(feed["items"]) == len(ENTRIES)
    for item, entry in zip(feed["items"], ENTRIES, strict=True):
        assert item["id"] == entry.id
        assert item["url"] == entry.url
        assert item["title"] == entry.title
        if entry.content:
            assert item["content_html"] == entry.content
        assert "content_text" not in item
        if entry.summary:
            assert item["summary"] == entry.summary
        else:
            assert "summary" not in item
        assert datetime.fromisoformat(item["date_published"]) == entry.published
        assert datetime.fromisoformat(item["date_modified"]) == entry.updated
        if entry.author is None:
            # Readers take the feed's authors for an item without its own.
            assert "authors" not in item
        else:
            assert item["authors"][0]["name"] == entry.author.name
        if entry.tags:
            assert item["tags"] == [tag.name for tag in entry.tags]
        else:
            assert "tags" not in item


def test_entry_without_content_falls_back_to_its_summary_escaped_in_a_paragraph() -> None:
    assert ENTRIES[1].content == ""
    assert document()["items"][1]["content_html"] == "<p>A link to another site.</p>"
    entry = dataclasses.replace(ENTRIES[0], content="", summary='1 < 2 & "3"')
    assert document([entry])["items"][0]["content_html"] == '<p>1 &lt; 2 &amp; "3"</p>'
    # With no summary either, the title stands in, as in the other formats.
    bare = dataclasses.replace(ENTRIES[0], content="", summary="")
    item = document([bare])["items"][0]
    assert item["content_html"] == "<p>Third: fish &amp; chips &lt;today&gt;</p>"
    assert "summary" not in item


def test_summary_only_gives_the_summary_as_text_and_no_html() -> None:
    full = document()
    short = document(summary_only=True)
    check_json_feed(short)
    for item, whole, entry in zip(short["items"], full["items"], ENTRIES, strict=True):
        assert "content_html" not in item
        assert item["content_text"] == (entry.summary or entry.title)
        # Everything else is as in the full feed.
        del whole["content_html"]
        del item["content_text"]
        assert item == whole
    assert {k: v for k, v in short.items() if k != "items"} == {
        k: v for k, v in full.items() if k != "items"
    }


def test_summary_only_text_is_not_escaped() -> None:
    entry = dataclasses.replace(ENTRIES[0], summary="1 < 2 & 3")
    item = document([entry], summary_only=True)["items"][0]
    assert item["content_text"] == "1 < 2 & 3"
    assert item["summary"] == "1 < 2 & 3"


def test_unicode_is_written_as_characters() -> None:
    data = render()
    assert "Ünïcödé ✓".encode() in data
    assert "“quotes”".encode() in data
    assert b"\\u" not in data


def test_tag_names_are_written_not_slugs() -> None:
    entry = dataclasses.replace(ENTRIES[0], tags=(TagRef("c-sharp", "C#"), TagRef("empty", "")))
    assert document([entry])["items"][0]["tags"] == ["C#"]


# -- dates ---------------------------------------------------------------------------

PLUS_TWO = timezone(timedelta(hours=2))
MINUS_FIVE = timezone(timedelta(hours=-5))

DATES = [
    (at(26, 9, 30), "2026-11-26T09:30:00Z"),
    (datetime(2026, 11, 26, 9, 30, 0, 123456, tzinfo=UTC), "2026-11-26T09:30:00.123456Z"),
    (datetime(2026, 11, 26, 9, 30, 0, 1, tzinfo=UTC), "2026-11-26T09:30:00.000001Z"),
    (datetime(2026, 11, 26, 11, 30, tzinfo=PLUS_TWO), "2026-11-26T09:30:00Z"),
    (datetime(2026, 11, 26, 4, 30, tzinfo=MINUS_FIVE), "2026-11-26T09:30:00Z"),
    (datetime(2027, 1, 1, 1, 0, tzinfo=PLUS_TWO), "2026-12-31T23:00:00Z"),
    (datetime(999, 1, 2, 3, 4, 5, tzinfo=UTC), "0999-01-02T03:04:05Z"),
]


@pytest.mark.parametrize(("value", "expected"), DATES)
def test_dates_are_rfc3339_in_utc_with_z(value: datetime, expected: str) -> None:
    entry = dataclasses.replace(ENTRIES[0], published=value, updated=value)
    item = document([entry])["items"][0]
    assert item["date_published"] == item["date_modified"] == expected
    assert RFC3339_UTC.match(expected)
    assert datetime.fromisoformat(expected) == value


def test_feedparser_reads_every_date_back_to_the_same_instant() -> None:
    feed = document()
    for item, entry in zip(feed["items"], ENTRIES, strict=True):
        pairs = [(item["date_published"], entry.published), (item["date_modified"], entry.updated)]
        for text, want in pairs:
            assert tuple(_parse_date(text)[:6]) == want.astimezone(UTC).timetuple()[:6], text


def test_naive_datetimes_are_refused_with_a_message() -> None:
    naive = datetime(2026, 11, 26, 12, 0)  # noqa: DTZ001 - the point of the test
    for field in ("published", "updated"):
        changes: dict[str, Any] = {field: naive}
        entry = dataclasses.replace(ENTRIES[0], **changes)
        with pytest.raises(ValueError, match="naive"):
            render([entry])
    # The channel's date is not written, but refused as every format refuses it.
    with pytest.raises(ValueError, match="naive"):
        render(chan=json_channel(updated=naive))


@pytest.mark.parametrize("summary_only", [False, True])
def test_same_input_gives_same_bytes_at_any_wall_time(summary_only: bool) -> None:
    with time_machine.travel(datetime(2030, 1, 1, tzinfo=UTC), tick=False):
        first = render(summary_only=summary_only)
    with time_machine.travel(datetime(2031, 6, 15, 13, 14, 15, tzinfo=UTC), tick=False):
        second = render(summary_only=summary_only)
        empty = render([])
    assert first == second
    for data in (first, second, empty):
        assert b"2030" not in data and b"2031" not in data


# -- hostile input -------------------------------------------------------------------

# What feeder removes everywhere (feeder._text), lone surrogates included: left
# in, they would make the bytes invalid UTF-8 (json.dumps writes them as they are).
FORBIDDEN = "\x00\x01\x08\x0b\x0c\x1f\x7f\x80\x85\x9f\ufffe\uffff\ud800\udbff\udc00\udfff"
# Bidi controls, which the other formats remove from titles and names.
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

ENTRY_TEXT_FIELDS = [f.name for f in dataclasses.fields(Entry) if f.type in ("str", str)]
CHANNEL_TEXT_FIELDS = [f.name for f in dataclasses.fields(Channel) if f.type in ("str", str)]


def _dirty(value: str, bad: str = FORBIDDEN) -> str:
    return value[:1] + bad + value[1:] + bad


def _strings(value: Any) -> Iterator[str]:
    """Every string in a decoded JSON document, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, member in value.items():
            yield key
            yield from _strings(member)
    elif isinstance(value, list):
        for member in value:
            yield from _strings(member)


def _entry_with(field: str, change: Callable[[str], str]) -> Entry:
    entry = ENTRIES[0]
    if field == "author":
        return dataclasses.replace(
            entry,
            author=Person(change("Bob"), change("bob@example.org"), change("https://b.example/")),
        )
    if field == "tags":
        return dataclasses.replace(entry, tags=(TagRef(change("food"), change("Food")),))
    if field in ("enclosures", "episode"):
        enclosures, episode = dirty_media(change)
        return dataclasses.replace(entry, enclosures=enclosures, episode=episode)
    changes: dict[str, Any] = {field: change(getattr(entry, field))}
    return dataclasses.replace(entry, **changes)


def _channel_with(field: str, change: Callable[[str], str]) -> Channel:
    chan = json_channel()
    if field == "author":
        return dataclasses.replace(
            chan,
            author=Person(change("Ann"), change("ann@example.org"), change("https://a.example/")),
        )
    if field == "links":
        links = tuple(Link(link.rel, change(link.href), link.media_type) for link in chan.links)
        return dataclasses.replace(chan, links=links)
    changes: dict[str, Any] = {field: change(getattr(chan, field))}
    return dataclasses.replace(chan, **changes)


def _same(value: str) -> str:
    return value


def _assert_clean(data: bytes) -> None:
    feed = load(data)  # strict UTF-8 and valid JSON
    check_json_feed(feed)
    for text in _strings(feed):
        assert not any(ch in text for ch in FORBIDDEN), text


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


@pytest.mark.parametrize("summary_only", [False, True])
@pytest.mark.parametrize("field", [*ENTRY_TEXT_FIELDS, "author", "tags", "enclosures"])
def test_forbidden_characters_in_an_entry_field_are_removed(field: str, summary_only: bool) -> None:
    dirty = render([_entry_with(field, _dirty), *ENTRIES[1:]], summary_only=summary_only)
    _assert_clean(dirty)
    # Removed, and nothing else changed: the field is still there, whole.
    clean = render([_entry_with(field, _same), *ENTRIES[1:]], summary_only=summary_only)
    assert dirty == clean


@pytest.mark.parametrize("field", [*CHANNEL_TEXT_FIELDS, "author", "links"])
def test_forbidden_characters_in_a_channel_field_are_removed(field: str) -> None:
    dirty = render(chan=_channel_with(field, _dirty))
    _assert_clean(dirty)
    assert dirty == render(chan=_channel_with(field, _same))


def test_bidi_controls_are_removed_from_titles_and_names() -> None:
    def bidi(value: str) -> str:
        return _dirty(value, BIDI)

    entry = dataclasses.replace(
        ENTRIES[0],
        title=bidi(ENTRIES[0].title),
        author=Person(bidi("Bob")),
        tags=(TagRef("food", bidi("Food")),),
    )
    chan = json_channel(title=bidi("Test Site"), author=Person(bidi("Ann")))
    feed = document([entry], chan)
    assert feed["title"] == "Test Site"
    assert feed["authors"] == [{"name": "Ann"}]
    item = feed["items"][0]
    assert item["title"] == ENTRIES[0].title
    assert item["authors"] == [{"name": "Bob"}]
    assert item["tags"] == ["Food"]


# -- feed readers --------------------------------------------------------------------


def _feedparser_reads_json_feeds() -> bool:
    probe = {"version": SPEC_VERSION, "title": "t", "items": [{"id": "1", "content_text": "x"}]}
    parsed = feedparser.parse(json.dumps(probe).encode())
    return not parsed.bozo and [entry.get("id") for entry in parsed.entries] == ["1"]


@pytest.mark.skipif(
    not _feedparser_reads_json_feeds(),
    reason=f"feedparser {feedparser.__version__} has no JSON Feed parser "
    "(none of the 6.0.x releases has; its main branch does)",
)
def test_feedparser_reads_back_ids_titles_and_links() -> None:
    parsed = parse_feed(render())
    assert parsed.feed.title == "Test Site"
    assert parsed.feed.link == BASE_URL
    assert len(parsed.entries) == len(ENTRIES)
    for got, want in zip(parsed.entries, ENTRIES, strict=True):
        assert got.id == want.id
        assert got.title == want.title
        assert got.link == want.url


# -- what the module may use ---------------------------------------------------------------


def test_renderer_imports_neither_feedgen_nor_storage_nor_jobs() -> None:
    source = Path(jsonfeed.__file__).read_text(encoding="utf-8")
    imported: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, "relative import: the check below would miss it"
            imported.add(node.module or "")
    assert "feeder.entries" in imported  # the scan sees the imports
    for name in imported:
        assert name.split(".")[0] not in {"feedgen", "db", "jobs"}, name


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON)
def test_the_fast_encoder_writes_what_json_dumps_writes(value: object) -> None:
    assert _json.dumps(value) == json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)


def test_what_the_fast_encoder_does_not_know_goes_to_json_dumps() -> None:
    value = {"a": [1.5, {"b": 2}], "c": (True, None)}
    assert _json.dumps(value) == json.dumps(value, ensure_ascii=False, indent=2, allow_nan=False)
    with pytest.raises(ValueError):
        _json.dumps({"x": float("nan")})
