"""The browser view of the feeds: what a person sees on clicking rss.xml or atom.xml.

feed.xsl turns a feed into a readable page (XSLT mode); feed.css styles the raw
XML where a site chooses ``stylesheet = "css"``. The Chromium tests drive a real
headless Chromium (Debian's ``chromium``) through its command line against the
project's own server on 127.0.0.1, and are skipped where no Chromium is found.
The lxml tests check the stylesheet itself and need no browser.

Until the build links the stylesheet itself, the tests do what the build will:
copy feed.xsl and feed.css to the output root and write
``<?xml-stylesheet type="text/xsl" href="/blog/feed.xsl"?>`` (the URL path of
base_url) as line 2 of both feeds. Where the build already did, they keep its files.

Chromium shows application/rss+xml and application/atom+xml as plain text, never
applying a stylesheet: while the server sends those types to browsers, the page
checks load the same bytes under another name (served as application/xml) and
test_feed_urls_open_as_pages is an expected failure that says why.

Screenshots go to $FEEDER_SCREENSHOTS when set (else a temporary directory).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import feedparser
import lxml.etree as etree
import lxml.html
import pytest

import feeder.publishing.render as render_package
from feeder import Site
from feeder.server import OutputFiles, Server
from tests.conftest import FakeClock

STATIC = Path(render_package.__file__).parent / "static"
BASE_URL = "https://example.org/blog/"
PREFIX = urlsplit(BASE_URL).path  # the output directory is served here, as in production
FEEDS = ("rss.xml", "atom.xml")
XSL_PI = f'<?xml-stylesheet type="text/xsl" href="{PREFIX}feed.xsl"?>'
CSS_PI = f'<?xml-stylesheet type="text/css" href="{PREFIX}feed.css"?>'
EXPLANATION = "This is a web feed"
SITE_TITLE = "Notes from the Field"

# A title with markup as literal words, one in each right-to-left script, and a plain one.
TITLES = (
    "Why <b> is not bold here & <script>alert(1)</script> does nothing",
    "مرحبا بالعالم: أول مقالة",
    "שלום עולם — רשומה שנייה",
    "A plain third entry",
)

CHROMIUM_TIMEOUT = 60.0
# A blank 1200×1600 PNG is about 5 KB; a page with text is several times that.
BLANK_PNG_BYTES = 10_000
# Chromium's own views of a document it did not render as a page.
PLAIN_TEXT_VIEW = '<pre style="word-wrap: break-word; white-space: pre-wrap;">'
XML_TREE_VIEW = "webkit-xml-viewer-source-xml"


def _find_chromium() -> str | None:
    explicit = os.environ.get("FEEDER_CHROMIUM")
    if explicit:
        return explicit if os.access(explicit, os.X_OK) else None
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


CHROMIUM = _find_chromium()
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium binary (chromium or chromium-browser on PATH, or $FEEDER_CHROMIUM): "
    "install Debian's chromium package to run the browser-view tests",
)


# -- the site --------------------------------------------------------------------


@dataclass(frozen=True)
class Published:
    """A built site, served twice: with the XSLT stylesheet and with the CSS one."""

    xslt_root: Path  # serves PREFIX: the output directory with <?xml-stylesheet text/xsl?>
    css_root: Path  # the same output with <?xml-stylesheet text/css?>
    xslt: Server
    css: Server

    def output(self, mode: str) -> Path:
        root = self.xslt_root if mode == "xslt" else self.css_root
        return root / PREFIX.strip("/")

    def url(self, mode: str, name: str) -> str:
        server = self.xslt if mode == "xslt" else self.css
        return server.url(PREFIX + name)


def _build(directory: Path) -> Path:
    site = Site.init(directory / "site", title=SITE_TITLE, base_url=BASE_URL, clock=FakeClock())
    try:
        for number, title in enumerate(TITLES):
            site.add_article(
                title,
                summary=f"Summary {number}: <i>tags</i> & <script>alert()</script> stay text",
                content=f"<p>Body {number} <script>alert({number})</script></p>",
                tags=["browser"],
                published=f"2026-11-2{number}T09:30:00Z",
            )
        site.build()
        return site.config.output_dir
    finally:
        site.close()


def _stylesheet_line(feed: Path) -> str:
    lines = feed.read_text(encoding="utf-8").splitlines()
    return lines[1] if len(lines) > 1 else ""


def _link_stylesheet(output: Path, pi: str) -> None:
    """What the build does (or will): static files at the root, the PI as line 2.

    A feed whose line 2 already is an xml-stylesheet PI was linked by the build
    and is kept as it is, unless another kind of stylesheet is asked for.
    """
    for name in ("feed.xsl", "feed.css"):
        if not (output / name).exists():
            shutil.copyfile(STATIC / name, output / name)
    wanted_type = re.search(r'type="([^"]+)"', pi)
    assert wanted_type is not None
    for name in FEEDS:
        feed = output / name
        lines = feed.read_text(encoding="utf-8").splitlines(keepends=True)
        assert lines[0].startswith("<?xml "), f"{name}: line 1 is not the XML declaration"
        if lines[1].startswith("<?xml-stylesheet"):
            if f'type="{wanted_type.group(1)}"' in lines[1]:
                continue
            del lines[1]
        lines.insert(1, pi + "\n")
        feed.write_text("".join(lines), encoding="utf-8")


@pytest.fixture(scope="module")
def published() -> Iterator[Published]:
    with tempfile.TemporaryDirectory(prefix="feeder-browser-") as scratch:
        work = Path(scratch)
        output = _build(work)
        xslt_root, css_root = work / "www-xslt", work / "www-css"
        shutil.copytree(output, xslt_root / PREFIX.strip("/"))
        shutil.copytree(output, css_root / PREFIX.strip("/"))
        _link_stylesheet(xslt_root / PREFIX.strip("/"), XSL_PI)
        _link_stylesheet(css_root / PREFIX.strip("/"), CSS_PI)
        xslt = Server(OutputFiles(xslt_root), "127.0.0.1", 0)
        css = Server(OutputFiles(css_root), "127.0.0.1", 0)
        xslt.start()
        try:
            css.start()
            try:
                yield Published(xslt_root, css_root, xslt, css)
            finally:
                css.stop()
        finally:
            xslt.stop()


@pytest.fixture(scope="module")
def screenshots() -> Iterator[Path]:
    configured = os.environ.get("FEEDER_SCREENSHOTS")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        yield path
    else:
        with tempfile.TemporaryDirectory(prefix="feeder-screenshots-") as scratch:
            yield Path(scratch)


# -- Chromium ----------------------------------------------------------------------


def chromium(*args: str) -> str:
    """Run headless Chromium once with its own profile; its stdout. Bounded in time."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="feeder-chromium-") as profile:
        command = [
            CHROMIUM,
            "--headless",
            "--no-sandbox",  # root in CI and in containers
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
            f"--user-data-dir={profile}",
            *args,
        ]
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its renderers and helpers go with it on a timeout
        )
        try:
            out, err = process.communicate(timeout=CHROMIUM_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            pytest.fail(f"chromium did not finish in {CHROMIUM_TIMEOUT:.0f} s: {args}")
        if process.returncode != 0:
            tail = err.decode("utf-8", "replace")[-2000:]
            pytest.fail(f"chromium exited with {process.returncode}: {args}\n{tail}")
        return out.decode("utf-8", "replace")


def dump_dom(url: str, *flags: str) -> str:
    return chromium(*flags, "--dump-dom", url)


def screenshot(url: str, path: Path, *flags: str) -> Path:
    chromium(*flags, f"--screenshot={path}", "--window-size=1200,1600", url)
    assert path.exists(), f"chromium wrote no screenshot for {url}"
    size = path.stat().st_size
    assert size > BLANK_PNG_BYTES, f"{path.name}: {size} bytes, a blank page?"
    return path


def served_type(url: str) -> str:
    """The Content-Type the server sends a browser's navigation request."""
    request = urllib.request.Request(
        url,
        method="HEAD",
        headers={"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return str(response.headers.get("Content-Type", ""))


def browsable(published: Published, mode: str, name: str) -> str:
    """The URL at which Chromium renders ``name`` as a document, not as plain text.

    Chromium shows application/rss+xml and application/atom+xml as plain text and
    never applies their stylesheet; application/xml and text/xml are rendered.
    While the server sends the feed types to browsers, the same bytes are also
    published under another name that is served as application/xml, so that the
    stylesheets are still checked (test_feed_urls_open_as_pages says the rest).
    """
    url = published.url(mode, name)
    if _renders_as_document(served_type(url)):
        return url
    alias = f"browser-{name}"
    output = published.output(mode)
    if not (output / alias).exists():
        shutil.copyfile(output / name, output / alias)
    return published.url(mode, alias)


def _renders_as_document(content_type: str) -> bool:
    media = content_type.split(";")[0].strip().lower()
    return media in ("application/xml", "text/xml")


# -- what the page shows ------------------------------------------------------------------


def page_of(dom: str) -> lxml.html.HtmlElement:
    assert PLAIN_TEXT_VIEW not in dom, "Chromium showed the feed as plain text"
    assert XML_TREE_VIEW not in dom, "Chromium showed its XML tree, not the page"
    assert "parsererror" not in dom, "Chromium reported an XML error"
    return lxml.html.document_fromstring(dom)


def text_of(element: lxml.html.HtmlElement) -> str:
    return " ".join(element.text_content().split())


def assert_readable_page(page: lxml.html.HtmlElement, feed_name: str) -> None:
    text = text_of(page.body)
    assert EXPLANATION in text
    assert "feed reader" in text
    (heading,) = page.xpath("//h1")
    assert text_of(heading) == SITE_TITLE
    assert heading.get("dir") == "auto"
    # The address to copy into a reader: the feed's own (self) link.
    (address,) = page.xpath("//*[contains(@class, 'feed-url')]")
    assert text_of(address) == BASE_URL + feed_name
    # Every entry, its title as text: the literal <b> and <script> are words on the page.
    titles = [text_of(h) for h in page.xpath("//main//h3")]
    assert sorted(titles) == sorted(TITLES)
    for h3 in page.xpath("//main//h3"):
        assert h3.get("dir") == "auto"
        (link,) = h3.xpath("a")
        assert link.get("href", "").startswith(BASE_URL + "articles/")
    summaries = [text_of(p) for p in page.xpath("//p[contains(@class, 'entry-summary')]")]
    assert len(summaries) == len(TITLES)
    assert all("<i>tags</i> & <script>" in summary for summary in summaries), summaries
    # Nothing from the feed became markup.
    assert page.xpath("//script") == []
    assert page.xpath("//b | //i | //main//*[@onerror]") == []
    assert page.xpath("//time")
    assert page.get("lang") == "en"
    assert page.xpath("//meta[@name='viewport']")
    (css,) = page.xpath("//link[@rel='stylesheet']")
    assert css.get("href") == PREFIX + "feed.css"
    site_links = page.xpath("//a[@href=$url]", url=BASE_URL)
    assert site_links, "no link to the site"


# -- Chromium: XSLT mode -----------------------------------------------------------------


@needs_chromium
@pytest.mark.parametrize("name", FEEDS)
def test_feed_page_in_chromium(published: Published, name: str) -> None:
    dom = dump_dom(browsable(published, "xslt", name))
    assert_readable_page(page_of(dom), name)


@needs_chromium
def test_feed_urls_open_as_pages(published: Published) -> None:
    """Clicking the real feed address shows the page, not the XML as text."""
    for name in FEEDS:
        url = published.url("xslt", name)
        dom = dump_dom(url)
        if PLAIN_TEXT_VIEW in dom:
            pytest.xfail(
                f"{name} is served as {served_type(url)!r}: Chromium shows "
                "application/rss+xml and application/atom+xml as plain text and never applies "
                "the stylesheet; the server (and examples/nginx.conf) must send browsers "
                "application/xml or text/xml for the browser view to appear"
            )
        assert_readable_page(page_of(dom), name)


# -- Chromium: CSS mode -------------------------------------------------------------------


@needs_chromium
@pytest.mark.parametrize("name", FEEDS)
def test_css_styled_feed_in_chromium(published: Published, name: str) -> None:
    dom = dump_dom(browsable(published, "css", name))
    # Styled in place: the document is still the feed, neither an error nor the tree view.
    assert PLAIN_TEXT_VIEW not in dom
    assert XML_TREE_VIEW not in dom
    assert "parsererror" not in dom
    assert "This page contains the following errors" not in dom
    root = etree.fromstring(dom.encode("utf-8"))
    assert etree.QName(root).localname == ("rss" if name == "rss.xml" else "feed")
    texts = " ".join(" ".join(root.itertext()).split())
    assert SITE_TITLE in texts
    for title in TITLES:
        assert title in texts
    assert not root.xpath("//*[local-name()='script']")


# -- Chromium: screenshots ---------------------------------------------------------------


def with_css_fallback(published: Published, name: str) -> str:
    """``name`` linking both stylesheets: XSLT where the browser has it, else the CSS."""
    alias = f"fallback-{name}"
    output = published.output("xslt")
    lines = (output / name).read_text(encoding="utf-8").splitlines(keepends=True)
    assert lines[1].startswith('<?xml-stylesheet type="text/xsl"')
    lines.insert(2, CSS_PI + "\n")
    (output / alias).write_text("".join(lines), encoding="utf-8")
    return published.url("xslt", alias)


@needs_chromium
def test_css_takes_over_where_xslt_is_gone(published: Published) -> None:
    """Chromium is removing XSLT (156 shows a deprecation banner over XSLT pages;
    --disable-features=XSLT is the browser without it). A feed that names feed.css
    after feed.xsl is still styled there, instead of the "cannot be formatted" tree."""
    dom = dump_dom(with_css_fallback(published, "rss.xml"), "--disable-features=XSLT")
    assert XML_TREE_VIEW not in dom
    assert "cannot be formatted" not in dom
    root = etree.fromstring(dom.encode("utf-8"))
    assert etree.QName(root).localname == "rss"
    assert SITE_TITLE in " ".join(root.itertext())


@needs_chromium
def test_screenshots(published: Published, screenshots: Path) -> None:
    shots = {
        "rss-xslt.png": (browsable(published, "xslt", "rss.xml"), ()),
        "atom-xslt.png": (browsable(published, "xslt", "atom.xml"), ()),
        "rss-css.png": (browsable(published, "css", "rss.xml"), ()),
        "atom-css.png": (browsable(published, "css", "atom.xml"), ()),
        "rss-without-xslt.png": (
            with_css_fallback(published, "rss.xml"),
            ("--disable-features=XSLT",),
        ),
        "index.png": (published.url("xslt", "index.html"), ()),
    }
    for filename, (url, flags) in shots.items():
        screenshot(url, screenshots / filename, *flags)


# -- feed readers -------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["xslt", "css"])
@pytest.mark.parametrize("name", FEEDS)
def test_feed_readers_ignore_the_stylesheet(published: Published, mode: str, name: str) -> None:
    feed = published.output(mode) / name
    assert _stylesheet_line(feed).startswith("<?xml-stylesheet ")
    parsed = feedparser.parse(feed.read_bytes())
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.feed.title == SITE_TITLE
    assert sorted(entry.title for entry in parsed.entries) == sorted(TITLES)


def test_static_files_are_served(published: Published) -> None:
    assert served_type(published.url("xslt", "feed.xsl")).startswith("text/xsl")
    assert served_type(published.url("xslt", "feed.css")).startswith("text/css")


# -- the stylesheet itself (lxml's libxslt: no browser needed) -----------------------------


@pytest.fixture(scope="module")
def transform() -> etree.XSLT:
    return etree.XSLT(etree.parse(str(STATIC / "feed.xsl")))


def _page(transform: etree.XSLT, feed: bytes) -> lxml.html.HtmlElement:
    result = transform(etree.fromstring(feed, etree.XMLParser(resolve_entities=False)))
    return lxml.html.document_fromstring(str(result))


@pytest.mark.parametrize("name", FEEDS)
def test_xslt_makes_the_page(published: Published, transform: etree.XSLT, name: str) -> None:
    page = _page(transform, (published.output("xslt") / name).read_bytes())
    assert_readable_page(page, name)


HOSTILE_RSS = b"""<?xml version="1.0" encoding="UTF-8"?>
<?xml-stylesheet type="text/xsl" href="/feed.xsl"?>
<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom"><channel>
<title>&lt;img src=x onerror=alert(1)&gt;</title>
<link>javascript:alert(1)</link>
<description>&lt;script&gt;alert(2)&lt;/script&gt;</description>
<language>he</language>
<atom:link rel="self" href="https://example.org/feed?a=1&amp;b=&quot;2&quot;"/>
<item><title>&lt;/h3&gt;&lt;script&gt;alert(3)&lt;/script&gt;</title>
<link> JavaScript:alert(4)</link>
<description>&lt;p&gt;One &amp;amp; &amp;lt;two&amp;gt;&lt;/p&gt;
&lt;p&gt;three&lt;script&gt;x&lt;/script&gt;&lt;/p&gt;</description>
</item>
<item><title>data</title><link>data:text/html,&lt;script&gt;alert(5)&lt;/script&gt;</link></item>
<item><title>relative</title><link>/blog/x.html</link></item>
<item><title>protocol-relative</title><link>//evil.example/x</link></item>
</channel></rss>"""

HOSTILE_ATOM = b"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="ar">
<title>&lt;script&gt;alert(1)&lt;/script&gt;</title>
<link rel="alternate" href="vbscript:msgbox(1)"/>
<link rel="self" href="https://example.org/atom.xml"/>
<entry><title type="html">&lt;b&gt;bold&lt;/b&gt; &amp;amp; &amp;lt;i&amp;gt;</title>
<link rel="alternate" href="https://example.org/a"/>
<summary type="html">&lt;img src=x onerror=alert(1)&gt;Fish &amp;amp; chips</summary>
<published>2026-11-26T12:00:00+02:00</published></entry>
<entry><title>&lt;i&gt;text&lt;/i&gt;</title><link href="javascript:alert(2)"/>
<summary>a &lt;b&gt; b</summary><updated>2026-11-26T12:00:00Z</updated></entry>
</feed>"""


def test_xslt_keeps_hostile_rss_as_text(transform: etree.XSLT) -> None:
    page = _page(transform, HOSTILE_RSS)
    assert page.xpath("//script | //img | //b | //i | //*[@onerror]") == []
    assert page.get("lang") == "he"
    assert text_of(page.xpath("//h1")[0]) == "<img src=x onerror=alert(1)>"
    assert "<script>alert(2)</script>" in text_of(page.body)
    links = {text_of(a): a.get("href") for a in page.xpath("//main//h3/a")}
    assert links == {"relative": "/blog/x.html"}  # javascript:, data:, //host are not links
    first_title = page.xpath("//main//h3")[0]
    assert text_of(first_title) == "</h3><script>alert(3)</script>"
    (summary,) = page.xpath("//p[contains(@class, 'entry-summary')]")
    assert text_of(summary) == "One & <two> threex"  # the HTML's text, tags dropped
    assert not page.xpath("//a[starts-with(translate(@href, 'JAVSCRIPT', 'javscript'), 'jav')]")
    (address,) = page.xpath("//*[contains(@class, 'feed-url')]")
    assert text_of(address) == 'https://example.org/feed?a=1&b="2"'
    # The page's stylesheet sits next to the XSLT the feed names.
    assert page.xpath("//link[@rel='stylesheet']/@href") == ["/feed.css"]


def test_xslt_keeps_hostile_atom_as_text(transform: etree.XSLT) -> None:
    page = _page(transform, HOSTILE_ATOM)
    assert page.xpath("//script | //img | //b | //i | //*[@onerror]") == []
    assert page.get("lang") == "ar"
    assert text_of(page.xpath("//h1")[0]) == "<script>alert(1)</script>"
    assert not page.xpath("//a[starts-with(@href, 'vbscript')]")
    titles = [text_of(h) for h in page.xpath("//main//h3")]
    assert titles == ["bold & <i>", "<i>text</i>"]
    assert [a.get("href") for a in page.xpath("//main//h3/a")] == ["https://example.org/a"]
    summaries = [text_of(p) for p in page.xpath("//p[contains(@class, 'entry-summary')]")]
    assert summaries == ["Fish & chips", "a <b> b"]
    dates = [text_of(t) for t in page.xpath("//time")]
    assert dates == ["2026-11-26 12:00 +02:00", "2026-11-26 12:00 UTC"]
    # No xml-stylesheet PI: the stylesheet is looked for next to the feed.
    assert page.xpath("//link[@rel='stylesheet']/@href") == ["feed.css"]


def test_stylesheet_never_disables_escaping() -> None:
    source = (STATIC / "feed.xsl").read_text(encoding="utf-8")
    assert "disable-output-escaping=" not in source
    assert "<xsl:copy-of" not in source  # nothing from the feed is copied as markup
