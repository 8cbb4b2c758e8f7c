"""OPML 2.0: every feed of the site in one file, for a reader to import in one go."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from feeder._text import clean_line, clean_text

__all__ = ["MEDIA_TYPE", "Outline", "render_opml"]

MEDIA_TYPE = "text/x-opml"


@dataclass(frozen=True)
class Outline:
    """One feed a reader can subscribe to."""

    title: str
    xml_url: str  # the feed
    html_url: str  # the page it belongs to
    version: str  # "RSS" for RSS, "Atom", "JSON" (OPML's own field is free text)


def render_opml(
    title: str, owner_url: str, sections: Sequence[tuple[str, Sequence[Outline]]]
) -> bytes:
    """The OPML document: one outline per section (the site, tags, authors) holding its feeds.

    Same input, same bytes: no creation date is written.
    """

    def attribute(value: str) -> str:
        return quoteattr(clean_text(value))

    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        '<opml version="2.0">',
        "  <head>",
        f"    <title>{attribute(clean_line(title))[1:-1]}</title>",
        f"    <ownerId>{attribute(owner_url)[1:-1]}</ownerId>",
        "  </head>",
        "  <body>",
    ]
    for heading, outlines in sections:
        if not outlines:
            continue
        lines.append(f"    <outline text={attribute(clean_line(heading))}>")
        for outline in outlines:
            lines.append(
                f'      <outline type="rss" text={attribute(clean_line(outline.title))} '
                f"title={attribute(clean_line(outline.title))} "
                f"xmlUrl={attribute(outline.xml_url)} htmlUrl={attribute(outline.html_url)} "
                f"version={attribute(outline.version)}/>"
            )
        lines.append("    </outline>")
    lines += ["  </body>", "</opml>", ""]
    return "\n".join(lines).encode("utf-8")
