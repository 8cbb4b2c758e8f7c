"""Podcast mode: the RSS feed meets PSP-1, the Podcast Standards Project's RSS specification.

The required and recommended elements are checked one by one, in the order
and with the names of the specification's own lists
(github.com/Podcast-Standards-Project/PSP-1-Podcast-RSS-Specification), on
the bytes a build writes; feedparser reads the feed back with its itunes_*
and podcast_* fields.
"""

from __future__ import annotations

import dataclasses
import json
import re
import uuid
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from lxml import etree
from sqlalchemy import text

from feeder import ConfigError, Media, Site
from feeder._podcast import image_size, mint_guid
from feeder.cli import cli
from feeder.config import load
from feeder.publishing.build import output_fingerprint
from tests.conftest import FakeClock
from tests.feedcheck import parse_feed
from tests.media_support import audio, jpeg, png

BASE = "https://example.org/blog/"
CDN = "https://cdn.example.net/"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
PODCAST = "https://podcastindex.org/namespace/1.0"
ATOM = "http://www.w3.org/2005/Atom"
NS = {"itunes": ITUNES, "podcast": PODCAST, "atom": ATOM}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")

SETTINGS: dict[str, Any] = {
    "image": "cover.png",
    "category": ["Technology", "Arts/Books"],
    "explicit": False,
    "owner_name": "Ann Author",
    "owner_email": "ann@example.org",
    "locked": True,
}


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)  # strings and lists of strings are the same in TOML


def configure(site: Site, **settings: Any) -> Site:
    """``site`` with a [podcast] section (SETTINGS, changed by ``settings``; None drops a key)."""
    root = site.config.root
    if not (root / "cover.png").exists():
        png(root / "cover.png")
    keys = {k: v for k, v in {**SETTINGS, **settings}.items() if v is not None}
    path = root / "feeder.toml"
    base = path.read_text(encoding="utf-8").split("\n[podcast]\n")[0]
    section = "".join(f"{key} = {_toml(value)}\n" for key, value in keys.items())
    path.write_text(f"{base}\n[podcast]\n{section}", encoding="utf-8")
    config = load(path, environ={}, overrides={"database_url": site.config.database_url})
    return site.with_config(config)


def channel(site: Site, name: str = "rss.xml") -> Any:
    root = etree.parse(str(site.config.output_dir / name)).getroot()
    return root, root.find("channel")


@pytest.fixture
def podcast(site: Site, tmp_path: Path) -> Site:
    """A podcast with two episodes (one with every optional field) and a text post."""
    show = configure(site, funding="https://example.org/support", funding_text="Support us")
    audio(tmp_path / "ep1.mp3", 40_000)
    show.add_article(
        "Pilot",
        content="<p>The first one.</p>",
        enclosures=[tmp_path / "ep1.mp3"],
        duration="0:30:01",
        episode=1,
        season=1,
        episode_type="full",
        transcripts=[CDN + "ep1.vtt", Media(CDN + "ep1.html")],
        chapters=CDN + "ep1.json",
    )
    show.add_article("Notes", content="<p>A post without audio.</p>")
    show.add_article("Bonus", enclosures=[Media(CDN + "bonus.m4a", length=999)])
    assert show.build().ok
    return show


# -- PSP-1, element by element ---------------------------------------------------------


def test_the_three_namespaces_are_declared_on_the_root(podcast: Site) -> None:
    root, _channel = channel(podcast)
    assert root.tag == "rss" and root.get("version") == "2.0"
    assert {prefix: root.nsmap[prefix] for prefix in ("itunes", "podcast", "atom")} == NS
    # And the content module, since items carry HTML (PSP-1, "HTML and Link Support").
    assert root.nsmap["content"] == "http://purl.org/rss/1.0/modules/content/"
    declaration = (podcast.config.output_dir / "rss.xml").read_bytes().split(b"\n", 1)[0]
    assert declaration == b"<?xml version='1.0' encoding='UTF-8'?>"


