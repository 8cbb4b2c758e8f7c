"""Rows another program writes are changes to publish: it may leave out the revision.

An article inserted without a revision gets 0, which the triggers of
db/changes.py (made after every migration, like all triggers) replace with a
new revision of the site, as they do for any row written behind feeder's back.

Revision ID: 0008
Revises: 0010
Create Date: 2026-12-08
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # SQLite rebuilds the table (batch mode); PostgreSQL alters the column in place.
    with op.batch_alter_table("articles") as batch:
        batch.alter_column("revision", existing_type=sa.Integer(), server_default=sa.text("0"))


def downgrade() -> None:
    with op.batch_alter_table("articles") as batch:
        batch.alter_column("revision", existing_type=sa.Integer(), server_default=None)
