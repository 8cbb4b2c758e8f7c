"""Remember the settings the output was last fully built with.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # NULL matches no fingerprint: the first build after the upgrade is a full one.
    op.add_column("state", sa.Column("built_settings", sa.String(64)))


def downgrade() -> None:
    with op.batch_alter_table("state") as batch:
        batch.drop_column("built_settings")
