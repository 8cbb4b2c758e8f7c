"""Atom 1.0 (RFC 4287) with self and alternate links."""

from __future__ import annotations

from collections.abc import Sequence

from feeder._text import clean_text
from feeder.entries import Channel, Entry
from feeder.publishing.render._common import generator, person, summary_of, utc

__all__ = ["MEDIA_TYPE", "render_atom"]

MEDIA_TYPE = "application/atom+xml"


def render_atom(channel: Channel, entries: Sequence[Entry]) -> bytes:
    """The Atom document for ``entries``, newest first as given. Same input, same bytes."""
    fg = generator(channel)
    if channel.description:
        fg.subtitle(clean_text(channel.description))
    fg.author(person(channel.author))
    for entry in entries:
        fe = fg.add_entry(order="append")
        fe.id(clean_text(entry.id))
        fe.title(clean_text(entry.title))
        fe.link(href=clean_text(entry.url), rel="alternate", type="text/html")
        if entry.author is not None:
            fe.author(person(entry.author))
        fe.summary(summary_of(entry))
        fe.content(clean_text(entry.content) or summary_of(entry), type="html")
        fe.published(utc(entry.published))
        fe.updated(utc(entry.updated))
        for tag in entry.tags:
            fe.category(term=clean_text(tag.slug), label=clean_text(tag.name))
    data: bytes = fg.atom_str(pretty=True)
    return data
