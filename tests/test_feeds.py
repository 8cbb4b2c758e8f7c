"""Every feed a subscriber wants: the site's, each tag's and each author's, in each format.

Checked the way a subscriber and the W3C validator would: each file parses, its
self link is the address it is served at, the site comes first, no link is
relative, ids are unique and equal across formats, a tag's feed holds exactly
its articles, and a change rewrites only the feeds that hold what changed.
"""

from __future__ import annotations

import dataclasses
import json
import string
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from feeder import Person, Site
from tests.conftest import START, FakeClock
from tests.feedcheck import parse_feed

BASE = "https://example.org/blog/"
ATOM = "{http://www.w3.org/2005/Atom}"
XML_FEEDS = ("rss.xml", "atom.xml")


def _configured(site: Site, clock: FakeClock, **feeds: Any) -> Site:
    config = dataclasses.replace(site.config, feeds=dataclasses.replace(site.config.feeds, **feeds))
    return Site(config, site.storage, clock)


def _files(site: Site) -> set[str]:
    root = site.config.output_dir
    return {str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()}


def _stamps(site: Site) -> dict[str, int]:
    root = site.config.output_dir
    return {str(p.relative_to(root)): p.stat().st_ino for p in root.rglob("*") if p.is_file()}


def _titles(site: Site, path: str) -> list[str]:
    return [entry.title for entry in parse_feed(site.config.output_dir / path).entries]


