"""RSS 2.0 with content:encoded, dc:creator and an atom:link to itself."""

from __future__ import annotations

from collections.abc import Sequence

from feeder.entries import Channel, Entry
from feeder.render._common import generator, summary_of, utc
from feeder.text import clean_text

__all__ = ["MEDIA_TYPE", "render_rss"]

MEDIA_TYPE = "application/rss+xml"


def render_rss(channel: Channel, entries: Sequence[Entry]) -> bytes:
    """The RSS document for ``entries``, newest first as given. Same input, same bytes."""
    fg = generator(channel, MEDIA_TYPE)
    fg.load_extension("dc", atom=False, rss=True)
    fg.description(clean_text(channel.description) or clean_text(channel.title))
    for entry in entries:
        fe = fg.add_entry(order="append")
        fe.guid(entry.id, permalink=False)
        fe.title(clean_text(entry.title))
        fe.link(href=entry.url)
        # RSS <author> must be an email address; dc:creator carries a name.
        fe.dc.dc_creator((entry.author or channel.author).name)
        fe.description(summary_of(entry))
        fe.content(clean_text(entry.content) or summary_of(entry))
        fe.pubDate(utc(entry.published))
        for tag in entry.tags:
            fe.category(term=clean_text(tag.name))
    data: bytes = fg.rss_str(pretty=True)
    return data
