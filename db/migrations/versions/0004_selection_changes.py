"""Remember which tags and authors a write took articles away from.

An incremental build rewrites the feeds of every selection a change touched:
the tags and author an article has now are in its row, the ones it lost
(a tag removed, another author, a deletion) are here.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "selection_changes",
        sa.Column("pk", sa.Integer(), primary_key=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(10), nullable=False),
        sa.Column("key", sa.String(500), nullable=False),
    )
    op.create_index("ix_selection_changes_revision", "selection_changes", ["revision"])


def downgrade() -> None:
    op.drop_table("selection_changes")
