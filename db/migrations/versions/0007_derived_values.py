"""Store what an article's content gives, so that builds stop recomputing it per page.

``articles.word_count`` is the number of words in the content's visible text,
``articles.content_hash`` the hash of the content it was counted from: a
count is used only while the hash still matches the content, so a row whose
content another program changed is counted again when it is published.
``articles.content_seal`` says that feeder's sanitiser wrote the content
(keyed with ``state.seal_key``); only feeder's write path makes seals, so
rows that exist before this migration have none and keep being sanitised
when published, as before.

Existing rows are counted here, a thousand at a time in primary-key order, so
that memory stays flat however many there are. The counting rule is a frozen
copy of feeder._content.word_count as of this revision (a migration must not
change meaning when that module changes later; tests/test_derived.py checks
that the two agree).

Revision ID: 0007
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

import hashlib
import re
import secrets
from html import unescape

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0011"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.add_column("articles", sa.Column("word_count", sa.Integer()))
    op.add_column("articles", sa.Column("content_hash", sa.String(32)))
    op.add_column("articles", sa.Column("content_seal", sa.String(32)))
    op.add_column("state", sa.Column("seal_key", sa.String(64)))
    connection = op.get_bind()
    connection.execute(
        sa.text("UPDATE state SET seal_key = :key WHERE seal_key IS NULL"),
        {"key": secrets.token_hex(32)},
    )
    select = sa.text("SELECT pk, content FROM articles WHERE pk > :last ORDER BY pk LIMIT :n")
    update = sa.text("UPDATE articles SET word_count = :words, content_hash = :hash WHERE pk = :pk")
    last = -(2**63)
    while rows := connection.execute(select, {"last": last, "n": BATCH}).all():
        counted = [
            {"pk": pk, "words": count_words(content), "hash": content_hash(content)}
            for pk, content in rows
            if isinstance(content, str)  # a BLOB another program stored is never published
        ]
        if counted:
            connection.execute(update, counted)
        last = rows[-1][0]


def downgrade() -> None:
    with op.batch_alter_table("state") as batch:
        batch.drop_column("seal_key")
    with op.batch_alter_table("articles") as batch:
        batch.drop_column("content_seal")
        batch.drop_column("content_hash")
        batch.drop_column("word_count")


# -- frozen copies of feeder's rules (feeder/_derived.py, feeder/_content.py) --------


def content_hash(content: str) -> str:
    return hashlib.blake2b(content.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")
_BLOCKS = frozenset(
    [
        *("p", "div", "br", "li", "ul", "ol", "h1", "h2", "h3", "h4", "h5", "h6", "pre"),
        *("blockquote", "table", "tr", "td", "th", "section", "article", "header"),
        *("footer", "figure", "figcaption", "hr"),
    ]
)
_SKIPPED = ("script", "style")
_MARKUP = re.compile(
    r"""<!--.*?(?:-->|\Z)
      | <[!?][^>]*>?
      | <(/?)([a-zA-Z][^\s/>]*)
        (?:[^>"']|"[^"]*"|'[^']*')*>
    """,
    re.DOTALL | re.VERBOSE,
)
_WITHOUT_SPACES = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_WORDS = re.compile(f"[{_WITHOUT_SPACES}]|[^\\s{_WITHOUT_SPACES}]+")


def _paragraphs(html: str) -> list[str]:
    paragraphs: list[str] = []
    current: list[str] = []

    def close_block() -> None:
        for block in "".join(current).split("\n\n"):
            if paragraph := " ".join(block.split()):
                paragraphs.append(paragraph)
        current.clear()

    position = 0
    for match in _MARKUP.finditer(html):
        start = match.start()
        if start < position:
            continue
        if start > position:
            current.append(unescape(html[position:start]))
        position = match.end()
        name = match.group(2)
        if name is None:
            continue
        name = name.lower()
        if name in _SKIPPED and not match.group(1):
            end = re.compile(rf"</{name}\s*>", re.IGNORECASE).search(html, position)
            position = end.end() if end else len(html)
        elif name in _BLOCKS:
            close_block()
    if position < len(html):
        current.append(unescape(html[position:]))
    close_block()
    return paragraphs


def count_words(html: str) -> int:
    """Words in the visible text of ``html``, as its page shows them."""
    text = "\n\n".join(_paragraphs(_FORBIDDEN.sub("", html)))
    if text.isascii():
        return len(text.split())
    return len(_WORDS.findall(text))
