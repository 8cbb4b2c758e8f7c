"""Enclosures: given as URLs or local files, stored, published in every format, served in ranges.

What a reader's app sees is checked with feedparser (RSS, Atom) and as JSON
Feed; the CLI through CliRunner and once through a real subprocess; byte
ranges over real HTTP against the embedded server serving a built site.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result
from lxml import etree
from sqlalchemy import text

from feeder import ConfigError, Draft, InputError, Media, Site
from feeder.cli import cli
from feeder.config import load
from feeder.server import OutputFiles, Server, media_type_of
from tests.conftest import START, FakeClock
from tests.feedcheck import parse_feed
from tests.media_support import audio

BASE = "https://example.org/blog/"
ATOM = "{http://www.w3.org/2005/Atom}"
MRSS = "http://search.yahoo.com/mrss/"
CDN = "https://cdn.example.net/"


def _feed(site: Site, name: str) -> Any:
    return parse_feed(site.config.output_dir / name)


def _json(site: Site, name: str = "feed.json") -> Any:
    return json.loads((site.config.output_dir / name).read_bytes())


def _episode(site: Site, tmp_path: Path, **more: Any) -> tuple[Any, bytes]:
    """An article with a local file and a URL as enclosures; the local file's bytes."""
    data = audio(tmp_path / "sources" / "Episode One.MP3")
    article = site.add_article(
        "Episode one",
        content="<p>Show notes.</p>",
        enclosures=[
            tmp_path / "sources" / "Episode One.MP3",
            Media(CDN + "one.m4a", length=1234),
        ],
        **more,
    )
    return article, data


# -- storing --------------------------------------------------------------------------


def test_a_local_file_is_read_stored_and_published_with_the_site(
    site: Site, tmp_path: Path
) -> None:
    article, data = _episode(site, tmp_path)
    local, remote = article.enclosures
    assert (local.media_type, local.length) == ("audio/mpeg", len(data))
    # Its name: the content's hash, then the file's own name made safe.
    assert local.file is not None and local.file.endswith("/episode-one.mp3")
    assert local.url == BASE + "media/" + local.file
    assert (remote.url, remote.media_type, remote.length, remote.file) == (
        CDN + "one.m4a",
        "audio/mp4",
        1234,
        None,
    )
    assert (site.config.media_dir / local.file).read_bytes() == data
    report = site.build()
    assert report.ok, report.errors
    assert "media/" + local.file in report.written
    assert (site.config.output_dir / "media" / local.file).read_bytes() == data
    assert site.get_article(article.slug) == article


def test_the_media_store_must_not_be_inside_the_output_directory(site: Site) -> None:
    path = site.config.root / "feeder.toml"
    path.write_text('media_dir = "public/media"\n' + path.read_text(encoding="utf-8"))
    with pytest.raises(ConfigError) as refused:
        load(path, environ={})
    assert str(refused.value).startswith(f"{path}: media_dir: '{site.config.root}/public/media'")


def test_add_edit_and_import_store_the_same_media_rows(site: Site, tmp_path: Path) -> None:
    given = [Media(CDN + "a.mp3", length=5), CDN + "b.ogg"]
    site.add_article("Added", enclosures=given, duration=61, episode=2, chapters=CDN + "c.json")
    site.add_article("Edited")
    chapters = CDN + "c.json"
    site.edit_article("edited", enclosures=given, duration="1:01", episode=2, chapters=chapters)
    draft = Draft(
        origin="x.jsonl:1",
        title="Imported",
        enclosures=tuple(m if isinstance(m, Media) else Media(m) for m in given),
        duration="61",
        episode="2",
        chapters=Media(CDN + "c.json"),
    )
    assert site.import_drafts([draft]).ok
    with site.storage.engine.connect() as connection:
        media = connection.execute(
            text(
                "SELECT a.slug, m.role, m.position, m.url, m.file, m.media_type, m.length "
                "FROM article_media m JOIN articles a ON a.pk = m.article_pk "
                "ORDER BY a.slug, m.role, m.position"
            )
        ).all()
        episodes = connection.execute(
            text(
                "SELECT a.slug, e.duration, e.number, e.season, e.episode_type "
                "FROM article_episodes e JOIN articles a ON a.pk = e.article_pk ORDER BY a.slug"
            )
        ).all()
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for slug, *values in media:
        rows.setdefault(slug, []).append(tuple(values))
    assert (
        rows["added"]
        == rows["edited"]
        == rows["imported"]
        == [
            ("chapters", 0, CDN + "c.json", None, "application/json+chapters", None),
            ("enclosure", 0, CDN + "a.mp3", None, "audio/mpeg", 5),
            ("enclosure", 1, CDN + "b.ogg", None, "audio/ogg", None),
        ]
    )
    assert [tuple(row[1:]) for row in episodes] == [(61, 2, None, None)] * 3