def _atom_self(ch: Any) -> None:
    (link,) = ch.findall("atom:link[@rel='self']", NS)
    assert link.get("href") == BASE + "rss.xml"
    assert link.get("type") == "application/rss+xml"


def _title(ch: Any) -> None:
    assert ch.findtext("title") == "Test Site"


def _description(ch: Any) -> None:
    text_ = ch.findtext("description")
    assert text_ and len(text_.encode()) <= 4000


def _link(ch: Any) -> None:
    assert ch.findtext("link") == BASE


def _language(ch: Any) -> None:
    assert ch.findtext("language") == "en"


def _category(ch: Any) -> None:
    categories = ch.findall("itunes:category", NS)
    assert [c.get("text") for c in categories] == ["Technology", "Arts"]
    assert [c.get("text") for c in categories[1].findall("itunes:category", NS)] == ["Books"]


def _explicit(ch: Any) -> None:
    (explicit,) = ch.findall("itunes:explicit", NS)
    assert explicit.text == "false"  # PSP-1: true or false


def _image(ch: Any) -> None:
    (image,) = ch.findall("itunes:image", NS)
    assert re.fullmatch(re.escape(BASE) + r"media/[0-9a-f]{16}/cover\.png", image.get("href"))


REQUIRED_CHANNEL: list[tuple[str, Callable[[Any], None]]] = [
    ('<atom:link rel="self">', _atom_self),
    ("<title>", _title),
    ("<description>", _description),
    ("<link>", _link),
    ("<language>", _language),
    ("<itunes:category>", _category),
    ("<itunes:explicit>", _explicit),
    ("<itunes:image>", _image),
]


@pytest.mark.parametrize(
    "check", [c for _name, c in REQUIRED_CHANNEL], ids=[n for n, _c in REQUIRED_CHANNEL]
)
def test_every_required_channel_element(podcast: Site, check: Callable[[Any], None]) -> None:
    _root, ch = channel(podcast)
    check(ch)


def test_the_recommended_channel_elements(podcast: Site) -> None:
    _root, ch = channel(podcast)
    (locked,) = ch.findall("podcast:locked", NS)
    assert (locked.text, locked.get("owner")) == ("yes", "ann@example.org")
    (guid,) = ch.findall("podcast:guid", NS)
    assert guid.text == mint_guid(BASE + "rss.xml") and UUID.match(guid.text)
    assert ch.findtext("itunes:author", namespaces=NS) == "Ann Author"


def test_the_optional_channel_elements_when_configured(site: Site, tmp_path: Path) -> None:
    show = configure(
        site,
        type="serial",
        complete=True,
        funding="https://example.org/support",
        funding_text="Support us",
        author="The Show Team",
    )
    show.add_article("One", enclosures=[CDN + "one.mp3"], episode=1)
    show.build()
    _root, ch = channel(show)
    assert ch.findtext("itunes:type", namespaces=NS) == "serial"
    assert ch.findtext("itunes:complete", namespaces=NS) == "yes"
    (funding,) = ch.findall("podcast:funding", NS)
    assert (funding.get("url"), funding.text) == ("https://example.org/support", "Support us")
    assert ch.findtext("itunes:author", namespaces=NS) == "The Show Team"
    owner = ch.find("itunes:owner", NS)
    assert owner.findtext("itunes:name", namespaces=NS) == "Ann Author"
    assert owner.findtext("itunes:email", namespaces=NS) == "ann@example.org"


def test_every_item_has_the_required_elements(podcast: Site) -> None:
    _root, ch = channel(podcast)
    items = ch.findall("item")
    # PSP-1 requires an enclosure in every item: the text post is no episode.
    assert [item.findtext("title") for item in items] == ["Bonus", "Pilot"]
    for item in items:
        assert item.findtext("title")
        (enclosure,) = item.findall("enclosure")
        assert set(enclosure.attrib) == {"url", "length", "type"}
        assert enclosure.get("url").startswith(("https://",))
        assert int(enclosure.get("length")) > 0
        assert enclosure.get("type") in ("audio/mpeg", "audio/mp4")
        (guid,) = item.findall("guid")
        assert guid.get("isPermaLink") == "false" and guid.text.startswith("tag:example.org,")


