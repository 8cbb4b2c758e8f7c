"""Remember what each WebSub hub was told about each feed, and what it is still owed.

A build that changes a feed pings the site's hubs; a ping the hub has not taken
yet (it failed, or the process ended first) stays owed here until a later build
sends it. ``feeder status`` shows the last success and failure per hub.

Revision ID: 0009
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0009"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "websub_pings",
        sa.Column("hub", sa.String(2000), primary_key=True),
        sa.Column("topic", sa.String(2000), primary_key=True),
        sa.Column("owed_since", UTCDateTime()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_attempt_at", UTCDateTime()),
        sa.Column("last_ok_at", UTCDateTime()),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_error_at", UTCDateTime()),
    )


def downgrade() -> None:
    op.drop_table("websub_pings")