def test_two_different_files_with_the_same_name_do_not_collide(site: Site, tmp_path: Path) -> None:
    first = audio(tmp_path / "a" / "episode.mp3")
    second = audio(tmp_path / "b" / "episode.mp3")
    one = site.add_article("One", enclosures=[tmp_path / "a" / "episode.mp3"])
    two = site.add_article("Two", enclosures=[tmp_path / "b" / "episode.mp3"])
    assert one.enclosures[0].url != two.enclosures[0].url
    site.build()
    out = site.config.output_dir
    assert (out / "media" / str(one.enclosures[0].file)).read_bytes() == first
    assert (out / "media" / str(two.enclosures[0].file)).read_bytes() == second


def test_the_type_of_a_url_comes_from_its_name_unless_given(site: Site) -> None:
    article = site.add_article(
        "Types",
        enclosures=[
            CDN + "show.mp3?token=1",
            Media(CDN + "download?id=7", media_type="Audio/MPEG"),
            CDN + "slides.pdf",
        ],
    )
    assert [(e.media_type, e.length) for e in article.enclosures] == [
        ("audio/mpeg", None),
        ("audio/mpeg", None),
        ("application/pdf", None),
    ]


@pytest.mark.parametrize(
    ("given", "message"),
    [
        (
            "ftp://example.org/a.mp3",
            "enclosure: 'ftp://example.org/a.mp3' is not an absolute http(s) URL; use e.g. "
            "'https://example.org/post'",
        ),
        (
            Media(CDN + "a.mp3", length=-1),
            "enclosure-length: -1 is negative; give the size in bytes, or leave it out if unknown",
        ),
        (
            Media(CDN + "a.mp3", media_type="audio"),
            "enclosure-type: 'audio' is not a media type; use one like 'audio/mpeg' or 'video/mp4'",
        ),
        (
            CDN + "stream",
            f"enclosure-type: cannot tell the media type of '{CDN}stream' from its name; give "
            "it with --enclosure-type (e.g. audio/mpeg)",
        ),
        ("", "enclosure: is empty; give a URL or the path of a file"),
    ],
)
def test_bad_enclosures_are_refused_in_one_line_and_nothing_is_stored(
    site: Site, given: Any, message: str
) -> None:
    revision = site.revision()
    with pytest.raises(InputError) as refused:
        site.add_article("Refused", enclosures=[given])
    assert str(refused.value) == message
    assert site.revision() == revision and site.list_articles() == []


def test_a_missing_or_unpublishable_local_file_is_refused(site: Site, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"^enclosure: '.*nothing\.mp3' is neither an http"):
        site.add_article("Missing", enclosures=[tmp_path / "nothing.mp3"])
    (tmp_path / "notes.exe").write_bytes(b"MZ")
    with pytest.raises(InputError, match=r"^enclosure: 'notes\.exe': feeder publishes enclosure"):
        site.add_article("Program", enclosures=[tmp_path / "notes.exe"])
    audio(tmp_path / "x.mp3", 100)
    with pytest.raises(InputError, match=r"^enclosure-length: 5 is not the size of 'x\.mp3'"):
        site.add_article("Size", enclosures=[Media(str(tmp_path / "x.mp3"), length=5)])
    assert site.list_articles() == []
    assert not site.config.media_dir.exists()


