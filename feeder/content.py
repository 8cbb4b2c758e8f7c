"""Article content: sanitising HTML and deriving plain-text facts from it."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import nh3

from feeder.text import clean_text

__all__ = ["derive_summary", "plain_text", "sanitize_html", "word_count"]

SUMMARY_MAX = 300


def sanitize_html(html: str) -> str:
    """``html`` reduced to an allow-list of tags and attributes (no scripts, no handlers)."""
    return nh3.clean(clean_text(html), link_rel="noopener")


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


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1
        elif tag in _BLOCKS:
            self.parts.append("\n\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def plain_text(html: str) -> str:
    """The visible text of ``html``; paragraphs separated by blank lines."""
    parser = _TextExtractor()
    parser.feed(html)
    parser.close()
    paragraphs = (
        re.sub(r"\s+", " ", block).strip() for block in "".join(parser.parts).split("\n\n")
    )
    return "\n\n".join(p for p in paragraphs if p)


def derive_summary(html: str, limit: int = SUMMARY_MAX) -> str:
    """The first paragraph as plain text, cut at a word boundary with "…" when too long."""
    text = plain_text(html)
    first = text.split("\n\n", 1)[0] if text else ""
    if len(first) <= limit:
        return first
    cut = first[: limit - 1]
    if " " in cut:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:.-–—") + "…"


def word_count(html: str) -> int:
    return len(plain_text(html).split())
