"""HTML files: a whole page or a fragment, with optional front matter.

The title comes from the front matter, else ``<title>``, else the first
``<h1>`` (which then leaves the content, so pages do not show it twice). The
content is the inside of the first ``<article>``, else ``<main>``, else
``<body>``, else the whole file without its ``<head>``.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from feeder.errors import InputError
from feeder.importing.formats import frontmatter
from feeder.importing.formats._draft import Draft

__all__ = ["body_of", "parse"]

_CONTAINERS = ("article", "main", "body")
_DROPPED = ("head", "title")


class _Outline(HTMLParser):
    """Where the interesting elements of a document start and end (string offsets)."""

    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self._source = source
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", source)]
        self._size = len(source)
        # tag -> [outer start, inner start, inner end, outer end] of its first occurrence
        self.spans: dict[str, list[int]] = {}
        self._open: dict[str, int] = {}  # nesting depth of tracked elements still open
        self._texts: dict[str, list[str]] = {"title": [], "h1": []}

    def _offset(self) -> int:
        line, column = self.getpos()
        return self._line_starts[line - 1] + column

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag not in (*_CONTAINERS, *_DROPPED, "h1"):
            return
        if tag in self.spans:
            if tag in self._open:
                self._open[tag] += 1
            return
        start = self._offset()
        inner = start + len(self.get_starttag_text() or "")
        self.spans[tag] = [start, inner, self._size, self._size]
        self._open[tag] = 1

    def handle_endtag(self, tag: str) -> None:
        if tag not in self._open:
            return
        self._open[tag] -= 1
        if self._open[tag] == 0:
            del self._open[tag]
            start = self._offset()
            span = self.spans[tag]
            span[2] = start
            span[3] = self._source.find(">", start) + 1

    def handle_data(self, data: str) -> None:
        for tag, parts in self._texts.items():
            if tag in self._open:
                parts.append(data)

    def text(self, tag: str) -> str:
        return " ".join("".join(self._texts[tag]).split())


def _outline(source: str) -> _Outline:
    outline = _Outline(source)
    outline.feed(source)
    outline.close()
    return outline


def body_of(source: str) -> str:
    """The content part of an HTML document or fragment."""
    return _body(source, _outline(source), drop_h1=False)


def _body(source: str, outline: _Outline, *, drop_h1: bool) -> str:
    for tag in _CONTAINERS:
        if tag in outline.spans:
            _, begin, end, _ = outline.spans[tag]
            break
    else:
        begin, end = 0, len(source)
    cuts = [outline.spans[tag] for tag in _DROPPED if tag in outline.spans]
    if drop_h1 and "h1" in outline.spans:
        cuts.append(outline.spans["h1"])
    pieces, position = [], begin
    for start, _, _, stop in sorted(cuts):
        if start >= position and stop <= end:
            pieces.append(source[position:start])
            position = stop
    pieces.append(source[position:end])
    return "".join(pieces).strip()


def parse(text: str, origin: str) -> Draft:
    """A draft from an HTML file."""
    fields, body, _ = frontmatter.split(text, origin)
    outline = _outline(body)
    drop_h1 = False
    if "title" not in fields:
        title = outline.text("title") or outline.text("h1")
        if not title:
            raise InputError(
                f"{origin}: title: missing; add a <title> or an <h1>, or front matter "
                "with 'title: ...'"
            )
        drop_h1 = not outline.text("title")
        fields["title"] = title
    return Draft(origin=origin, content=_body(body, outline, drop_h1=drop_h1), **fields)