def _json(site: Site, path: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((site.config.output_dir / path).read_text())
    return data


@pytest.fixture
def blog(site: Site, clock: FakeClock) -> Site:
    ann = Person("Ann Author", "ann@example.org")
    clock.advance(minutes=1)
    site.add_article("Python tips", tags=["Python", "Tips"], author=ann, content="<p>a</p>")
    clock.advance(minutes=1)
    site.add_article("Cooking", tags=["Food"], author="Bob Baker", content="<p>b</p>")
    clock.advance(minutes=1)
    site.add_article("More Python", tags=["Python"], author="Bob Baker", content="<p>c</p>")
    clock.advance(minutes=1)
    site.add_article("Later", tags=["Python"], published=START + timedelta(days=9))
    site.build()
    return site


def test_each_tag_and_author_has_feeds_in_every_format_and_a_page(blog: Site) -> None:
    files = _files(blog)
    for directory in ("tags/python/", "tags/tips/", "tags/food/", "authors/ann-author/",
                      "authors/bob-baker/"):  # fmt: skip
        for name in ("rss.xml", "atom.xml", "feed.json", "index.html"):
            assert directory + name in files
    assert _titles(blog, "tags/python/atom.xml") == ["More Python", "Python tips"]
    assert _titles(blog, "tags/food/rss.xml") == ["Cooking"]
    assert _titles(blog, "authors/bob-baker/atom.xml") == ["More Python", "Cooking"]
    assert _titles(blog, "authors/ann-author/rss.xml") == ["Python tips"]
    # The scheduled article is in no feed yet, and its tag-only feeds do not exist early.
    assert "Later" not in _titles(blog, "tags/python/rss.xml")
    page = (blog.config.output_dir / "tags" / "python" / "index.html").read_text()
    assert "More Python" in page and BASE + "tags/python/rss.xml" in page
    assert f'href="{BASE}tags/python/feed.json"' in page


@pytest.mark.parametrize("path", ["tags/python/", "authors/bob-baker/", ""])
def test_every_feed_follows_the_validators_rules(blog: Site, path: str) -> None:
    atom_ids = None
    for name in XML_FEEDS:
        served_at = BASE + path + name
        parsed = parse_feed(blog.config.output_dir / path / name)
        assert [link.href for link in parsed.feed.links if link.rel == "self"] == [served_at]
        assert parsed.feed.link == BASE + path  # the page this feed belongs to
        ids = [entry.id for entry in parsed.entries]
        assert len(ids) == len(set(ids))
        root = etree.parse(str(blog.config.output_dir / path / name)).getroot()
        for element in root.iter():
            for attribute in ("href", "uri"):
                if element.get(attribute):
                    assert urlsplit(element.get(attribute)).scheme in ("http", "https")
        if name == "atom.xml":
            atom_ids = ids
            first = root.find(f"{ATOM}link")
            assert first is not None and first.get("rel") == "alternate"
            updated = [e.findtext(f"{ATOM}updated") for e in root.iter(f"{ATOM}entry")]
            assert len(updated) == len(set(updated))
    feed = _json(blog, path + "feed.json")
    assert feed["feed_url"] == BASE + path + "feed.json"
    assert [item["id"] for item in feed["items"]] == atom_ids


def test_channel_ids_and_titles_are_the_selections_own(blog: Site) -> None:
    channel = etree.parse(str(blog.config.output_dir / "tags/python/atom.xml")).getroot()
    assert channel.findtext(f"{ATOM}title") == "Test Site: Python"
    assert channel.findtext(f"{ATOM}id") == "tag:example.org,2026-11-26:/feeds/tags/python/atom.xml"
    assert _json(blog, "authors/ann-author/feed.json")["title"] == "Test Site: Ann Author"


def test_a_change_rewrites_only_the_feeds_that_hold_it_and_those_it_left(
    blog: Site, clock: FakeClock
) -> None:
    before = _stamps(blog)
    clock.advance(minutes=5)
    # "Cooking" leaves Food and Bob, and joins Python under Ann.
    blog.edit_article("cooking", tags=["Python"], author="Ann Author")
    report = blog.build()
    assert not report.full
    changed = {path for path, inode in _stamps(blog).items() if before.get(path) != inode}
    feeds = ("rss.xml", "atom.xml", "feed.json", "index.html")
    expected = {"articles/cooking.html", "rss.xml", "atom.xml", "feed.json", "index.html"}
    expected.add("feeds.opml")  # Food's feeds are gone from it
    for directory in ("tags/python/", "authors/ann-author/", "authors/bob-baker/"):
        expected |= {directory + name for name in feeds}
    # Food has nothing left: its directory goes.
    assert not (blog.config.output_dir / "tags" / "food").exists()
    assert {p for p in report.removed} == {f"tags/food/{name}" for name in feeds}
    assert changed == expected
    assert "tags/tips/rss.xml" not in changed  # untouched selections keep their files
    assert _titles(blog, "authors/bob-baker/rss.xml") == ["More Python"]


def test_a_full_build_ends_where_incremental_builds_do(blog: Site, clock: FakeClock) -> None:
    clock.advance(minutes=5)
    blog.edit_article("cooking", tags=["Python"], author="Ann Author")
    blog.delete_article("python-tips")
    blog.build()
    incremental = {p: (blog.config.output_dir / p).read_bytes() for p in _files(blog)}
    assert blog.build(full=True).written == ()
    assert {p: (blog.config.output_dir / p).read_bytes() for p in _files(blog)} == incremental
    # Tips has no article left: its feeds stay while they announce the deletion.
    tips = blog.config.output_dir / "tags" / "tips" / "atom.xml"
    assert not parse_feed(tips).entries and b"<at:deleted-entry" in tips.read_bytes()


def test_feeds_can_be_switched_off_and_formats_chosen(blog: Site, clock: FakeClock) -> None:
    narrow = _configured(blog, clock, tags=False, authors=True, formats=("atom",))
    narrow.build()
    files = _files(narrow)
    assert not any(path.startswith("tags/") for path in files)
    assert "authors/bob-baker/atom.xml" in files and "authors/bob-baker/rss.xml" not in files
    assert "rss.xml" not in files and "feed.json" not in files and "atom.xml" in files


def test_summary_only_feeds_carry_no_content(blog: Site, clock: FakeClock) -> None:
    brief = _configured(blog, clock, summary_only=("tags",))
    brief.build()
    out = brief.config.output_dir
    assert b"content:encoded" not in (out / "tags/python/rss.xml").read_bytes()
    assert b"<content" not in (out / "tags/python/atom.xml").read_bytes()
    assert "content_html" not in (out / "tags/python/feed.json").read_text()
    assert b"content:encoded" in (out / "rss.xml").read_bytes()


def test_opml_lists_every_feed_for_a_reader_to_import(blog: Site) -> None:
    root = etree.parse(str(blog.config.output_dir / "feeds.opml")).getroot()
    urls = [outline.get("xmlUrl") for outline in root.iter("outline") if outline.get("xmlUrl")]
    served = {BASE + p for p in _files(blog) if p.endswith((".xml", ".json"))}
    assert set(urls) == served and len(urls) == len(set(urls))
    assert {o.get("text") for o in root.find("body")} == {"Test Site", "Tags", "Authors"}  # type: ignore[union-attr]


def test_the_index_lists_tags_authors_and_the_opml(blog: Site) -> None:
    index = (blog.config.output_dir / "index.html").read_text()
    for url in ("tags/python/", "tags/food/", "authors/bob-baker/", "feeds.opml"):
        assert f'href="{BASE}{url}"' in index


def test_the_index_links_every_feed_of_the_site_in_every_format(blog: Site) -> None:
    root = blog.config.output_dir
    page = etree.HTML((root / "index.html").read_bytes())
    linked = {a.get("href") for a in page.iter("a")}
    feeds = {
        f"{BASE}{path}"
        for path in _files(blog)
        if path.endswith(("rss.xml", "atom.xml", "feed.json"))
    }
    assert len(feeds) == 3 * (1 + 3 + 2)  # the site, three tags, two authors
    assert feeds <= linked
    # Each feed link says what it is, for a browser or a reader following it.
    types = {a.get("href"): a.get("type") for a in page.iter("a") if a.get("type")}
    assert types[f"{BASE}tags/python/feed.json"] == "application/feed+json"
    assert types[f"{BASE}authors/bob-baker/atom.xml"] == "application/atom+xml"


@pytest.mark.parametrize(
    ("stylesheet", "instructions", "shipped"),
    [
        ("xslt", ["text/xsl", "text/css"], {"feed.xsl", "feed.css"}),
        ("css", ["text/css"], {"feed.css"}),
        ("none", [], set()),
    ],
)
def test_browsers_are_pointed_at_a_stylesheet_on_the_same_origin(
    blog: Site, clock: FakeClock, stylesheet: str, instructions: list[str], shipped: set[str]
) -> None:
    styled = _configured(blog, clock, stylesheet=stylesheet)
    styled.build()
    for path in ("rss.xml", "tags/python/atom.xml"):
        lines = (styled.config.output_dir / path).read_text().splitlines()
        found = [line for line in lines[1:3] if line.startswith("<?xml-stylesheet")]
        assert [line.split('type="')[1].split('"')[0] for line in found] == instructions
        for line in found:
            assert 'href="/blog/feed.' in line
        parse_feed(styled.config.output_dir / path)  # still a feed to readers
    assert {"feed.xsl", "feed.css"} & _files(styled) == shipped


def test_articles_written_in_one_second_keep_distinct_updated_dates(
    site: Site, clock: FakeClock
) -> None:
    for n in range(3):
        clock.advance(microseconds=1000)
        site.add_article(f"Burst {n}")
    site.build()
    root = etree.parse(str(site.config.output_dir / "atom.xml")).getroot()
    updated = [e.findtext(f"{ATOM}updated") for e in root.iter(f"{ATOM}entry")]
    assert len(set(updated)) == 3
    assert all(value and value.startswith("2026-11-26T12:00:00.00") for value in updated)


# -- random sites ---------------------------------------------------------------------

NAMES = st.text(alphabet=string.ascii_letters + "éßπ日本 ‮-", min_size=1, max_size=12).filter(
    lambda s: any(ch.isalnum() for ch in s)
)
ARTICLES = st.lists(
    st.tuples(
        st.text(min_size=1, max_size=30).filter(lambda s: s.strip()),
        st.lists(NAMES, max_size=3),
        st.one_of(st.none(), st.sampled_from(["Ann", "Bob", "Zoë", "李"])),
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(articles=ARTICLES)
def test_random_sites_put_every_article_in_exactly_its_feeds(
    tmp_path_factory: pytest.TempPathFactory, articles: list[tuple[str, list[str], str | None]]
) -> None:
    root = tmp_path_factory.mktemp("random")
    with Site.init(root, title="Random", base_url=BASE, clock=FakeClock()) as site:
        ids: dict[str, tuple[set[str], str | None]] = {}
        for title, tags, author in articles:
            try:
                added = site.add_article(title, tags=tags, author=author)
            except ValueError:
                continue  # a title that is only forbidden characters, say
            ids[added.id] = (
                {tag.slug for tag in added.tags},
                added.author.name if added.author else None,
            )
        report = site.build()
        assert report.ok, report.errors
        out = site.config.output_dir
        seen: dict[str, set[str]] = {uid: set() for uid in ids}
        for path in sorted(p for p in out.rglob("atom.xml")):
            parsed = parse_feed(path)
            directory = str(path.parent.relative_to(out))
            for entry in parsed.entries:
                seen[entry.id].add(directory)
            for other in ("rss.xml", "feed.json"):
                assert (path.parent / other).exists()
                if other == "rss.xml":
                    assert {e.id for e in parse_feed(path.parent / other).entries} == {
                        e.id for e in parsed.entries
                    }
        slugs = {
            json.loads((p / "feed.json").read_text())["title"].removeprefix("Random: "): (
                f"authors/{p.name}"
            )
            for p in (out / "authors").glob("*")
        }
        for uid, (tags, author) in ids.items():
            expected = {"."} | {f"tags/{tag}" for tag in tags}
            if author is not None:
                expected.add(slugs[author])
            assert seen[uid] == expected
        before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert site.build(full=True).written == ()
        assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
