"""Markdown (CommonMark, plus tables and strikethrough) with optional front matter."""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

from feeder._content import plain_text
from feeder.errors import InputError
from feeder.importing.formats import frontmatter
from feeder.importing.formats._draft import Draft

__all__ = ["parse", "to_html"]

if TYPE_CHECKING:
    from markdown_it import MarkdownIt


@cache
def _markdown() -> MarkdownIt:
    # Loaded on first use: most commands never read Markdown.
    from markdown_it import MarkdownIt

    # Raw HTML is allowed through; the sanitiser decides what of it survives.
    return MarkdownIt("commonmark", {"html": True}).enable(["table", "strikethrough"])


def to_html(text: str) -> str:
    """``text`` rendered as HTML."""
    html: str = _markdown().render(text)
    return html


def parse(text: str, origin: str) -> Draft:
    """A draft from a Markdown file: fields from the front matter, content from the rest.

    Without a ``title`` field, a level-1 heading at the very top is the title
    (and is not repeated in the content).
    """
    fields, body, _ = frontmatter.split(text, origin)
    if "title" not in fields:
        md = _markdown()
        tokens = md.parse(body)
        if len(tokens) >= 3 and tokens[0].type == "heading_open" and tokens[0].tag == "h1":
            fields["title"] = plain_text(md.renderInline(tokens[1].content))
            return Draft(
                origin=origin, content=md.renderer.render(tokens[3:], md.options, {}), **fields
            )
        raise InputError(
            f"{origin}: title: missing; add 'title: ...' to the front matter or start "
            "the file with a '# Title' line"
        )
    return Draft(origin=origin, content=to_html(body), **fields)
