"""Feed heads rendered once per shape and filled in, for documents whose items are given.

The pages of a feed's archive share their channel but for its date and its links (the
page's own address, its neighbours'): a few hundred microseconds of feedgen and lxml
each, thousands of times in a full build. Here feedgen renders a channel once with
stand-ins for those values, and each page gets that template with its own values put
in: the same bytes feedgen would write (tests/test_render.py checks it over many
channels). A value that XML would write escaped is never put in: that channel is
rendered whole, as before.
"""

from __future__ import annotations

import dataclasses
import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from datetime import UTC, datetime

from feedgen.util import formatRFC2822

from feeder._text import clean_text
from feeder.entries import Channel
from feeder.publishing.render._common import utc

__all__ = ["head"]

#: Templates kept: one per feed and format in use (a site, its tags and authors).
KEEP = 1024

# Two sets of stand-ins: a template is kept only where both renderings split into the same
# literal bytes, so a stand-in written some other way, or a title that happens to hold
# one, makes the shape rendered whole instead.
_STAND_INS = (
    (datetime(1901, 2, 3, 4, 5, 6, 789012, tzinfo=UTC), "feeder-stand-in-a.invalid"),
    (datetime(1902, 3, 5, 7, 9, 10, 123456, tzinfo=UTC), "feeder-stand-in-b.invalid"),
)
# Written the same way as an attribute and as text, in UTF-8: nothing to escape.
_PLAIN = re.compile(r"[^&<>\"'\x00-\x20\x7f]*")

_ISO = -1
_RFC2822 = -2


@dataclasses.dataclass(frozen=True)
class _Template:
    #: Literal bytes, and between each two, the slot of a value: a link's index, or a date.
    literals: tuple[bytes, ...]
    slots: tuple[int, ...]

    def fill(self, hrefs: list[bytes], updated: datetime) -> bytes:
        dates = {_ISO: updated.isoformat().encode(), _RFC2822: formatRFC2822(updated).encode()}
        parts = [self.literals[0]]
        for slot, literal in zip(self.slots, self.literals[1:], strict=True):
            parts.append(dates[slot] if slot < 0 else hrefs[slot])
            parts.append(literal)
        return b"".join(parts)


#: A shape seen once and not made a template yet: most feeds are rendered once a build
#: (a template costs two renderings), an archive's pages many times.
_ONCE = "once"
_templates: OrderedDict[Hashable, _Template | str | None] = OrderedDict()
_lock = threading.Lock()


def head(key: Hashable, channel: Channel, render: Callable[[Channel], bytes]) -> bytes:
    """``render(channel)``, made from the template of its shape from the second time
    that shape is seen, where it can be.

    ``key`` names whatever else ``render`` depends on (format, archive, stylesheets).
    """
    hrefs = [clean_text(link.href) for link in channel.links]
    if not all(_PLAIN.fullmatch(href) for href in hrefs):
        return render(channel)
    shape = (key, _shaped(channel, 0))
    with _lock:
        seen = shape in _templates
        if seen:
            _templates.move_to_end(shape)
            found = _templates[shape]
        else:
            _remember(shape, _ONCE)
    if not seen:
        return render(channel)
    if found == _ONCE:
        found = _template([render(_shaped(channel, n)) for n in range(2)], len(hrefs))
        with _lock:
            _remember(shape, found)
    if not isinstance(found, _Template):  # a shape that does not hold its stand-ins as values
        return render(channel)
    return found.fill([href.encode() for href in hrefs], utc(channel.updated))


def _remember(shape: Hashable, value: _Template | str | None) -> None:
    _templates[shape] = value
    while len(_templates) > KEEP:
        _templates.popitem(last=False)


def _shaped(channel: Channel, n: int) -> Channel:
    when, host = _STAND_INS[n]
    links = tuple(
        dataclasses.replace(link, href=f"https://{host}/{index}/")
        for index, link in enumerate(channel.links)
    )
    return dataclasses.replace(channel, updated=when, links=links)


def _split(document: bytes, n: int, links: int) -> _Template | None:
    when, host = _STAND_INS[n]
    iso, rfc = when.isoformat().encode(), formatRFC2822(when).encode()
    pattern = re.escape(f"https://{host}/").encode() + rb"(\d+)/|" + re.escape(iso) + rb"|"
    literals: list[bytes] = []
    slots: list[int] = []
    start = 0
    for match in re.finditer(pattern + re.escape(rfc), document):
        literals.append(document[start : match.start()])
        if match.group(1) is not None:
            if int(match.group(1)) >= links:
                return None
            slots.append(int(match.group(1)))
        else:
            slots.append(_ISO if match.group(0) == iso else _RFC2822)
        start = match.end()
    literals.append(document[start:])
    return _Template(tuple(literals), tuple(slots))


def _template(documents: list[bytes], links: int) -> _Template | None:
    first, second = (_split(document, n, links) for n, document in enumerate(documents))
    return first if first is not None and first == second else None
