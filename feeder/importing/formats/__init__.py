"""Input formats: each turns a file into article drafts, without touching the database.

``md``, ``html`` and ``text`` hold one article per file; ``jsonl`` holds one per line.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import NamedTuple

from feeder.errors import InputError
from feeder.importing.formats import html, jsonl, markdown, text
from feeder.importing.formats._draft import FIELDS as FIELDS
from feeder.importing.formats._draft import Draft as Draft
from feeder.importing.formats._draft import decode as decode

__all__ = [
    "EXTENSIONS",
    "FIELDS",
    "FORMATS",
    "Draft",
    "Pending",
    "Source",
    "decode",
    "format_of",
    "parse",
    "resolve",
    "to_html",
]

FORMATS = ("md", "html", "text", "jsonl")
EXTENSIONS = {
    ".md": "md",
    ".markdown": "md",
    ".html": "html",
    ".htm": "html",
    ".txt": "text",
    ".text": "text",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
}
_SINGLE = {"md": markdown.parse, "html": html.parse, "text": text.parse}


def format_of(path: str | PurePath) -> str | None:
    """The format a file name says it holds, or None."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())


def parse(source: str, kind: str, origin: str) -> Draft:
    """The draft in ``source``, a whole file of format ``kind`` (not ``jsonl``)."""
    return _SINGLE[kind](source, origin)


class Source(NamedTuple):
    """A whole file of format ``kind`` (not ``jsonl``), read but not parsed yet."""

    data: bytes
    kind: str
    origin: str


# Input read but not parsed: bulk imports parse it in worker processes.
Pending = Source | jsonl.Line


def resolve(item: Pending) -> Draft | InputError:
    """The draft ``item`` holds, or the error that refuses it."""
    if isinstance(item, jsonl.Line):
        return jsonl.parse_line(item)
    try:
        return parse(decode(item.data, item.origin), item.kind, item.origin)
    except InputError as exc:
        return exc


def to_html(source: str, kind: str, origin: str) -> str:
    """Content written in ``kind`` as HTML (for ``feeder add --content-file``).

    Front matter is refused here: its fields would be silently lost.
    """
    if source.lstrip("\ufeff").split("\n", 1)[0].rstrip() in ("---", "+++"):
        raise InputError(
            f"{origin}: has front matter, which 'add' does not read; import it with "
            f"'feeder import {origin}' instead"
        )
    if kind == "md":
        return markdown.to_html(source)
    if kind == "text":
        return text.to_html(source)
    if kind == "html":
        return html.body_of(source)
    raise InputError(f"{origin}: format {kind!r} is unknown; use md, html or text")
