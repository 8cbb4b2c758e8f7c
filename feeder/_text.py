"""Plain-text hygiene shared by storage and rendering."""

from __future__ import annotations

import re

__all__ = ["clean_line", "clean_text"]

# XML 1.0 allows #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
# Everything else (C0 controls, lone surrogates, U+FFFE/U+FFFF) makes a feed
# unparseable, so it is removed from every field on the way in and again on
# the way out. So are DEL and the C1 controls U+007F-U+009F: XML 1.0 (section
# 2.2) asks authors to avoid them, they are never text anyone meant to write
# (mostly Windows-1252 mis-decoded), and readers disagree on them: feedparser
# shows U+0080 as "€", others drop it.
_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


# The same characters as they look in UTF-8, for a check in C rather than a scan by the
# regular expression: the ASCII ones are deleted with bytes.translate; the others begin
# with \xc2 (U+0080-U+009F) or \xef\xbf (U+FFFE, U+FFFF), and surrogates do not encode.
_ASCII_FORBIDDEN = bytes([*range(0x00, 0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])


def clean_text(value: str) -> str:
    """``value`` without the characters XML 1.0 forbids or asks authors to avoid."""
    if value.isascii():
        # Most titles, names and links: no control character at all. Longer text (content)
        # often has line breaks, where isprintable() stops late and translate() costs less.
        if len(value) < 256 and value.isprintable():
            return value
        kept = value.encode("ascii").translate(None, _ASCII_FORBIDDEN)
        return value if len(kept) == len(value) else kept.decode("ascii")
    try:
        encoded = value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        return _FORBIDDEN.sub("", value)
    if (
        b"\xc2" in encoded
        or b"\xef\xbf" in encoded
        or len(encoded.translate(None, _ASCII_FORBIDDEN)) != len(encoded)
    ):
        return _FORBIDDEN.sub("", value)
    return value


# Bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069): in a title
# or a name they reorder what is around it, so that "evil" can show as "live".
_BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def clean_line(value: str) -> str:
    """A title or a name: :func:`clean_text`, and no bidi controls."""
    cleaned = clean_text(value)
    return cleaned if value.isascii() else _BIDI_CONTROLS.sub("", cleaned)  # bidi: not ASCII