def test_an_edit_that_changes_enclosures_is_visible_and_a_repeat_changes_nothing(
    site: Site, clock: FakeClock
) -> None:
    article = site.add_article("Show", enclosures=[CDN + "a.mp3"])
    clock.advance(hours=1)
    same = site.edit_article("show", enclosures=[CDN + "a.mp3"])
    assert same.updated_at == article.updated_at
    revision = site.revision()
    edited = site.edit_article("show", enclosures=[Media(CDN + "a.mp3", length=10)])
    assert edited.updated_at == clock.value and site.revision() == revision + 1
    clock.advance(hours=1)
    episode = site.edit_article("show", duration="0:30:00", episode=4)
    assert episode.updated_at == clock.value
    assert episode.enclosures == edited.enclosures  # not given: kept
    assert episode.episode is not None and (episode.episode.duration, episode.episode.number) == (
        1800,
        4,
    )
    full = site.edit_article(
        "show", transcripts=[CDN + "a.vtt"], chapters=CDN + "a.json", enclosures=[CDN + "a.mp3"]
    )
    revision = site.revision()
    again = site.edit_article(
        "show", chapters=CDN + "a.json", transcripts=[CDN + "a.vtt"], enclosures=[CDN + "a.mp3"]
    )
    assert again == full and site.revision() == revision
    cleared = site.edit_article("show", enclosures=[], duration=None)
    assert cleared.enclosures == ()
    assert cleared.episode is not None and cleared.episode.duration is None
    assert cleared.episode.number == 4


def test_deleting_an_article_deletes_its_media_rows(site: Site) -> None:
    site.add_article("Gone", enclosures=[CDN + "a.mp3"], duration=60)
    site.delete_article("gone")
    with site.storage.engine.connect() as connection:
        for table in ("article_media", "article_episodes"):
            assert connection.execute(text(f"SELECT count(*) FROM {table}")).scalar() == 0


# -- feeds ----------------------------------------------------------------------------


def test_every_format_carries_the_enclosures(site: Site, tmp_path: Path) -> None:
    article, data = _episode(site, tmp_path, duration=754)
    local, remote = article.enclosures
    site.add_article("Text only", content="<p>No media.</p>")
    assert site.build().ok

    rss = _feed(site, "rss.xml").entries[1]
    # RSS allows one enclosure: the first; the second is media:content.
    assert rss.enclosures == [{"href": local.url, "type": "audio/mpeg", "length": str(len(data))}]
    assert rss.media_content == [
        {"url": remote.url, "type": "audio/mp4", "filesize": "1234", "medium": "audio"}
    ]
    atom = _feed(site, "atom.xml").entries[1]
    assert atom.link == article.url  # the article, not a media file
    assert atom.enclosures == [
        {"href": local.url, "type": "audio/mpeg", "length": str(len(data))},
        {"href": remote.url, "type": "audio/mp4", "length": "1234"},
    ]
    item = _json(site)["items"][1]
    assert item["attachments"] == [
        {
            "url": local.url,
            "mime_type": "audio/mpeg",
            "size_in_bytes": len(data),
            "duration_in_seconds": 754,
        },
        {
            "url": remote.url,
            "mime_type": "audio/mp4",
            "size_in_bytes": 1234,
            "duration_in_seconds": 754,
        },
    ]
    text_only = _feed(site, "atom.xml").entries[0]
    assert text_only.enclosures == [] and "attachments" not in _json(site)["items"][0]


def test_atom_keeps_the_alternate_link_first_and_says_what_each_link_is(
    site: Site, tmp_path: Path
) -> None:
    # feedgen 1.0 drops rel, type and length of entry links (python-feedgen 135, 143):
    # the enclosure would become a second alternate link and lose its type and size.
    article, data = _episode(site, tmp_path)
    site.build()
    root = etree.parse(str(site.config.output_dir / "atom.xml")).getroot()
    links = [dict(link.attrib) for link in root.find(f"{ATOM}entry").findall(f"{ATOM}link")]
    assert links == [
        {"href": article.url, "rel": "alternate"},
        {
            "href": article.enclosures[0].url,
            "rel": "enclosure",
            "type": "audio/mpeg",
            "length": str(len(data)),
        },
        {"href": CDN + "one.m4a", "rel": "enclosure", "type": "audio/mp4", "length": "1234"},
    ]


def test_an_unknown_length_is_0_in_rss_and_left_out_elsewhere(site: Site) -> None:
    site.add_article("Unknown size", enclosures=[CDN + "a.mp3"])
    site.build()
    out = site.config.output_dir
    item = etree.parse(str(out / "rss.xml")).getroot().find("channel/item")
    assert dict(item.find("enclosure").attrib) == {
        "url": CDN + "a.mp3",
        "length": "0",
        "type": "audio/mpeg",
    }
    link = etree.parse(str(out / "atom.xml")).getroot().find(f"{ATOM}entry/{ATOM}link[2]")
    assert "length" not in link.attrib
    attachments = _json(site)["items"][0]["attachments"]
    assert attachments == [{"url": CDN + "a.mp3", "mime_type": "audio/mpeg"}]