def test_the_recommended_and_optional_item_elements(podcast: Site) -> None:
    _root, ch = channel(podcast)
    pilot = ch.findall("item")[1]
    assert pilot.findtext("link") == BASE + "articles/pilot.html"
    assert parsedate_to_datetime(pilot.findtext("pubDate")).tzinfo is not None  # RFC 2822
    assert pilot.findtext("description") == "The first one."
    assert pilot.findtext("itunes:duration", namespaces=NS) == "1801"  # seconds
    transcripts = [dict(t.attrib) for t in pilot.findall("podcast:transcript", NS)]
    assert transcripts == [
        {"url": CDN + "ep1.vtt", "type": "text/vtt", "rel": "captions"},
        {"url": CDN + "ep1.html", "type": "text/html"},
    ]
    assert pilot.findtext("itunes:episode", namespaces=NS) == "1"
    assert pilot.findtext("itunes:season", namespaces=NS) == "1"
    assert pilot.findtext("itunes:episodeType", namespaces=NS) == "full"
    (chapters,) = pilot.findall("podcast:chapters", NS)
    assert dict(chapters.attrib) == {"url": CDN + "ep1.json", "type": "application/json+chapters"}
    bonus = ch.findall("item")[0]
    assert bonus.find("itunes:duration", NS) is None  # only what is given


def test_feedparser_reads_the_podcast(podcast: Site) -> None:
    parsed = parse_feed(podcast.config.output_dir / "rss.xml")
    feed = parsed.feed
    assert feed.image.href.endswith("/cover.png")
    assert [t.term for t in feed.tags] == ["Technology", "Arts", "Books"]
    assert {t.scheme for t in feed.tags} == {"http://www.itunes.com/"}
    # feedparser reads only yes/clean into itunes_explicit; PSP-1's true/false is None.
    assert "itunes_explicit" in feed and feed.itunes_type == "episodic"
    assert feed.podcast_guid == mint_guid(BASE + "rss.xml")
    assert feed.author_detail == {"name": "Ann Author", "email": "ann@example.org"}
    bonus, pilot = parsed.entries
    assert pilot.itunes_duration == "1801" and pilot.itunes_episode == "1"
    assert pilot.itunes_season == "1" and pilot.itunes_episodetype == "full"
    assert pilot.podcast_chapters["url"] == CDN + "ep1.json"
    assert pilot.enclosures[0].type == "audio/mpeg"
    assert bonus.enclosures == [{"href": CDN + "bonus.m4a", "type": "audio/mp4", "length": "999"}]


def test_atom_and_json_feeds_still_carry_every_article(podcast: Site) -> None:
    atom = parse_feed(podcast.config.output_dir / "atom.xml")
    assert [e.title for e in atom.entries] == ["Bonus", "Notes", "Pilot"]
    assert b"itunes" not in (podcast.config.output_dir / "atom.xml").read_bytes()


# -- podcast:guid -----------------------------------------------------------------------


def test_guids_are_the_specifications_uuid5() -> None:
    # The examples of the podcast namespace: feed URLs without scheme and trailing slash.
    assert mint_guid("https://podnews.net/rss") == "9b024349-ccf0-5f69-a609-6b82873eab3c"
    assert mint_guid("http://podnews.net/rss/") == "9b024349-ccf0-5f69-a609-6b82873eab3c"
    assert (
        mint_guid("https://mp3s.nashownotes.com/pc20rss.xml")
        == "917393e3-1b1e-5cef-ace4-edaa54e1f810"
    )
    namespace = uuid.UUID("ead4c236-bf58-58c6-a2c6-a6b28d128cb6")
    assert mint_guid(BASE + "rss.xml") == str(uuid.uuid5(namespace, "example.org/blog/rss.xml"))


