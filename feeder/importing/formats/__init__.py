"""Input formats: each turns a file into article drafts, without touching the database.

``md``, ``html`` and ``text`` hold one article per file; ``jsonl`` holds one per line.
"""

from __future__ import annotations

from importlib import import_module
from pathlib import PurePath
from typing import TYPE_CHECKING, Any

from feeder.errors import InputError

if TYPE_CHECKING:
    from feeder.importing.formats._draft import FIELDS as FIELDS
    from feeder.importing.formats._draft import Draft as Draft
    from feeder.importing.formats._draft import Line as Line
    from feeder.importing.formats._draft import Pending as Pending
    from feeder.importing.formats._draft import Source as Source
    from feeder.importing.formats._draft import decode as decode

# What the draft module defines, loaded on first use: the command line reads the
# names of the formats without loading any of them.
_DRAFT_NAMES = ("FIELDS", "Draft", "Line", "Pending", "Source", "decode")


def __getattr__(name: str) -> Any:
    if name not in _DRAFT_NAMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module("feeder.importing.formats._draft"), name)
    globals()[name] = value
    return value


__all__ = [
    "EXTENSIONS",
    "FIELDS",
    "FORMATS",
    "Draft",
    "Line",
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
_PARSERS = {"md": "markdown", "html": "html", "text": "text"}


def format_of(path: str | PurePath) -> str | None:
    """The format a file name says it holds, or None."""
    return EXTENSIONS.get(PurePath(path).suffix.lower())


def parse(source: str, kind: str, origin: str) -> Draft:
    """The draft in ``source``, a whole file of format ``kind`` (not ``jsonl``)."""
    # Each parser is loaded on first use: the command line lists formats without them.
    parser: Any = import_module(f"feeder.importing.formats.{_PARSERS[kind]}")
    draft: Draft = parser.parse(source, origin)
    return draft


def resolve(item: Pending) -> Draft | InputError:
    """The draft ``item`` holds, or the error that refuses it."""
    from feeder.importing.formats import _draft, jsonl

    if isinstance(item, _draft.Line):
        parsed = jsonl.parse_line(item)
    else:
        try:
            parsed = parse(_draft.decode(item.data, item.origin), item.kind, item.origin)
        except InputError as exc:
            return exc
    if isinstance(parsed, InputError):
        return parsed
    # Local media files are read relative to the file that names them.
    return _draft.with_media_base(parsed, item.origin)


def to_html(source: str, kind: str, origin: str) -> str:
    """Content written in ``kind`` as HTML (for ``feeder add --content-file``).

    Front matter is refused here: its fields would be silently lost.
    """
    if source.lstrip("\ufeff").split("\n", 1)[0].rstrip() in ("---", "+++"):
        raise InputError(
            f"{origin}: has front matter, which 'add' does not read; import it with "
            f"'feeder import {origin}' instead"
        )
    from feeder.importing.formats import html, markdown, text

    if kind == "md":
        return markdown.to_html(source)
    if kind == "text":
        return text.to_html(source)
    if kind == "html":
        return html.body_of(source)
    raise InputError(f"{origin}: format {kind!r} is unknown; use md, html or text")