def test_namespaces_are_declared_only_when_used(site: Site) -> None:
    site.add_article("One file", enclosures=[CDN + "a.mp3"])
    site.build()
    rss = (site.config.output_dir / "rss.xml").read_bytes()
    assert MRSS.encode() not in rss and b"itunes" not in rss and b"podcast" not in rss
    site.edit_article("one-file", enclosures=[CDN + "a.mp3", CDN + "a.ogg"])
    site.build()
    rss = (site.config.output_dir / "rss.xml").read_bytes()
    assert b'xmlns:media="http://search.yahoo.com/mrss/"' in rss


def test_the_article_page_offers_the_files(site: Site, tmp_path: Path) -> None:
    article, _data = _episode(site, tmp_path)
    site.build()
    page = (site.config.output_dir / "articles" / f"{article.slug}.html").read_text()
    assert f'<audio controls preload="none" src="{article.enclosures[0].url}">' in page
    assert f'href="{CDN}one.m4a"' in page


def test_a_site_without_enclosures_publishes_no_media(site: Site) -> None:
    site.add_article("Plain", content="<p>Words.</p>")
    report = site.build()
    assert not (site.config.output_dir / "media").exists()
    assert not any(name.startswith("media/") for name in report.written)


# -- publishing the files -------------------------------------------------------------


def test_a_full_build_restores_missing_files_and_removes_unused_ones(
    site: Site, tmp_path: Path
) -> None:
    article, data = _episode(site, tmp_path)
    site.build()
    published = site.config.output_dir / "media" / str(article.enclosures[0].file)
    published.unlink()
    assert site.build(full=True).ok
    assert published.read_bytes() == data
    before = published.stat().st_mtime_ns
    assert site.build(full=True).ok
    assert published.stat().st_mtime_ns == before  # present and whole: not written again
    site.delete_article(article.slug)
    report = site.build(full=True)
    assert not published.exists() and not published.parent.exists()
    assert "media/" + str(article.enclosures[0].file) in report.removed
    # The store keeps its copy: nothing is lost.
    assert (site.config.media_dir / str(article.enclosures[0].file)).read_bytes() == data


def test_a_scheduled_articles_file_is_published_when_it_is(
    site: Site, clock: FakeClock, tmp_path: Path
) -> None:
    audio(tmp_path / "later.mp3")
    article = site.add_article(
        "Later", enclosures=[tmp_path / "later.mp3"], published=START + timedelta(hours=1)
    )
    site.build()
    published = site.config.output_dir / "media" / str(article.enclosures[0].file)
    assert not published.exists()
    clock.advance(hours=1)
    report = site.build()
    assert not report.full and published.is_file()


def test_a_file_missing_from_the_store_is_reported_once(site: Site, tmp_path: Path) -> None:
    article, _data = _episode(site, tmp_path)
    file = str(article.enclosures[0].file)
    (site.config.media_dir / file).unlink()
    report = site.build()
    assert report.errors == (
        f"article {article.slug!r}: media/{file} is missing from the media store "
        f"({site.config.media_dir}); restore it there, or edit the article",
    )
    # The article is still published; its other enclosure is fine.
    assert [e.title for e in _feed(site, "atom.xml").entries] == ["Episode one"]


# -- rows another program wrote ---------------------------------------------------------


