"""JSON Lines: one article object per line, for bulk loads.

A bad line is reported (with its line number) and the others go on; the file
is read as a stream, so its size does not matter.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator

from feeder.errors import InputError
from feeder.importing.formats import markdown, text
from feeder.importing.formats._draft import FIELDS, Draft, Line, check_fields

__all__ = ["CONTENT_FORMATS", "KEYS", "Line", "parse_line", "parse_lines", "read_lines"]

# ``content`` holds the article body; ``format`` says what it is written in.
KEYS = (*FIELDS, "content", "format")
CONTENT_FORMATS: dict[str, Callable[[str], str]] = {
    "html": lambda source: source,
    "md": markdown.to_html,
    "text": text.to_html,
}


def parse_lines(lines: Iterable[bytes], origin: str) -> Iterator[Draft | InputError]:
    """A draft, or the error that refuses it, for each non-blank line."""
    for item in read_lines(lines, origin):
        yield item if isinstance(item, InputError) else parse_line(item)


def read_lines(lines: Iterable[bytes], origin: str) -> Iterator[Line | InputError]:
    """Each non-blank line as text, or the error for a line that is not UTF-8.

    Parsing is left to :func:`parse_line`, so that a bulk import can do it in
    worker processes.
    """
    offset = 0
    for number, raw in enumerate(lines, start=1):
        where = f"{origin}:{number}"
        start, offset = offset, offset + len(raw)
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield InputError(
                f"{where}: not valid UTF-8 at byte {start + exc.start}; save the file as UTF-8"
            )
            continue
        if number == 1:
            line = line.removeprefix("\ufeff")
        if line.strip():
            yield Line(line, where)


def parse_line(line: Line) -> Draft | InputError:
    """The draft on ``line``, or the error that refuses it."""
    try:
        return _draft(line.text, line.origin)
    except InputError as exc:
        return exc


def _draft(line: str, where: str) -> Draft:
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where}: not valid JSON ({exc.msg} at column {exc.colno}); "
            'write one object per line, e.g. {"title": "Hello"}'
        ) from None
    if not isinstance(data, dict):
        raise InputError(
            f"{where}: must be a JSON object, got {type(data).__name__}; "
            'write e.g. {"title": "Hello"}'
        )
    content = data.pop("content", None)
    kind = data.pop("format", None) or "html"
    if kind not in CONTENT_FORMATS:
        raise InputError(f"{where}: format: {kind!r} is unknown; use one of html, md, text")
    if content is not None and not isinstance(content, str):
        raise InputError(f"{where}: content: must be a string of {kind}, got {content!r}")
    fields = check_fields(data, where, KEYS)
    if "title" not in fields:
        raise InputError(f'{where}: title: missing; add a "title" key to this line')
    return Draft(origin=where, content=CONTENT_FORMATS[kind](content or ""), **fields)
