"""Article content: sanitising HTML and deriving plain-text facts from it.

The sanitiser is an allow-list (nh3, i.e. ammonia): no ``<script>``, no
``<style>``, no event handlers, no ``javascript:`` URLs, ``data:`` URLs only
for images, ``<iframe>`` only when the site allows it, and ``rel="noopener"``
on every link. Relative links and image sources are made absolute against the
article's URL, because many readers and RSS-to-email services ignore
``xml:base``.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from functools import cache
from html import unescape
from urllib.parse import urljoin

import nh3

from feeder._text import clean_text

__all__ = [
    "SANITISER",
    "derive_summary",
    "first_paragraph",
    "plain_text",
    "reading_minutes",
    "sanitize_html",
    "word_count",
]

SUMMARY_MAX = 300
#: Which sanitiser this is. Content sealed by another one (an older feeder or nh3, whose
#: rules may have let through what this one removes) is sanitised again when published.
#: Bump the first part whenever the rules below change what they keep.
SANITISER = f"feeder-2/nh3-{getattr(nh3, '__version__', '?')}"

_LINK_REL = "noopener"
# ``cite`` is dropped: ammonia does not check its scheme, and no reader shows it.
_ATTRIBUTES = {
    tag: {name for name in names if name != "cite"} for tag, names in nh3.ALLOWED_ATTRIBUTES.items()
}
_IFRAME_ATTRIBUTES = {"src", "width", "height", "title", "allow", "allowfullscreen", "loading"}
# Raster images only: an SVG can carry script.
_DATA_IMAGE = re.compile(r"\s*data:image/(?:png|gif|jpeg|webp|avif)[;,]", re.IGNORECASE)
_DATA = re.compile(r"data:", re.IGNORECASE)
_BASE = threading.local()


def _keep_data_images_only(tag: str, attribute: str, value: str) -> str | None:
    if _DATA.match(value.lstrip()) and not (
        tag == "img" and attribute == "src" and _DATA_IMAGE.match(value)
    ):
        return None
    return value


def _resolve(url: str) -> str | None:
    """A relative URL made absolute against the base of the current sanitise call."""
    base: str | None = getattr(_BASE, "url", None)
    if not base:
        return url
    try:
        return urljoin(base, url)
    except ValueError:  # e.g. a malformed IPv6 host: drop the URL rather than keep it broken
        return None


@cache
def _cleaner(allow_iframes: bool, data_urls: bool) -> nh3.Cleaner:
    tags = set(nh3.ALLOWED_TAGS)
    attributes = {tag: set(names) for tag, names in _ATTRIBUTES.items()}
    if allow_iframes:
        tags.add("iframe")
        attributes["iframe"] = set(_IFRAME_ATTRIBUTES)
    # ammonia checks URL schemes per attribute, not per tag: when the HTML has
    # data: URLs, let them through and then keep them on <img src> only.
    return nh3.Cleaner(
        tags=tags,
        attributes=attributes,
        link_rel=_LINK_REL,
        url_schemes=nh3.ALLOWED_URL_SCHEMES | {"data"} if data_urls else nh3.ALLOWED_URL_SCHEMES,
        attribute_filter=_keep_data_images_only if data_urls else None,
        url_relative=_resolve,
    )


def sanitize_html(html: str, *, base_url: str | None = None, allow_iframes: bool = False) -> str:
    """``html`` reduced to the allow-list above, relative URLs resolved against ``base_url``.

    ``base_url`` is the article's own URL (an absolute http(s) URL); without
    it relative URLs stay as they are. Sanitising sanitised HTML changes nothing.
    """
    html = clean_text(html)
    # Finding "ata:" and "ATA:" is many times faster than a case-blind regex; a
    # rarer spelling like "dAtA:" only means its URL is dropped as unknown.
    cleaner = _cleaner(allow_iframes, "ata:" in html or "ATA:" in html)
    # The cleaners are shared (building one costs as much as a clean), so the
    # base URL reaches _resolve through a thread-local: imports clean in threads.
    _BASE.url = base_url
    try:
        cleaned = str(cleaner.clean(html))
    finally:
        _BASE.url = None
    # An HTML parser drops a line break right after <pre> (and <textarea>, <listing>),
    # and the HTML serialisation rules write one more to keep a text that starts with
    # one; ammonia does not. Written here, every reader (and the next clean) sees the text.
    return _LEADING_BREAK.sub(r"\1\n\n", cleaned) if "\n" in cleaned else cleaned


_LEADING_BREAK = re.compile(r"(<(?:pre|textarea|listing)(?:\s[^>]*)?>)\n")


_BLOCKS = frozenset(
    [
        "p",
        "div",
        "br",
        "li",
        "ul",
        "ol",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "pre",
        "blockquote",
        "table",
        "tr",
        "td",
        "th",
        "section",
        "article",
        "header",
        "footer",
        "figure",
        "figcaption",
        "hr",
    ]
)


_SKIPPED = ("script", "style")
_MARKUP = re.compile(
    r"""<!--.*?(?:-->|\Z)        # a comment
      | <[!?][^>]*>?             # a declaration or processing instruction
      | <(/?)([a-zA-Z][^\s/>]*)  # a tag: its name...
        (?:[^>"']|"[^"]*"|'[^']*')*>  # ...and its attributes, quoted values may hold '>'
    """,
    re.DOTALL | re.VERBOSE,
)
BREAK = "\n\n"


def _pieces(html: str) -> Iterator[str | None]:
    """``html``'s text in order, unescaped, and None where a block element starts or
    ends; the text of ``<script>`` and ``<style>`` is not text."""
    position = 0
    for match in _MARKUP.finditer(html):
        start = match.start()
        if start < position:  # inside a skipped <script> or <style>
            continue
        if start > position:
            yield unescape(html[position:start])
        position = match.end()
        name = match.group(2)
        if name is None:
            continue
        name = name.lower()
        if name in _SKIPPED and not match.group(1):
            end = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(html, position)
            position = end.end() if end else len(html)
        elif name in _BLOCKS:
            yield None
    if position < len(html):
        yield unescape(html[position:])


def _paragraphs(html: str, wanted: int | None = None) -> list[str]:
    """The non-empty paragraphs of ``html``'s text, whitespace collapsed.

    Block elements and blank lines in the text separate paragraphs. With
    ``wanted``, reading stops once that many paragraphs are complete.
    """
    paragraphs: list[str] = []
    current: list[str] = []

    def close_block() -> bool:
        for block in "".join(current).split(BREAK):
            if paragraph := " ".join(block.split()):
                paragraphs.append(paragraph)
        current.clear()
        return wanted is not None and len(paragraphs) >= wanted

    for piece in _pieces(html):
        if piece is not None:
            current.append(piece)
        elif close_block():
            return paragraphs[:wanted]
    close_block()
    return paragraphs[:wanted]


def plain_text(html: str) -> str:
    """The visible text of ``html``; paragraphs separated by blank lines."""
    return BREAK.join(_paragraphs(html))


def first_paragraph(html: str) -> str:
    """The first paragraph of :func:`plain_text`, reading no further into ``html``."""
    found = _paragraphs(html, 1)
    return found[0] if found else ""


# How far to look for a paragraph that reads as prose before taking the first one.
_SUMMARY_LOOKAHEAD = 8
_SENTENCE_END = (".", "!", "?", "…", ":", "。", "！", "？")


def reads_as_prose(paragraph: str) -> bool:
    """Whether a paragraph is text someone wrote to be read, not page chrome.

    A sentence of some words ("Estimated read time 3 min read", a table header
    or a byline is not): eight words or more, or three or more ending like a
    sentence. Chinese and Japanese count characters, as word_count does.
    """
    words = sum(1 for word in _WORDS.findall(paragraph) if any(ch.isalnum() for ch in word))
    return words >= 8 or (words >= 3 and paragraph.rstrip("\"'”’)»").endswith(_SENTENCE_END))


def derive_summary(html: str, limit: int = SUMMARY_MAX) -> str:
    """The first paragraph that reads as prose (else the first one) as plain text,
    cut at a word boundary with "…" when too long."""
    paragraphs = _paragraphs(html, _SUMMARY_LOOKAHEAD)
    first = next((p for p in paragraphs if reads_as_prose(p)), paragraphs[0] if paragraphs else "")
    if len(first) <= limit:
        return first
    cut = first[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–—") + "…"


# Chinese and Japanese put no spaces between words: each ideograph or kana counts as one.
_SCRIPTS_WITHOUT_SPACES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORDS = re.compile(f"[{_SCRIPTS_WITHOUT_SPACES}]|[^\\s{_SCRIPTS_WITHOUT_SPACES}]+")


def _count_words(text: str) -> int:
    if text.isascii():
        return len(text.split())
    return len(_WORDS.findall(text))


def word_count(html: str) -> int:
    """Words in the visible text of ``html``: those of :func:`plain_text`.

    The same walk without building paragraphs (every article written is
    counted): a block element only separates words, and whitespace, however
    much of it, only separates them too. tests/test_content.py checks that this
    counts what plain_text holds.
    """
    text = "".join(" " if piece is None else piece for piece in _pieces(html))
    return _count_words(text)


# A common adult silent-reading pace for prose.
WORDS_PER_MINUTE = 230


def reading_minutes(words: int) -> int:
    """Whole minutes to read ``words`` words; at least one."""
    return max(1, round(words / WORDS_PER_MINUTE))