def _media_row(site: Site, **values: Any) -> None:
    row = {"role": "enclosure", "position": 0, "url": CDN + "x.mp3", "file": None}
    row |= {"media_type": "audio/mpeg", "length": 1, **values}
    with site.storage.engine.begin() as connection:
        pk = connection.execute(text("SELECT pk FROM articles WHERE slug = 'victim'")).scalar()
        connection.execute(
            text(
                "INSERT INTO article_media (article_pk, role, position, url, file, media_type, "
                "length) VALUES (:pk, :role, :position, :url, :file, :media_type, :length)"
            ),
            {"pk": pk, **row},
        )
        connection.execute(text("UPDATE state SET revision = revision + 1"))
        connection.execute(
            text("UPDATE articles SET revision = (SELECT revision FROM state) WHERE pk = :pk"),
            {"pk": pk},
        )


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"url": "javascript:alert(1)"}, "enclosure: 'javascript:alert(1)' is not an http(s) URL"),
        ({"url": None, "file": "../../../etc/passwd"}, "enclosure file: '../../../etc/passwd'"),
        ({"url": CDN + "x.mp3", "file": "0123456789abcdef/x.mp3"}, "has both a url and a file"),
        ({"media_type": "not a type"}, "enclosure type: 'not a type' is not a media type"),
        ({"length": -5}, "enclosure length: -5 is negative"),
        ({"role": "sidecar"}, "media role: 'sidecar' is not one of enclosure"),
    ],
)
def test_a_bad_media_row_leaves_its_article_out_once(
    site: Site, values: dict[str, Any], reason: str
) -> None:
    site.add_article("Good", enclosures=[CDN + "good.mp3"])
    site.add_article("Victim", content="<p>To be spoiled.</p>")
    site.build()
    _media_row(site, **values)
    for full in (False, True):
        report = site.build(full=full)
        assert len(report.errors) == 1, report.errors
        assert report.errors[0].startswith("article #") and reason in report.errors[0]
        assert [e.title for e in _feed(site, "atom.xml").entries] == ["Good"]
        assert [e.title for e in _feed(site, "rss.xml").entries] == ["Good"]
    # The API still shows it, as stored.
    assert site.get_article("victim").title == "Victim"


def test_a_length_that_is_no_number_is_reported(sqlite_site: Site) -> None:
    # SQLite keeps text in a number column; the row must fail alone, not the query.
    site = sqlite_site
    site.add_article("Good", enclosures=[CDN + "good.mp3"])
    site.add_article("Victim")
    _media_row(site, length="lots")
    report = site.build()
    assert any("enclosure length: 'lots' is not a whole number" in e for e in report.errors)
    assert [e.title for e in _feed(site, "atom.xml").entries] == ["Good"]
    assert [a.title for a in site.list_articles(on_unreadable=lambda _m: None)] == ["Good"]


# -- the command line -----------------------------------------------------------------


@pytest.fixture
def root(tmp_path: Path) -> Path:
    result = CliRunner().invoke(
        cli,
        [
            "init",
            str(tmp_path / "site"),
            "--title",
            "CLI Site",
            "--base-url",
            BASE,
            "--id-authority",
            "example.org",
        ],
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "site"


def run(root: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["-c", str(root / "feeder.toml"), *args])


def shown(root: Path, slug: str) -> Any:
    result = run(root, "show", slug, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_cli_add_with_a_local_file_and_urls(root: Path, tmp_path: Path) -> None:
    data = audio(tmp_path / "ep1.mp3")
    result = run(
        root,
        "add",
        "--title",
        "Ep 1",
        "--enclosure",
        str(tmp_path / "ep1.mp3"),
        "--enclosure",
        CDN + "ep1.ogg",
        "--enclosure",
        CDN + "ep1-video",
        "--enclosure-type",
        "",
        "--enclosure-type",
        "",
        "--enclosure-type",
        "video/mp4",
        "--enclosure-length",
        "",
        "--enclosure-length",
        "999",
        "--duration",
        "1:02:03",
        "--episode",
        "1",
        "--season",
        "2",
        "--episode-type",
        "trailer",
        "--transcript",
        CDN + "ep1.vtt",
        "--chapters",
        CDN + "ep1.json",
    )
    assert result.exit_code == 0, result.output
    article = shown(root, "ep-1")
    assert [(e["type"], e["length"]) for e in article["enclosures"]] == [
        ("audio/mpeg", len(data)),
        ("audio/ogg", 999),
        ("video/mp4", None),
    ]
    assert article["episode"] == {
        "duration": 3723,
        "episode": 1,
        "season": 2,
        "episode_type": "trailer",
        "transcripts": [{"url": CDN + "ep1.vtt", "type": "text/vtt", "length": None}],
        "chapters": {"url": CDN + "ep1.json", "type": "application/json+chapters", "length": None},
    }
    text_output = run(root, "show", "ep-1").stdout
    assert f"enclosure: {CDN}ep1.ogg (audio/ogg, 999 bytes)" in text_output
    assert "duration:  1:02:03" in text_output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--enclosure", "ftp://x.example/a.mp3"],
            "enclosure: 'ftp://x.example/a.mp3' is not an absolute http(s) URL; use e.g. "
            "'https://example.org/post'",
        ),
        (
            ["--enclosure", CDN + "a.mp3", "--enclosure-length", "-3"],
            "enclosure-length: '-3' is negative; give the size in bytes, or '' if unknown",
        ),
        (
            ["--enclosure", CDN + "a.mp3", "--enclosure-length", "big"],
            "enclosure-length: 'big' is not a number; give the size in bytes, or '' if unknown",
        ),
        (
            ["--enclosure", CDN + "a.mp3", "--enclosure-type", "mp3"],
            "enclosure-type: 'mp3' is not a media type; use one like 'audio/mpeg' or 'video/mp4'",
        ),
        (
            ["--enclosure", CDN + "a.mp3", "--enclosure-type", "a/b", "--enclosure-type", "c/d"],
            "enclosure-type: given 2 times for 1 --enclosure; give at most one per --enclosure, "
            "in the same order",
        ),
        (
            ["--enclosure", CDN + "a.mp3", "--duration", "an hour"],
            "duration: 'an hour' is not a duration; give seconds (1801) or H:MM:SS (0:30:01)",
        ),
        (
            ["--enclosure", CDN + "a.mp3", "--episode", "0"],
            "episode: '0' is not a whole number of 1 or more; give e.g. 12",
        ),
        (
            ["--enclosure", CDN + "a.mp3", "--episode-type", "pilot"],
            "episode-type: 'pilot' is not one of full, trailer, bonus",
        ),
    ],
)
def test_cli_refuses_bad_media_in_one_line(root: Path, args: list[str], message: str) -> None:
    result = run(root, "add", "--title", "Refused", *args)
    assert result.exit_code == 65
    assert result.stderr == f"error: {message}\n"
    assert run(root, "list").stdout == ""


