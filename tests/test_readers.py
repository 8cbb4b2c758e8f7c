"""What real feed readers show of our feeds: feedparser and two JavaScript clients.

rss-parser and @extractus/feed-extractor (tests/js, installed by ``npm ci`` there;
CI does it) read the same files as feedparser. A person subscribing sees the
site as the home page, the summary's exact text, and titles as written.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path
from typing import Any

import pytest

from feeder import Site
from tests.feedcheck import parse_feed

JS = Path(__file__).resolve().parent / "js"
NODE = shutil.which("node")
CLIENTS = ("rss-parser", "feed-extractor")

TRICKY_TITLE = "Use </b> and <script> as words, R&D; too"
TRICKY_SUMMARY = "use <div> and a < b, R&D; and “quotes”"


def _js_ready() -> str | None:
    if NODE is None:
        return "node is not installed"
    if not (JS / "node_modules" / "rss-parser").is_dir():
        return "the JavaScript clients are not installed: run 'npm ci' in tests/js"
    return None


def read_with(client: str, path: Path) -> dict[str, Any]:
    """What ``client`` makes of the feed at ``path``: {title, link, entries: [...]}."""
    if client == "feedparser":
        parsed = parse_feed(path)
        return {
            "title": parsed.feed.title,
            "link": parsed.feed.link,
            "entries": [
                {
                    "id": entry.id,
                    "title": entry.title,
                    "link": entry.link,
                    "summary": _shown(entry.summary)
                    if entry.summary_detail.type == "text/html"
                    else entry.summary,
                }
                for entry in parsed.entries
            ],
        }
    reason = _js_ready()
    if reason:
        pytest.skip(reason)
    assert NODE is not None
    done = subprocess.run(
        [NODE, str(JS / "read.mjs"), client, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _shown(value: str | None) -> str | None:
    """What a reader shows of a text it renders as HTML: tags dropped, references decoded."""
    if value is None:
        return None
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", value)).split())


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("readers")
    site = Site.init(root, title="Readers & Co", base_url="https://example.org/blog/")
    site.add_article("Plain one", content="<p>A plain article with enough words in it.</p>")
    site.add_article(TRICKY_TITLE, summary=TRICKY_SUMMARY)
    site.build()
    site.close()
    return site


@pytest.mark.parametrize("client", ["feedparser", *CLIENTS])
@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_the_home_page_is_the_site_not_the_feed(built: Site, client: str, name: str) -> None:
    feed = read_with(client, built.config.output_dir / name)
    assert feed["link"] == "https://example.org/blog/"


@pytest.mark.parametrize("client", ["feedparser", *CLIENTS])
@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_the_summary_reaches_readers_as_its_exact_text(built: Site, client: str, name: str) -> None:
    feed = read_with(client, built.config.output_dir / name)
    (tricky,) = [e for e in feed["entries"] if "Use" in (e["title"] or "")]
    shown = " ".join(str(tricky["summary"]).split())
    if client == "feed-extractor":
        # It decodes references and then drops whatever looks like a tag, in every
        # format: no encoding keeps "<div>" for it. The rest of the text arrives.
        assert shown == TRICKY_SUMMARY.replace("<div> ", "")
    else:
        assert shown == TRICKY_SUMMARY


@pytest.mark.parametrize("client", ["feedparser", *CLIENTS])
@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_titles_with_markup_like_words_are_shown_as_written(
    built: Site, client: str, name: str
) -> None:
    feed = read_with(client, built.config.output_dir / name)
    titles = [entry["title"] for entry in feed["entries"]]
    if client == "feed-extractor":
        # It decodes HTML character references in every title ("&copy;" would become
        # "©"); words that merely look like tags stay as written.
        assert unescape(TRICKY_TITLE) in titles
    elif client == "feedparser" and name == "rss.xml":
        # feedparser guesses that an RSS title with tags in it is HTML and sanitises it,
        # as the RSS profile warns readers do; what it keeps is still the words.
        (title,) = [t for t in titles if t.startswith("Use")]
        assert "as words" in title and "R&D;" in title
    else:
        assert TRICKY_TITLE in titles
    assert feed["title"] == "Readers & Co"


def test_rss_titles_follow_the_rss_profile(built: Site) -> None:
    data = (built.config.output_dir / "rss.xml").read_bytes()
    assert b"<title>Use &#x3C;/b&gt; and &#x3C;script&gt; as words, R&#x26;D; too</title>" in data
    assert b"<title>Readers &#x26; Co</title>" in data


def test_atom_lists_the_site_before_the_feed_itself(built: Site) -> None:
    data = (built.config.output_dir / "atom.xml").read_text()
    links = re.findall(r'<link href="([^"]+)" rel="(\w+)"', data.split("<entry>")[0])
    assert links[0] == ("https://example.org/blog/", "alternate")
    assert ("https://example.org/blog/atom.xml", "self") in links


@pytest.fixture(scope="module")
def with_tombstone(tmp_path_factory: pytest.TempPathFactory) -> Site:
    root = tmp_path_factory.mktemp("readers-tombstone")
    site = Site.init(root, title="Readers & Co", base_url="https://example.org/blog/")
    site.add_article("Kept", content="<p>Still here.</p>", tags=["news"])
    site.add_article("Gone", content="<p>Deleted.</p>", tags=["news"])
    site.delete_article("gone", comment="Posted twice")
    site.build()
    site.close()
    return site


@pytest.mark.parametrize("client", ["feedparser", *CLIENTS])
@pytest.mark.parametrize("path", ["atom.xml", "tags/news/atom.xml"])
def test_a_tombstone_is_no_entry_to_readers(with_tombstone: Site, client: str, path: str) -> None:
    data = (with_tombstone.config.output_dir / path).read_bytes()
    assert b"<at:deleted-entry" in data
    feed = read_with(client, with_tombstone.config.output_dir / path)
    assert [entry["title"] for entry in feed["entries"]] == ["Kept"]
    assert feed["title"].startswith("Readers & Co") and feed["link"].startswith(
        "https://example.org/blog/"
    )
