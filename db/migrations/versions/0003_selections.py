"""Index every selection: articles by author, and by tag through article_tags.

article_tags gets a copy of its article's publication instant, kept equal
by the triggers of db/triggers.py whoever writes (feeder, or another program).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from db.types import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("article_tags", sa.Column("published_at", UTCDateTime()))
    op.execute(
        "UPDATE article_tags SET published_at = "
        "(SELECT published_at FROM articles WHERE articles.pk = article_tags.article_pk)"
    )
    op.create_index(
        "ix_article_tags_published", "article_tags", ["tag_pk", "published_at", "article_pk"]
    )
    op.create_index("ix_articles_author_published", "articles", ["author_pk", "published_at", "pk"])
    # The triggers that keep the copy equal are (re)made after every upgrade: db/triggers.py.


def downgrade() -> None:
    op.drop_index("ix_articles_author_published", "articles")
    op.drop_index("ix_article_tags_published", "article_tags")
    with op.batch_alter_table("article_tags") as batch:
        batch.drop_column("published_at")
