"""`import-feed`: moving from another publisher without duplicates, safely."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from feeder import InputError, NotFoundError, Person, Site
from feeder.cli import cli
from feeder.importing.feeds import check_safe, drafts_from_feed
from feeder.importing.formats import Draft
from tests.feedcheck import parse_feed
from tests.test_import_cli import snapshot_database, snapshot_files

RSS = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
<channel>
  <title>Old blog</title><link>https://old.example/</link><description>d</description>
  <item>
    <title>First &amp; foremost</title>
    <link>https://old.example/first</link>
    <guid isPermaLink="false">https://old.example/?p=1</guid>
    <pubDate>Tue, 03 Nov 2026 10:00:00 +0100</pubDate>
    <dc:creator>Olga Old</dc:creator>
    <category>News</category><category>Python</category>
    <description>Short teaser.</description>
    <content:encoded><![CDATA[<p>Full <b>text</b> with <a href="/rel">a link</a>.</p>
      <script>alert(1)</script>]]></content:encoded>
  </item>
  <item>
    <title>Second</title>
    <link>https://old.example/second</link>
    <guid isPermaLink="false">12345</guid>
    <pubDate>Wed, 04 Nov 2026 10:00:00 GMT</pubDate>
    <description>&lt;p&gt;Only a description.&lt;/p&gt;</description>
  </item>
  <item>
    <title>No guid</title>
    <link>https://old.example/third</link>
    <pubDate>Thu, 05 Nov 2026 10:00:00 GMT</pubDate>
    <description>Third.</description>
  </item>
  <item>
    <title>Nothing to identify me</title>
    <description>Lost.</description>
  </item>
</channel>
</rss>
"""

ATOM = """<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title>Old Atom</title><id>urn:uuid:feed</id><updated>2026-11-10T00:00:00Z</updated>
  <link rel="alternate" href="https://atom.example/"/>
  <entry>
    <title type="html">An &lt;em&gt;Atom&lt;/em&gt; entry</title>
    <id>urn:uuid:0a9c3f2e-1111-4b6e-9c1d-2e3f4a5b6c7d</id>
    <link rel="alternate" href="https://atom.example/entry"/>
    <published>2026-11-01T08:00:00Z</published>
    <updated>2026-11-02T09:30:00+02:00</updated>
    <author><name>Ann Atom</name><email>ann@atom.example</email>
      <uri>https://atom.example/ann</uri></author>
    <category term="feeds" label="Feeds &amp; more"/>
    <summary type="text">Plain summary.</summary>
    <content type="html">&lt;p&gt;Entry &lt;i&gt;content&lt;/i&gt;&lt;/p&gt;</content>
  </entry>
</feed>
"""

JSON_FEED = {
    "version": "https://jsonfeed.org/version/1.1",
    "title": "Old JSON",
    "items": [
        {
            "id": "https://json.example/1",
            "url": "https://json.example/1",
            "title": "From JSON",
            "content_html": "<p>JSON <strong>body</strong></p>",
            "date_published": "2026-11-07T12:00:00Z",
            "tags": ["json"],
            "authors": [{"name": "Jay"}],
        }
    ],
}

BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [
  <!ENTITY lol "lol">
  <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
  <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<rss version="2.0"><channel><title>&lol3;</title>
<item><title>&lol3;</title><guid>x:1</guid></item></channel></rss>
"""

EXTERNAL = """<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<rss version="2.0"><channel><title>t</title>
<item><title>&secret;</title><guid>x:1</guid></item></channel></rss>
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_rss_entries_keep_ids_dates_authors_tags_and_content(tmp_path: Path) -> None:
    items = list(drafts_from_feed(str(write(tmp_path, "old.xml", RSS))))
    first, second, third, fourth = items
    assert isinstance(first, Draft)
    assert first.id == "https://old.example/?p=1" and first.foreign_id
    assert first.title == "First & foremost"
    assert first.link == "https://old.example/first"
    assert first.published == datetime(2026, 11, 3, 9, tzinfo=UTC)
    assert first.author == Person("Olga Old")
    assert first.tags == ("News", "Python")
    assert first.summary == "Short teaser."
    assert "Full <b>text</b>" in first.content
    assert isinstance(second, Draft)
    assert second.id == "12345"  # not a URI, but what subscribers know it by
    assert second.content == "<p>Only a description.</p>"
    assert isinstance(third, Draft)
    assert third.id == "https://old.example/third"  # no guid: the link identifies it
    assert isinstance(fourth, InputError)
    assert str(fourth).endswith(
        "old.xml: entry 4: has neither an id nor a link, so it cannot keep a stable id; "
        "add a <guid> or <link> to it"
    )


def test_atom_entry_fields(tmp_path: Path) -> None:
    (entry,) = drafts_from_feed(str(write(tmp_path, "old.atom", ATOM)))
    assert isinstance(entry, Draft)
    assert entry.id == "urn:uuid:0a9c3f2e-1111-4b6e-9c1d-2e3f4a5b6c7d"
    assert entry.title == "An Atom entry"
    assert entry.published == datetime(2026, 11, 1, 8, tzinfo=UTC)
    assert entry.updated == datetime(2026, 11, 2, 7, 30, tzinfo=UTC)
    assert entry.author == Person("Ann Atom", "ann@atom.example", "https://atom.example/ann")
    assert entry.tags == ("Feeds & more",)
    assert entry.summary == "Plain summary."
    assert entry.content == "<p>Entry <i>content</i></p>"


def test_json_feed_items(tmp_path: Path) -> None:
    (item,) = drafts_from_feed(str(write(tmp_path, "feed.json", json.dumps(JSON_FEED))))
    assert isinstance(item, Draft)
    assert (item.id, item.title, item.tags) == ("https://json.example/1", "From JSON", ("json",))
    assert item.published == "2026-11-07T12:00:00Z"  # read by the importer's date rules
    assert item.content == "<p>JSON <strong>body</strong></p>"


def test_migrated_site_publishes_the_old_ids_and_dates(site: Site, tmp_path: Path) -> None:
    report = site.import_feed(str(write(tmp_path, "old.xml", RSS)))
    assert (report.added, report.rejected) == (3, 1)
    site.build()
    rss = parse_feed(site.config.output_dir / "rss.xml")
    atom = parse_feed(site.config.output_dir / "atom.xml")
    expected = {
        "https://old.example/?p=1": datetime(2026, 11, 3, 9, tzinfo=UTC),
        "12345": datetime(2026, 11, 4, 10, tzinfo=UTC),
        "https://old.example/third": datetime(2026, 11, 5, 10, tzinfo=UTC),
    }
    for parsed in (rss, atom):
        published = {
            entry.id: datetime(*entry.published_parsed[:6], tzinfo=UTC) for entry in parsed.entries
        }
        assert published == expected
    first = site.get_article("first-foremost")
    assert first.url == "https://old.example/first"
    assert "<script>" not in first.content
    assert '<a href="https://old.example/rel" rel="noopener">' in first.content
    assert [tag.name for tag in first.tags] == ["News", "Python"]
    again = site.import_feed(str(tmp_path / "old.xml"))
    assert (again.added, again.updated, again.unchanged) == (0, 0, 3)


def test_changed_entry_updates_in_place(site: Site, tmp_path: Path) -> None:
    path = write(tmp_path, "old.atom", ATOM)
    site.import_feed(str(path))
    before = site.get_article("an-atom-entry")
    path.write_text(ATOM.replace("An &lt;em&gt;Atom", "A renamed"), encoding="utf-8")
    assert site.import_feed(str(path)).updated == 1
    after = site.get_article("an-atom-entry")  # matched by id: the slug stays
    assert after.id == before.id
    assert after.title == "A renamed entry"


@pytest.mark.parametrize("document", [BOMB, EXTERNAL], ids=["entity-bomb", "external-entity"])
def test_hostile_xml_is_refused_before_parsing(
    sqlite_site: Site, tmp_path: Path, document: str
) -> None:
    sqlite_site.build()
    database = snapshot_database(sqlite_site.storage.engine)
    files = snapshot_files(sqlite_site.config.output_dir)
    path = write(tmp_path, "evil.xml", document)
    result = CliRunner().invoke(
        cli, ["-c", str(sqlite_site.config.root / "feeder.toml"), "import-feed", str(path)]
    )
    assert result.exit_code == 65
    assert result.stderr == (
        f"error: {path}: the feed declares a DTD or entities, which feeder refuses because "
        "they can expand without limit or read local files; remove the <!DOCTYPE ...> part\n"
    )
    assert snapshot_database(sqlite_site.storage.engine) == database
    assert snapshot_files(sqlite_site.config.output_dir) == files


def test_declarations_are_found_even_in_broken_xml() -> None:
    with pytest.raises(InputError, match="declares a DTD or entities"):
        check_safe(b'<?xml version="1.0" encoding="x-unknown"?><!DOCTYPE x><rss>', "f")
    check_safe(b"<rss><channel><title>unclosed", "f")  # broken, but harmless
    check_safe(json.dumps(JSON_FEED).encode(), "f")


def test_not_a_feed(tmp_path: Path) -> None:
    path = write(tmp_path, "page.txt", "just some words")
    with pytest.raises(InputError, match=r"page\.txt: not an RSS, Atom or JSON feed"):
        list(drafts_from_feed(str(path)))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"nope\.xml: cannot be read \(No such file"):
        list(drafts_from_feed(str(tmp_path / "nope.xml")))


def test_other_url_schemes_are_refused() -> None:
    with pytest.raises(InputError, match=r"^file:///etc/passwd: file: URLs are not supported"):
        list(drafts_from_feed("file:///etc/passwd"))


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    """An HTTP server for tmp_path on a free local port; yields its base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_import_feed_from_a_url(sqlite_site: Site, tmp_path: Path, served: str) -> None:
    write(tmp_path, "feed.atom", ATOM)
    config = str(sqlite_site.config.root / "feeder.toml")
    result = CliRunner().invoke(cli, ["-c", config, "import-feed", "-v", served + "feed.atom"])
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "add\tan-atom-entry\turn:uuid:0a9c3f2e-1111-4b6e-9c1d-2e3f4a5b6c7d\n"
        "1 added, 0 updated, 0 unchanged, 0 rejected\n"
    )
    missing = CliRunner().invoke(cli, ["-c", config, "import-feed", served + "gone.xml"])
    assert missing.exit_code == 66
    assert missing.stderr == (
        f"error: {served}gone.xml: the server answered 404 File not found; check the address\n"
    )
