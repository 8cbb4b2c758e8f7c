"""Atom 1.0 (RFC 4287) with self and alternate links."""

from __future__ import annotations

from collections.abc import Sequence

from feeder._text import clean_line, clean_text
from feeder.entries import Channel, Entry, Link
from feeder.publishing.render._common import (
    body_html,
    generator,
    person,
    summary_of,
    utc,
    with_stylesheets,
)
from feeder.publishing.render._history import add_history
from feeder.publishing.render._media import add_atom_enclosures, prepare_atom

__all__ = ["MEDIA_TYPE", "render_atom"]

MEDIA_TYPE = "application/atom+xml"


def render_atom(
    channel: Channel,
    entries: Sequence[Entry],
    *,
    summary_only: bool = False,
    stylesheets: Sequence[Link] = (),
    archive: bool = False,
) -> bytes:
    """The Atom document for ``entries``, newest first as given. Same input, same bytes.

    ``summary_only``: entries carry their summary and no content.
    ``archive``: an RFC 5005 archive document (``fh:archive``).
    """
    fg = generator(channel, alternate_first=True)
    add_history(fg, channel.links, archive=archive, rss=False)
    if channel.description:
        fg.subtitle(clean_text(channel.description))
    fg.author(person(channel.author))
    prepare_atom(fg, entries)
    for entry in entries:
        fe = fg.add_entry(order="append")
        fe.id(clean_text(entry.id))
        fe.title(clean_line(entry.title))
        fe.link(href=clean_text(entry.url), rel="alternate", type="text/html")
        if entry.author is not None:
            fe.author(person(entry.author))
        fe.summary(summary_of(entry))
        if not summary_only:
            fe.content(body_html(entry), type="html")
        fe.published(utc(entry.published))
        fe.updated(utc(entry.updated))
        for tag in entry.tags:
            fe.category(term=clean_text(tag.slug), label=clean_line(tag.name))
        add_atom_enclosures(fe, entry)
    data: bytes = fg.atom_str(pretty=True)
    return with_stylesheets(data, stylesheets)
