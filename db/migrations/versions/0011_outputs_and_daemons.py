"""Several daemons on one database: build state per output directory, a row per daemon.

The state row kept what *the* publisher built and *the* daemon's heartbeat, so
every write (which bumps ``state.revision``) and every heartbeat updated one
row, and a second output directory had nowhere to keep what it got. Now
``outputs`` holds, per output directory, what it was last built with and which
build writes it at the moment, and ``daemons`` holds one row per ``feeder run``.

What the state row said was built belongs to a directory that cannot be named
here (its identity file is made on its next build), so every output directory
gets one full build after this upgrade.

Revision ID: 0011
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0011"
down_revision = "0008"
branch_labels = None
depends_on = None

_STATE_COLUMNS = (
    ("built_revision", sa.Integer(), False),
    ("built_at", UTCDateTime(), True),
    ("built_until", UTCDateTime(), True),
    ("built_settings", sa.String(64), True),
    ("build_seconds", sa.Float(), True),
    ("build_result", sa.Text(), True),
    ("last_error", sa.Text(), True),
    ("last_error_at", UTCDateTime(), True),
    ("daemon_pid", sa.Integer(), True),
    ("daemon_host", sa.String(500), True),
    ("daemon_heartbeat", UTCDateTime(), True),
)


def upgrade() -> None:
    op.create_table(
        "outputs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("path", sa.String(2000)),
        sa.Column("host", sa.String(255)),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("seen_at", UTCDateTime(), nullable=False),
        sa.Column("built_revision", sa.Integer(), nullable=False),
        sa.Column("built_at", UTCDateTime()),
        sa.Column("built_until", UTCDateTime()),
        sa.Column("built_settings", sa.String(64)),
        sa.Column("build_seconds", sa.Float()),
        sa.Column("build_result", sa.Text()),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_error_at", UTCDateTime()),
        sa.Column("writer", sa.String(500)),
        sa.Column("writer_token", sa.String(64)),
        sa.Column("writing_since", UTCDateTime()),
    )
    op.create_table(
        "daemons",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("output_id", sa.String(64)),
        sa.Column("output_dir", sa.String(2000), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(10), nullable=False),
        sa.Column("version", sa.String(40), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("heartbeat", UTCDateTime(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_error_at", UTCDateTime()),
    )
    with op.batch_alter_table("state") as batch:
        for name, _type, _nullable in _STATE_COLUMNS:
            batch.drop_column(name)


def downgrade() -> None:
    with op.batch_alter_table("state") as batch:
        for name, type_, nullable in _STATE_COLUMNS:
            batch.add_column(
                sa.Column(name, type_, nullable=nullable, server_default=None if nullable else "-1")
            )
    op.drop_table("daemons")
    op.drop_table("outputs")
