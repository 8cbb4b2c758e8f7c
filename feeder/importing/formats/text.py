"""Plain text: paragraphs separated by blank lines; the first line is the title.

Characters are kept as written (curly quotes, dashes, ellipses): only ``&``,
``<`` and ``>`` are escaped, so the text reads the same in every feed reader.
"""

from __future__ import annotations

import re
from html import escape

from feeder.errors import InputError
from feeder.importing.formats import frontmatter
from feeder.importing.formats._draft import Draft

__all__ = ["parse", "to_html"]

_BLANK_LINE = re.compile(r"\n[ \t]*\n")


def to_html(text: str) -> str:
    """Each paragraph of ``text`` as a ``<p>``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    paragraphs = (part.strip("\n") for part in _BLANK_LINE.split(text))
    return "\n".join(
        f"<p>{escape(part.strip(), quote=False)}</p>" for part in paragraphs if part.strip()
    )


def parse(text: str, origin: str) -> Draft:
    """A draft from a text file. Without a ``title`` in front matter the first line is it."""
    fields, body, _ = frontmatter.split(text, origin)
    if "title" not in fields:
        lines = body.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        first = next((i for i, line in enumerate(lines) if line.strip()), None)
        if first is None:
            raise InputError(
                f"{origin}: title: missing, the file is empty; write the title on the first line"
            )
        fields["title"] = lines[first].strip()
        body = "\n".join(lines[first + 1 :])
    return Draft(origin=origin, content=to_html(body), **fields)
