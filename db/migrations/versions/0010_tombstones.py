"""Tombstones (RFC 6721): where a deleted article's tombstone goes, and why it went.

A deletion already leaves a row in ``removals``. It now also keeps the feeds
the article was in when it was deleted (the site's, its tags', its author's)
in ``removal_selections``, and an optional comment. Deletions made before this
revision had nothing recorded: they get the site's feed, the one feed every
article was in.

Revision ID: 0010
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("removals", sa.Column("comment", sa.Text()))
    op.create_index("ix_removals_uid", "removals", ["uid"])
    op.create_index("ix_removals_removed_at", "removals", ["removed_at"])
    op.create_table(
        "removal_selections",
        sa.Column(
            "removal_pk",
            sa.Integer(),
            sa.ForeignKey("removals.pk", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("kind", sa.String(10), primary_key=True),
        sa.Column("key", sa.String(500), primary_key=True),
    )
    op.create_index(
        "ix_removal_selections_key", "removal_selections", ["kind", "key", "removal_pk"]
    )
    op.execute(
        "INSERT INTO removal_selections (removal_pk, kind, key) "
        "SELECT pk, 'site', '' FROM removals WHERE deleted"
    )


def downgrade() -> None:
    op.drop_table("removal_selections")
    op.drop_index("ix_removals_removed_at", "removals")
    op.drop_index("ix_removals_uid", "removals")
    with op.batch_alter_table("removals") as batch:
        batch.drop_column("comment")
