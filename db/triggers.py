"""Triggers that keep copies of a value equal, whoever writes the rows.

``article_tags.published_at`` copies its article's publication instant, so
that a tag's newest articles are one range of an index. feeder writes both,
but another program may not: a link inserted without the instant gets it, and
an article whose instant changes updates its links.

The triggers that make every write to the tables a change to publish are in
db.changes; :func:`ensure` makes both sets.

They are made again after every migration (:func:`ensure`), not by one: on
SQLite, rebuilding a table (Alembic's batch mode) drops the triggers on it.
PostgreSQL trigger functions run with the site's schema as their search path,
so that a program writing the tables under another search path (naming them
``schema.articles``) finds the tables they use.
"""

from __future__ import annotations

from sqlalchemy import Connection

from db import changes

__all__ = ["ensure"]

_SQLITE = (
    "DROP TRIGGER IF EXISTS article_tags_published_on_link",
    """
    CREATE TRIGGER article_tags_published_on_link AFTER INSERT ON article_tags
    WHEN NEW.published_at IS NULL
    BEGIN
        UPDATE article_tags SET published_at =
            (SELECT published_at FROM articles WHERE pk = NEW.article_pk)
        WHERE article_pk = NEW.article_pk AND tag_pk = NEW.tag_pk;
    END
    """,
    "DROP TRIGGER IF EXISTS article_tags_published_on_change",
    """
    CREATE TRIGGER article_tags_published_on_change AFTER UPDATE OF published_at ON articles
    WHEN NEW.published_at IS NOT OLD.published_at
    BEGIN
        UPDATE article_tags SET published_at = NEW.published_at WHERE article_pk = NEW.pk;
    END
    """,
)

_POSTGRES = (
    """
    CREATE OR REPLACE FUNCTION feeder_link_published() RETURNS trigger AS $$
    BEGIN
        NEW.published_at := (SELECT published_at FROM articles WHERE pk = NEW.article_pk);
        RETURN NEW;
    END $$ LANGUAGE plpgsql SET search_path = {schema}
    """,
    "DROP TRIGGER IF EXISTS article_tags_published_on_link ON article_tags",
    """
    CREATE TRIGGER article_tags_published_on_link BEFORE INSERT ON article_tags
    FOR EACH ROW WHEN (NEW.published_at IS NULL) EXECUTE FUNCTION feeder_link_published()
    """,
    """
    CREATE OR REPLACE FUNCTION feeder_article_published() RETURNS trigger AS $$
    BEGIN
        UPDATE article_tags SET published_at = NEW.published_at WHERE article_pk = NEW.pk;
        RETURN NEW;
    END $$ LANGUAGE plpgsql SET search_path = {schema}
    """,
    "DROP TRIGGER IF EXISTS article_tags_published_on_change ON articles",
    """
    CREATE TRIGGER article_tags_published_on_change AFTER UPDATE OF published_at ON articles
    FOR EACH ROW WHEN (NEW.published_at IS DISTINCT FROM OLD.published_at)
    EXECUTE FUNCTION feeder_article_published()
    """,
)


def ensure(connection: Connection) -> None:
    """Make the triggers (again), inside the caller's transaction."""
    if connection.dialect.name == "postgresql":
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
        quoted = connection.dialect.identifier_preparer.quote_identifier(str(schema))
        statements = [statement.replace("{schema}", quoted) for statement in _POSTGRES]
    else:
        statements = list(_SQLITE)
    for statement in statements:
        connection.exec_driver_sql(statement)
    changes.ensure(connection)