def test_cli_edit_replaces_and_clears(root: Path) -> None:
    assert run(root, "add", "--title", "Show", "--enclosure", CDN + "a.mp3").exit_code == 0
    edited = run(root, "edit", "show", "--enclosure", CDN + "b.mp3", "--duration", "90")
    assert edited.exit_code == 0, edited.output
    article = shown(root, "show")
    assert [e["url"] for e in article["enclosures"]] == [CDN + "b.mp3"]
    assert article["episode"]["duration"] == 90
    assert run(root, "edit", "show", "--title", "Show!").exit_code == 0
    assert [e["url"] for e in shown(root, "show")["enclosures"]] == [CDN + "b.mp3"]
    assert run(root, "edit", "show", "--clear-enclosures", "--duration", "").exit_code == 0
    article = shown(root, "show")
    assert article["enclosures"] == [] and article["episode"] is None


def test_the_command_publishes_a_local_file_in_a_real_process(root: Path, tmp_path: Path) -> None:
    feeder = Path(sys.executable).parent / "feeder"
    data = audio(tmp_path / "show.m4a")
    config = str(root / "feeder.toml")
    subprocess.run(
        [feeder, "-c", config, "add", "--title", "Show", "--enclosure", "show.m4a"],
        check=True,
        cwd=tmp_path,  # a relative path is the working directory's
        capture_output=True,
    )
    done = subprocess.run([feeder, "-c", config, "build"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    (published,) = (root / "public" / "media").glob("*/show.m4a")
    assert published.read_bytes() == data


# -- imports --------------------------------------------------------------------------


def test_front_matter_and_json_lines_give_the_same_fields(site: Site, tmp_path: Path) -> None:
    posts = tmp_path / "posts"
    data = audio(posts / "audio" / "ep.mp3")
    (posts / "ep.md").write_text(
        "---\n"
        "title: Episode\n"
        "enclosures:\n"
        "  - audio/ep.mp3\n"
        f"  - {{url: '{CDN}ep.ogg', length: 77}}\n"
        f"transcripts: {CDN}ep.srt\n"
        f"chapters: {{url: '{CDN}ep.json', type: application/json}}\n"
        "duration: '0:10:00'\n"
        "episode: 3\n"
        "---\nNotes.\n"
    )
    (posts / "more.jsonl").write_text(
        json.dumps(
            {
                "title": "Other",
                "enclosures": [{"path": "audio/ep.mp3", "type": "audio/x-mp3"}],
                "season": 2,
                "episode_type": "bonus",
            }
        )
        + "\n"
    )
    report = site.import_paths([posts])
    assert report.ok and report.added == 2, report.failures
    episode = site.get_article("episode")
    assert [(e.media_type, e.length) for e in episode.enclosures] == [
        ("audio/mpeg", len(data)),
        ("audio/ogg", 77),
    ]
    assert episode.episode is not None
    assert (episode.episode.duration, episode.episode.number) == (600, 3)
    assert episode.episode.transcripts[0].media_type == "application/x-subrip"
    other = site.get_article("other")
    assert other.enclosures[0].url == episode.enclosures[0].url  # the same file, stored once
    assert other.enclosures[0].media_type == "audio/x-mp3"
    site.build()
    out = site.config.output_dir
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    revision = site.revision()

    again = site.import_paths([posts])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert site.revision() == revision
    site.build()
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before


def test_a_bad_media_field_names_the_file_and_the_field(site: Site, tmp_path: Path) -> None:
    (tmp_path / "bad.md").write_text("---\ntitle: T\nenclosures: [{url: 5}]\n---\nx\n")
    (tmp_path / "worse.jsonl").write_text('{"title": "T", "enclosures": "ftp://x/a.mp3"}\n')
    report = site.import_paths([tmp_path / "bad.md", tmp_path / "worse.jsonl"])
    assert report.rejected == 2
    first, second = (str(f) for f in report.failures)
    assert first.startswith(f"{tmp_path / 'bad.md'}: front matter: enclosure: must be a URL")
    assert second == (
        f"{tmp_path / 'worse.jsonl'}:1: enclosure: 'ftp://x/a.mp3' is not an absolute http(s) "
        "URL; use e.g. 'https://example.org/post'"
    )


def test_a_dry_run_copies_nothing_into_the_store(site: Site, tmp_path: Path) -> None:
    audio(tmp_path / "ep.mp3")
    (tmp_path / "ep.md").write_text("---\ntitle: T\nenclosures: ep.mp3\n---\nx\n")
    report = site.import_paths([tmp_path / "ep.md"], dry_run=True)
    assert report.added == 1
    assert not site.config.media_dir.exists()


def test_a_draft_from_a_script_names_urls_not_local_files(site: Site, tmp_path: Path) -> None:
    audio(tmp_path / "secret.mp3")
    draft = Draft(origin="script", title="T", enclosures=(Media(str(tmp_path / "secret.mp3")),))
    report = site.import_drafts([draft])
    assert report.rejected == 1 and "is not an absolute http(s) URL" in str(report.failures[0])


def test_import_feed_keeps_another_feeds_media(site: Site, tmp_path: Path) -> None:
    (tmp_path / "old.xml").write_text(
        """<?xml version="1.0"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"
     xmlns:podcast="https://podcastindex.org/namespace/1.0">
<channel><title>Old</title><link>https://old.example/</link><description>d</description>
<item><title>Pilot</title><guid isPermaLink="false">old-1</guid>
  <enclosure url="https://old.example/pilot.mp3" length="4321" type="audio/mpeg"/>
  <itunes:duration>12:34</itunes:duration><itunes:episode>1</itunes:episode>
  <itunes:episodeType>trailer</itunes:episodeType>
  <podcast:transcript url="https://old.example/pilot.vtt" type="text/vtt"/>
</item>
<item><title>Odd</title><guid isPermaLink="false">old-2</guid>
  <enclosure url="/etc/passwd" length="0" type=""/>
  <itunes:duration>soon</itunes:duration>
</item>
</channel></rss>""",
        encoding="utf-8",
    )
    report = site.import_feed(str(tmp_path / "old.xml"))
    assert report.ok and report.added == 2, report.failures
    pilot = site.get_article("pilot")
    assert [(e.url, e.media_type, e.length) for e in pilot.enclosures] == [
        ("https://old.example/pilot.mp3", "audio/mpeg", 4321)
    ]
    assert pilot.episode is not None
    assert (pilot.episode.duration, pilot.episode.number, pilot.episode.type) == (754, 1, "trailer")
    assert [t.url for t in pilot.episode.transcripts] == ["https://old.example/pilot.vtt"]
    odd = site.get_article("odd")  # kept, without what cannot be published
    assert odd.enclosures == () and odd.episode is None
    assert not site.config.media_dir.exists()  # no local file was ever read


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml", "feed.json"])
def test_feeders_own_feeds_move_to_another_site_with_their_media(
    site: Site, tmp_path: Path, name: str
) -> None:
    article, _data = _episode(site, tmp_path, duration=100)
    site.build()
    with Site.init(
        tmp_path / "moved",
        title="Moved",
        base_url="https://moved.example/",
        id_authority="moved.example",
        database_url=f"sqlite:///{tmp_path / 'moved.db'}",
        clock=FakeClock(),
    ) as moved:
        report = moved.import_feed(str(site.config.output_dir / name))
        assert report.ok and report.added == 1, report.failures
        (copy,) = moved.list_articles()
        assert [(e.url, e.media_type, e.length) for e in copy.enclosures] == [
            (e.url, e.media_type, e.length) for e in article.enclosures
        ]
        if name == "feed.json":
            assert copy.episode is not None and copy.episode.duration == 100


# -- byte ranges over HTTP -----------------------------------------------------------


@pytest.fixture
def served(sqlite_site: Site, tmp_path: Path) -> Iterator[tuple[httpx.Client, str, bytes]]:
    """The built site served by the embedded server: a client, the episode's path, its bytes."""
    article, data = _episode(sqlite_site, tmp_path)
    sqlite_site.build()
    server = Server(OutputFiles(sqlite_site.config.output_dir), "127.0.0.1", 0)
    server.start()
    try:
        path = "/media/" + str(article.enclosures[0].file)
        # Clients that ask for gzip must still get the bytes of the file.
        with httpx.Client(base_url=server.url(), headers={"Accept-Encoding": "gzip"}) as client:
            yield client, path, data
    finally:
        server.stop()


def test_media_files_are_served_whole_and_say_they_take_ranges(
    served: tuple[httpx.Client, str, bytes],
) -> None:
    client, path, data = served
    whole = client.get(path)
    assert whole.status_code == 200 and whole.content == data
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-type"] == "audio/mpeg"
    assert "content-encoding" not in whole.headers


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [("bytes=0-99", 0, 99), ("bytes=100-", 100, None), ("bytes=-10", -10, None)],
)
def test_a_range_gets_206_with_exactly_those_bytes(
    served: tuple[httpx.Client, str, bytes], header: str, start: int, end: int | None
) -> None:
    client, path, data = served
    response = client.get(path, headers={"Range": header})
    expected = data[start : None if end is None else end + 1]
    assert response.status_code == 206
    assert response.content == expected
    first = start % len(data)
    assert response.headers["content-range"] == (
        f"bytes {first}-{first + len(expected) - 1}/{len(data)}"
    )
    assert response.headers["content-length"] == str(len(expected))


def test_an_unsatisfiable_range_gets_416_and_the_size(
    served: tuple[httpx.Client, str, bytes],
) -> None:
    client, path, data = served
    response = client.get(path, headers={"Range": f"bytes={len(data)}-"})
    assert response.status_code == 416
    assert response.headers["content-range"] == f"bytes */{len(data)}"


@pytest.mark.parametrize("header", ["bytes=5-1", "bytes=abc", "pages=1-2", "bytes=0-1,4-5"])
def test_a_range_that_does_not_parse_or_asks_for_several_gets_the_whole_file(
    served: tuple[httpx.Client, str, bytes], header: str
) -> None:
    client, path, data = served
    response = client.get(path, headers={"Range": header})
    assert response.status_code == 200 and response.content == data


def test_if_range_keeps_the_range_only_for_the_same_file(
    served: tuple[httpx.Client, str, bytes],
) -> None:
    client, path, data = served
    first = client.get(path)
    etag, modified = first.headers["etag"], first.headers["last-modified"]
    for validator in (etag, modified):
        kept = client.get(path, headers={"Range": "bytes=0-0", "If-Range": validator})
        assert kept.status_code == 206 and kept.content == data[:1]
    changed = client.get(path, headers={"Range": "bytes=0-0", "If-Range": '"another"'})
    assert changed.status_code == 200 and changed.content == data
    cached = client.get(path, headers={"If-None-Match": etag, "Range": "bytes=0-0"})
    assert cached.status_code == 304


def test_head_with_a_range_gets_the_headers_of_the_whole_file(
    served: tuple[httpx.Client, str, bytes],
) -> None:
    client, path, data = served
    response = client.head(path, headers={"Range": "bytes=0-9"})
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(len(data))


def test_every_type_of_local_file_feeder_publishes_is_served(tmp_path: Path) -> None:
    from feeder._media import MEDIA_TYPES

    for role, types in MEDIA_TYPES.items():
        for extension in types:
            served_as = media_type_of(f"media/0123456789abcdef/file{extension}")
            assert served_as is not None, (role, extension)