def _guid(site: Site, name: str = "rss.xml") -> str:
    _root, ch = channel(site, name)
    return str(ch.findtext("podcast:guid", namespaces=NS))


def test_the_guid_is_minted_once_and_kept_when_the_feed_moves(podcast: Site) -> None:
    first = _guid(podcast)
    with podcast.storage.engine.connect() as connection:
        rows = connection.execute(text("SELECT path, guid, seed FROM podcast_guids")).all()
    assert [tuple(row) for row in rows] == [("rss.xml", first, BASE + "rss.xml")]
    moved = podcast.with_config(
        dataclasses.replace(podcast.config, base_url="https://new-host.example/")
    )
    assert moved.build().full  # a new base URL: every file changes
    assert _guid(moved) == first
    _root, ch = channel(moved)
    assert ch.find("atom:link", NS).get("href") == "https://new-host.example/rss.xml"


def test_a_guid_kept_from_another_host_wins(site: Site) -> None:
    kept = "9b024349-ccf0-5f69-a609-6b82873eab3c"
    show = configure(site, guid=kept.upper())
    show.add_article("One", enclosures=[CDN + "one.mp3"])
    show.build()
    assert _guid(show) == kept


def test_a_stored_guid_that_is_no_uuid_is_reported(podcast: Site) -> None:
    with podcast.storage.engine.begin() as connection:
        connection.execute(text("UPDATE podcast_guids SET guid = 'garbage'"))
    report = podcast.build(full=True)
    assert report.errors == (
        f"rss.xml: the stored podcast:guid 'garbage' is not a UUID; publishing "
        f"{mint_guid(BASE + 'rss.xml')}, minted from {BASE}rss.xml: correct the podcast_guids row",
    )
    assert _guid(podcast) == mint_guid(BASE + "rss.xml")


def test_tag_feeds_can_be_podcasts_each_with_a_guid(site: Site) -> None:
    show = configure(site, feeds=["site", "tags"])
    show.add_article("One", enclosures=[CDN + "one.mp3"], tags=["Interviews"], author="Ann Author")
    show.build()
    site_guid, tag_guid = _guid(show), _guid(show, "tags/interviews/rss.xml")
    assert tag_guid == mint_guid(BASE + "tags/interviews/rss.xml") != site_guid
    # The author's feed is no podcast: "authors" is not in podcast.feeds.
    author_feed = (show.config.output_dir / "authors" / "ann-author" / "rss.xml").read_bytes()
    assert b"podcast:guid" not in author_feed


def test_episode_guids_never_change(podcast: Site, clock: FakeClock) -> None:
    _root, ch = channel(podcast)
    before = [item.findtext("guid") for item in ch.findall("item")]
    clock.advance(days=1)
    podcast.edit_article("pilot", new_slug="episode-1", title="Episode 1", duration=1900)
    podcast.build()
    _root, ch = channel(podcast)
    assert [item.findtext("guid") for item in ch.findall("item")] == before


# -- settings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"image": None}, "podcast.image: is required in podcast mode"),
        ({"category": None}, "podcast.category: is required in podcast mode"),
        ({"explicit": None}, "podcast.explicit: is required in podcast mode"),
        (
            {"category": ["Tech"]},
            "podcast.category: 'Tech' is not an Apple Podcasts category; use one of Apple's: Arts,",
        ),
        (
            {"category": ["Arts/Novels"]},
            "podcast.category: 'Arts/Novels' is not an Apple Podcasts category; subcategories "
            "of Arts: Books, Design,",
        ),
        ({"owner_email": "nobody"}, "podcast.owner_email: 'nobody' is not an email address"),
        ({"type": "weekly"}, "podcast.type: must be episodic or serial, got 'weekly'"),
        ({"funding": "paypal"}, "podcast.funding: 'paypal' is not an absolute http(s) URL"),
        ({"guid": "my-show"}, "podcast.guid: 'my-show' is not a UUID"),
        ({"feeds": ["everything"]}, "podcast.feeds: must list some of site, tags, authors"),
        ({"explicit": "maybe"}, "podcast.explicit: must be true or false, got 'maybe'"),
        ({"image": "cover.gif"}, "podcast.image: 'cover.gif' must be a .jpg or .png file"),
        ({"image": "https://example.org/cover"}, "must end in .jpg or .png"),
        ({"image": "missing.png"}, "podcast.image: cannot read"),
    ],
)
def test_each_bad_setting_is_a_config_error_naming_its_key(
    site: Site, settings: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError) as refused:
        configure(site, **settings)
    assert message in str(refused.value)
    assert "\n" not in str(refused.value)


