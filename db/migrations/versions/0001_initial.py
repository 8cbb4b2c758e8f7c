"""Initial schema: articles, authors, tags, removals, state.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "authors",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(500), nullable=False, unique=True),
        sa.Column("email", sa.String(500)),
        sa.Column("uri", sa.String(2000)),
    )
    op.create_table(
        "tags",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("slug", sa.String(200), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
    )
    op.create_table(
        "articles",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("uid", sa.String(2000), nullable=False, unique=True),
        sa.Column("slug", sa.String(200), nullable=False, unique=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("link", sa.String(2000)),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("author_pk", sa.Integer(), sa.ForeignKey("authors.pk", ondelete="SET NULL")),
        sa.Column("published_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
    )
    op.create_index("ix_articles_published", "articles", ["published_at", "pk"])
    op.create_index("ix_articles_revision", "articles", ["revision"])
    op.create_table(
        "article_tags",
        sa.Column(
            "article_pk",
            sa.Integer(),
            sa.ForeignKey("articles.pk", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "tag_pk", sa.Integer(), sa.ForeignKey("tags.pk", ondelete="CASCADE"), primary_key=True
        ),
    )
    op.create_table(
        "removals",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("uid", sa.String(2000), nullable=False),
        sa.Column("slug", sa.String(200), nullable=False),
        sa.Column("removed_at", UTCDateTime(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_removals_revision", "removals", ["revision"])
    op.create_table(
        "state",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("built_revision", sa.Integer(), nullable=False),
        sa.Column("built_at", UTCDateTime()),
        sa.Column("built_until", UTCDateTime()),
        sa.Column("build_seconds", sa.Float()),
        sa.Column("build_result", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_error_at", UTCDateTime()),
        sa.Column("daemon_pid", sa.Integer()),
        sa.Column("daemon_host", sa.String(500)),
        sa.Column("daemon_heartbeat", UTCDateTime()),
    )


def downgrade() -> None:
    for table in ("state", "removals", "article_tags", "articles", "tags", "authors"):
        op.drop_table(table)
