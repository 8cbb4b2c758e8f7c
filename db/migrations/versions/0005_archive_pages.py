"""Archive pages: where each selection's pages end, and where changed articles were.

A selection's archive is numbered from its oldest article, in the order of its
index (published_at, pk). A page that filled up keeps its last key for good, so
page n always covers the same range of keys, whatever is added, edited or deleted
later. ``last_published_at`` is stored exactly as the article's ``published_at``
is (copied, never converted), so comparing it with the index is exact.

A row with no last key marks the open page: its archive is published.

``selection_changes`` learns where an article was before a write moved it
(another publication instant, a tag or author it left, a deletion), so that an
incremental build rewrites the archive page it left.

Revision ID: 0005
Revises: 0009
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0005"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_pages",
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("key", sa.String(500), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("last_published_at", UTCDateTime(), nullable=True),
        sa.Column("last_pk", sa.Integer(), nullable=True),
    )
    op.add_column("selection_changes", sa.Column("published_at", UTCDateTime(), nullable=True))
    op.add_column("selection_changes", sa.Column("article_pk", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("selection_changes") as batch:
        batch.drop_column("article_pk")
        batch.drop_column("published_at")
    op.drop_table("archive_pages")