@pytest.mark.parametrize(
    ("size", "problem"),
    [((1000, 1000), "1000 x 1000 pixels"), ((1400, 1500), "1400 x 1500 pixels")],
)
def test_the_artwork_is_measured(site: Site, size: tuple[int, int], problem: str) -> None:
    png(site.config.root / "small.png", *size)
    with pytest.raises(ConfigError, match=f"podcast.image: .*small.png' is {problem}; the art"):
        configure(site, image="small.png")


def test_the_artwork_must_be_what_its_extension_says(site: Site) -> None:
    png(site.config.root / "cover.jpg")
    with pytest.raises(ConfigError, match=r"cover\.jpg' is not a JPEG file"):
        configure(site, image="cover.jpg")
    jpeg(site.config.root / "photo.jpg", 3000, 3000)
    assert image_size(site.config.root / "photo.jpg") == ("jpeg", 3000, 3000)
    configure(site, image="photo.jpg")


def test_a_url_artwork_is_used_as_it_is(site: Site) -> None:
    show = configure(site, image="https://cdn.example.net/art.jpg")
    show.add_article("One", enclosures=[CDN + "one.mp3"])
    show.build()
    _root, ch = channel(show)
    assert ch.find("itunes:image", NS).get("href") == "https://cdn.example.net/art.jpg"
    assert not (show.config.output_dir / "media").exists()


def test_rss_must_be_published_for_podcast_mode(site: Site) -> None:
    path = site.config.root / "feeder.toml"
    path.write_text(path.read_text() + '\n[feeds]\nformats = ["atom"]\n')
    with pytest.raises(ConfigError, match=r"feeds\.formats: podcast feeds are RSS"):
        configure(site)


def test_the_cli_says_it_in_one_line(site: Site) -> None:
    path = site.config.root / "feeder.toml"
    path.write_text(path.read_text() + '\n[podcast]\nimage = "cover.png"\n')
    result = CliRunner().invoke(cli, ["-c", str(path), "build"])
    assert result.exit_code == 78
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ") and "podcast.category: is required" in result.stderr


def test_podcast_settings_are_fingerprinted(site: Site) -> None:
    plain = output_fingerprint(site.config)
    show = configure(site)
    assert output_fingerprint(show.config) != plain
    assert output_fingerprint(configure(site, explicit=True).config) != output_fingerprint(
        show.config
    )
    # A site with podcast mode switched off keeps the fingerprint it had: no needless full build.
    assert output_fingerprint(configure(site, enabled=False).config) == plain
    show.add_article("One", enclosures=[CDN + "one.mp3"])
    show.build()
    assert not show.build().full
    assert configure(site, explicit=True).build().full


def test_a_new_artwork_file_is_a_new_url(site: Site) -> None:
    show = configure(site)
    show.add_article("One", enclosures=[CDN + "one.mp3"])
    show.build()
    before = channel(show)[1].find("itunes:image", NS).get("href")
    png(site.config.root / "cover.png", 1500, 1500)
    changed = configure(site)
    assert changed.build().full
    after = channel(changed)[1].find("itunes:image", NS).get("href")
    assert after != before
    assert (changed.config.output_dir / after.removeprefix(BASE)).is_file()
    assert not (changed.config.output_dir / before.removeprefix(BASE)).exists()
