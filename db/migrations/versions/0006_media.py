"""Media files of articles (enclosures, transcripts, chapters), episode fields, podcast guids.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "article_media",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column(
            "article_pk",
            sa.Integer(),
            sa.ForeignKey("articles.pk", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(2000)),
        sa.Column("file", sa.String(300)),
        sa.Column("media_type", sa.String(255), nullable=False),
        sa.Column("length", sa.BigInteger()),
    )
    op.create_index(
        "ix_article_media_article",
        "article_media",
        ["article_pk", "role", "position"],
        unique=True,
    )
    op.create_table(
        "article_episodes",
        sa.Column(
            "article_pk",
            sa.Integer(),
            sa.ForeignKey("articles.pk", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("duration", sa.Integer()),
        sa.Column("number", sa.Integer()),
        sa.Column("season", sa.Integer()),
        sa.Column("episode_type", sa.String(20)),
    )
    op.create_table(
        "podcast_guids",
        sa.Column("path", sa.String(500), primary_key=True),
        sa.Column("guid", sa.String(36), nullable=False),
        sa.Column("seed", sa.String(2000), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    for table in ("podcast_guids", "article_episodes", "article_media"):
        op.drop_table(table)
