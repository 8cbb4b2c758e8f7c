"""Every write counts: triggers that turn any change to the tables into a change to publish.

feeder's own writes move the site's revision counter once per transaction,
stamp each article they write with the new revision, and leave a removal for
each slug that goes and a selection change for each tag or author an article
left (db.writes). An incremental build reads exactly those. Another program
that writes the tables with plain SQL knows none of this, so these triggers
do it for it, on both backends:

- an article inserted or updated without a new revision gets one (the counter
  moves, and the row carries the new value);
- an article renamed away from a slug leaves a removal for the old slug, a
  deleted one a removal for its slug, so the stale page goes;
- a tag link added, removed or moved, a tag renamed or deleted, an author
  renamed, given another email or uri, or deleted: the articles concerned get
  the new revision, and the tag or author they left a selection change, so
  every feed that showed them is rewritten;
- on PostgreSQL, a TRUNCATE makes the next build a full one (nothing says
  what went).

A row written by feeder (or by a program that does as feeder does: move the
counter, then stamp the rows with its new value in the same transaction) is
left alone, so the triggers cost feeder's bulk imports a comparison per row
on SQLite and a pass over each statement's rows on PostgreSQL, whose
triggers run once per statement and move the counter at most once per
transaction (a transaction that moved it is told by the state row's
``xmin``). SQLite has no statement triggers and no transaction identity: each
row another program changes moves the counter once.

Each move of the counter, by feeder or by anyone, sends one PostgreSQL
``NOTIFY`` on the site's channel (:func:`channel_name`), delivered when the
transaction commits; the daemon listens on it (db.notify). PostgreSQL folds
identical notifications of one transaction into one.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection

__all__ = ["CHANNEL_PREFIX", "channel_name", "ensure", "remove"]

CHANNEL_PREFIX = "feeder_"


def channel_name(database: str, schema: str) -> str:
    """The NOTIFY channel of the site stored in ``schema`` of ``database``.

    The state trigger computes the same name in SQL (md5 is all PostgreSQL has
    built in); it is a name, not a secret. 7 + 24 characters: well under the
    63 an identifier may have.
    """
    digest = hashlib.md5(f"{database}.{schema}".encode(), usedforsecurity=False).hexdigest()
    return CHANNEL_PREFIX + digest[:24]


# -- SQLite ------------------------------------------------------------------------------

# Pieces of the SQLite trigger bodies. A row is "stamped" when its revision is one no
# build has covered yet and the counter has reached: feeder wrote it, or a trigger did.
# Never 0, the default of a row whose writer left the revision out (the counter's
# first move makes 1). What was built is kept per output directory (the outputs table):
# a revision is covered once any of them built it, and one never built has -1.
_BUILT = "(SELECT coalesce(max(built_revision), -1) FROM outputs)"
_STATE = "(SELECT revision FROM state WHERE pk = 1)"
_STAMPED = (
    "EXISTS (SELECT 1 FROM state WHERE pk = 1 "
    f"AND {{rev}} > 0 AND {{rev}} > {_BUILT} AND {{rev}} <= revision)"
)
_MOVE = "UPDATE state SET revision = revision + 1 WHERE pk = 1;"
# The next build is a full one. An author's directory is named after the name, and
# names that make the same slug take their pk: renaming or deleting an author can move
# other authors' directories, which only a full build (which lists them) sets right.
_FULL = "UPDATE outputs SET built_settings = NULL WHERE built_settings IS NOT NULL"
# How feeder stores an instant in SQLite: naive UTC text with microseconds.
_NOW = "strftime('%Y-%m-%d %H:%M:%f', 'now') || '000'"


def _changed(kind: str, key: str) -> str:
    """Record that the ``kind`` ('tag', 'author') named by the expression ``key`` changed."""
    return f"""
        INSERT INTO selection_changes (revision, kind, key)
        SELECT DISTINCT s.revision, '{kind}', k.key
        FROM state s, ({key}) k
        WHERE s.pk = 1 AND k.key IS NOT NULL AND NOT EXISTS (
            SELECT 1 FROM selection_changes c
            WHERE c.revision = s.revision AND c.kind = '{kind}' AND c.key = k.key);"""


# The author an updated article no longer has; the tags a deleted article had.
_AUTHOR_LEFT = _changed(
    "author",
    "SELECT name AS key FROM authors "
    "WHERE pk = OLD.author_pk AND NEW.author_pk IS NOT OLD.author_pk",
)
_TAGS_LEFT = _changed(
    "tag",
    "SELECT t.slug AS key FROM article_tags l JOIN tags t ON t.pk = l.tag_pk "
    "WHERE l.article_pk = OLD.pk",
)

_SQLITE_TRIGGERS = {
    "feeder_articles_inserted": f"""
        AFTER INSERT ON articles
        WHEN NOT {_STAMPED.format(rev="NEW.revision")}
        BEGIN
            {_MOVE}
            UPDATE articles SET revision = {_STATE} WHERE pk = NEW.pk;
        END""",
    "feeder_articles_updated": f"""
        AFTER UPDATE ON articles
        WHEN NOT (NEW.revision > OLD.revision AND {_STAMPED.format(rev="NEW.revision")})
        BEGIN
            {_MOVE}
            INSERT INTO removals (uid, slug, removed_at, revision, deleted)
            SELECT OLD.uid, OLD.slug, {_NOW}, {_STATE}, 0 WHERE NEW.slug IS NOT OLD.slug;
            {_AUTHOR_LEFT}
            UPDATE articles SET revision = {_STATE} WHERE pk = NEW.pk;
        END""",
    # Before: the article's tag links are still there to say which feeds it leaves.
    "feeder_articles_deleted": f"""
        BEFORE DELETE ON articles
        WHEN NOT EXISTS (
            SELECT 1 FROM removals x, state s
            WHERE s.pk = 1 AND x.revision > {_BUILT} AND x.revision <= s.revision
            AND x.uid = OLD.uid AND x.deleted)
        BEGIN
            {_MOVE}
            INSERT INTO removals (uid, slug, removed_at, revision, deleted)
            SELECT OLD.uid, OLD.slug, {_NOW}, {_STATE}, 1;
            {_TAGS_LEFT}
            {_changed("author", "SELECT name AS key FROM authors WHERE pk = OLD.author_pk")}
        END""",
    # ON DELETE CASCADE, for a writer that does not enforce foreign keys (sqlite3's
    # default): the links of a deleted article go, and no tag keeps a feed for it.
    "feeder_articles_unlinked": """
        AFTER DELETE ON articles
        BEGIN
            DELETE FROM article_tags WHERE article_pk = OLD.pk;
        END""",
    "feeder_links_inserted": f"""
        AFTER INSERT ON article_tags
        WHEN NOT EXISTS (
            SELECT 1 FROM articles a, state s
            WHERE a.pk = NEW.article_pk AND s.pk = 1
            AND a.revision > 0 AND a.revision > {_BUILT} AND a.revision <= s.revision)
        BEGIN
            {_MOVE}
            UPDATE articles SET revision = {_STATE} WHERE pk = NEW.article_pk;
        END""",
    # An article that is gone was deleted in this transaction, which recorded its tags.
    "feeder_links_deleted": f"""
        AFTER DELETE ON article_tags
        BEGIN
            UPDATE state SET revision = revision + 1 WHERE pk = 1 AND EXISTS (
                SELECT 1 FROM articles a WHERE a.pk = OLD.article_pk
                AND NOT (a.revision > 0 AND a.revision > {_BUILT}
                         AND a.revision <= state.revision));
            {_changed("tag", "SELECT slug AS key FROM tags WHERE pk = OLD.tag_pk")}
            UPDATE articles SET revision = {_STATE}
            WHERE pk = OLD.article_pk AND NOT {_STAMPED.format(rev="articles.revision")};
        END""",
    "feeder_links_moved": f"""
        AFTER UPDATE OF article_pk, tag_pk ON article_tags
        WHEN OLD.article_pk IS NOT NEW.article_pk OR OLD.tag_pk IS NOT NEW.tag_pk
        BEGIN
            {_MOVE}
            {_changed("tag", "SELECT slug AS key FROM tags WHERE pk = OLD.tag_pk")}
            UPDATE articles SET revision = {_STATE}
            WHERE pk IN (OLD.article_pk, NEW.article_pk);
        END""",
    "feeder_tags_updated": f"""
        AFTER UPDATE OF slug, name ON tags
        WHEN OLD.slug IS NOT NEW.slug OR OLD.name IS NOT NEW.name
        BEGIN
            {_MOVE}
            {_changed("tag", "SELECT OLD.slug AS key WHERE OLD.slug IS NOT NEW.slug")}
            UPDATE articles SET revision = {_STATE}
            WHERE pk IN (SELECT article_pk FROM article_tags WHERE tag_pk = NEW.pk);
        END""",
    # Its links go first, through feeder_links_deleted (which touches their articles
    # and records the tag), whether or not the writer enforces foreign keys.
    "feeder_tags_deleted": """
        BEFORE DELETE ON tags
        BEGIN
            DELETE FROM article_tags WHERE tag_pk = OLD.pk;
        END""",
    # New details alone, with every article of the author already at the counter's
    # revision: feeder stamped them before it wrote the details (db.writes).
    "feeder_authors_updated": f"""
        AFTER UPDATE OF name, email, uri ON authors
        WHEN OLD.name IS NOT NEW.name OR (
            (OLD.email IS NOT NEW.email OR OLD.uri IS NOT NEW.uri)
            AND EXISTS (
                SELECT 1 FROM articles WHERE author_pk = NEW.pk AND revision IS NOT {_STATE}))
        BEGIN
            {_MOVE}
            {_FULL} AND OLD.name IS NOT NEW.name;
            UPDATE articles SET revision = {_STATE} WHERE author_pk = NEW.pk;
        END""",
    # Its articles lose it first (ON DELETE SET NULL, whether or not the writer enforces
    # foreign keys), through feeder_articles_updated.
    "feeder_authors_deleted": f"""
        BEFORE DELETE ON authors
        BEGIN
            {_MOVE}
            {_FULL};
            UPDATE articles SET author_pk = NULL WHERE author_pk = OLD.pk;
        END""",
}


def _sqlite() -> list[str]:
    statements = []
    for name, body in _SQLITE_TRIGGERS.items():
        statements.append(f"DROP TRIGGER IF EXISTS {name}")
        statements.append(f"CREATE TRIGGER {name} {body}")
    return statements


# -- PostgreSQL --------------------------------------------------------------------------

# Each function runs with the site's schema as its search path (set by _postgres()),
# whatever the search path of the program whose write fired it.
_PG_FUNCTIONS = {
    # The revision this transaction moved the counter to; NULL if it has not moved it.
    "feeder_moved_revision": """
        RETURNS integer AS $$
            SELECT revision FROM state
            WHERE pk = 1 AND xmin = pg_current_xact_id_if_assigned()::xid
        $$ LANGUAGE sql""",
    # The revision this transaction writes at: the counter, moved once per transaction.
    "feeder_revision": """
        RETURNS integer AS $$
        DECLARE
            moved integer := feeder_moved_revision();
        BEGIN
            IF moved IS NULL THEN
                UPDATE state SET revision = revision + 1 WHERE pk = 1
                RETURNING revision INTO moved;
            END IF;
            RETURN moved;
        END $$ LANGUAGE plpgsql""",
    # Record that the tags or authors named ``keys`` changed at ``moved`` (once each).
    "feeder_changed(changed_kind text, keys text[], moved integer)": """
        RETURNS void AS $$
            INSERT INTO selection_changes (revision, kind, key)
            SELECT DISTINCT moved, changed_kind, k FROM unnest(keys) AS k
            WHERE k IS NOT NULL AND NOT EXISTS (
                SELECT 1 FROM selection_changes c
                WHERE c.revision = moved AND c.kind = changed_kind AND c.key = k)
        $$ LANGUAGE sql""",
    # Writers take the state row first, as feeder does (it moves the counter before it
    # writes rows): another program's statement would otherwise hold article rows while
    # waiting for the counter that a feeder transaction holds while waiting for them.
    "feeder_lock_state": """
        RETURNS trigger AS $$
        BEGIN
            PERFORM 1 FROM state WHERE pk = 1 FOR UPDATE;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    "feeder_articles_inserted": """
        RETURNS trigger AS $$
        DECLARE
            moved integer := feeder_moved_revision();
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM new_rows WHERE moved IS NULL OR revision <> moved) THEN
                RETURN NULL;  -- none, or stamped by their writer
            END IF;
            moved := feeder_revision();
            UPDATE articles a SET revision = moved
            FROM new_rows n WHERE a.pk = n.pk AND n.revision <> moved;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    "feeder_articles_updated": """
        RETURNS trigger AS $$
        DECLARE
            moved integer := feeder_moved_revision();
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM new_rows WHERE moved IS NULL OR revision <> moved) THEN
                RETURN NULL;  -- none, or stamped by their writer (or by this trigger, just now)
            END IF;
            moved := feeder_revision();
            INSERT INTO removals (uid, slug, removed_at, revision, deleted)
            SELECT o.uid, o.slug, now(), moved, false
            FROM old_rows o JOIN new_rows n ON n.pk = o.pk
            WHERE n.revision <> moved AND n.slug IS DISTINCT FROM o.slug;
            PERFORM feeder_changed('author', ARRAY(
                SELECT au.name FROM old_rows o JOIN new_rows n ON n.pk = o.pk
                JOIN authors au ON au.pk = o.author_pk
                WHERE n.revision <> moved AND n.author_pk IS DISTINCT FROM o.author_pk), moved);
            UPDATE articles a SET revision = moved
            FROM new_rows n WHERE a.pk = n.pk AND n.revision <> moved;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    # Tag links went with the rows (ON DELETE CASCADE), and said which tags they left.
    "feeder_articles_deleted": """
        RETURNS trigger AS $$
        DECLARE
            moved integer := feeder_moved_revision();
        BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM old_rows o WHERE moved IS NULL OR NOT EXISTS (
                    SELECT 1 FROM removals x
                    WHERE x.revision = moved AND x.uid = o.uid AND x.deleted)
            ) THEN
                RETURN NULL;  -- none, or their writer left the removals
            END IF;
            moved := feeder_revision();
            INSERT INTO removals (uid, slug, removed_at, revision, deleted)
            SELECT o.uid, o.slug, now(), moved, true FROM old_rows o
            WHERE NOT EXISTS (
                SELECT 1 FROM removals x WHERE x.revision = moved AND x.uid = o.uid AND x.deleted);
            PERFORM feeder_changed('author', ARRAY(
                SELECT au.name FROM old_rows o JOIN authors au ON au.pk = o.author_pk), moved);
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    "feeder_links_inserted": """
        RETURNS trigger AS $$
        DECLARE
            moved integer := feeder_moved_revision();
        BEGIN
            IF NOT EXISTS (
                SELECT 1 FROM new_rows l JOIN articles a ON a.pk = l.article_pk
                WHERE moved IS NULL OR a.revision <> moved
            ) THEN
                RETURN NULL;  -- none, or links of articles stamped by their writer
            END IF;
            moved := feeder_revision();
            UPDATE articles SET revision = moved
            WHERE pk IN (SELECT article_pk FROM new_rows) AND revision <> moved;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    "feeder_links_deleted": """
        RETURNS trigger AS $$
        DECLARE
            moved integer;
        BEGIN
            IF NOT EXISTS (SELECT 1 FROM old_rows) THEN
                RETURN NULL;
            END IF;
            moved := feeder_revision();
            PERFORM feeder_changed('tag', ARRAY(
                SELECT t.slug FROM old_rows l JOIN tags t ON t.pk = l.tag_pk), moved);
            UPDATE articles SET revision = moved
            WHERE pk IN (SELECT article_pk FROM old_rows) AND revision <> moved;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    "feeder_links_moved": """
        RETURNS trigger AS $$
        DECLARE
            moved integer := feeder_revision();
        BEGIN
            PERFORM feeder_changed(
                'tag', ARRAY(SELECT slug FROM tags WHERE pk = OLD.tag_pk), moved);
            UPDATE articles SET revision = moved
            WHERE pk IN (OLD.article_pk, NEW.article_pk) AND revision <> moved;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    "feeder_tags_updated": """
        RETURNS trigger AS $$
        DECLARE
            moved integer := feeder_revision();
        BEGIN
            IF OLD.slug IS DISTINCT FROM NEW.slug THEN
                PERFORM feeder_changed('tag', ARRAY[OLD.slug::text], moved);
            END IF;
            UPDATE articles SET revision = moved
            WHERE pk IN (SELECT article_pk FROM article_tags WHERE tag_pk = NEW.pk)
            AND revision <> moved;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    "feeder_tags_deleted": """
        RETURNS trigger AS $$
        BEGIN
            PERFORM feeder_changed('tag', ARRAY[OLD.slug::text], feeder_revision());
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    "feeder_authors_updated": """
        RETURNS trigger AS $$
        DECLARE
            moved integer := feeder_revision();
        BEGIN
            IF OLD.name IS DISTINCT FROM NEW.name THEN
                -- Directories follow names: only a full build sets them right (see SQLite).
                UPDATE outputs SET built_settings = NULL;
            END IF;
            UPDATE articles SET revision = moved WHERE author_pk = NEW.pk AND revision <> moved;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    # An author deleted (directories follow names, see SQLite) or a TRUNCATE (nothing
    # says what went): the next build is a full one, which removes what is stale.
    "feeder_full_build": """
        RETURNS trigger AS $$
        BEGIN
            PERFORM feeder_revision();
            UPDATE outputs SET built_settings = NULL;
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
    "feeder_notify": """
        RETURNS trigger AS $$
        BEGIN
            PERFORM pg_notify(
                'feeder_' || left(md5(current_database() || '.' || TG_TABLE_SCHEMA), 24), '');
            RETURN NULL;
        END $$ LANGUAGE plpgsql""",
}

# (trigger, table, when and how); each runs the function of its name, or the one it
# shares with others (_SHARED).
_PG_TRIGGERS = (
    *(
        (
            f"feeder_{table}_lock_state",
            table,
            f"BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} FOR EACH STATEMENT",
        )
        for table in ("articles", "article_tags", "tags", "authors")
    ),
    (
        "feeder_articles_inserted",
        "articles",
        "AFTER INSERT ON articles REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
    ),
    (
        "feeder_articles_updated",
        "articles",
        "AFTER UPDATE ON articles REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows "
        "FOR EACH STATEMENT",
    ),
    (
        "feeder_articles_deleted",
        "articles",
        "AFTER DELETE ON articles REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
    ),
    (
        "feeder_links_inserted",
        "article_tags",
        "AFTER INSERT ON article_tags REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT",
    ),
    (
        "feeder_links_deleted",
        "article_tags",
        "AFTER DELETE ON article_tags REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT",
    ),
    # Row by row, and only when a key moved: the copy of published_at that the
    # published_on_change trigger keeps in article_tags must not come here.
    (
        "feeder_links_moved",
        "article_tags",
        "AFTER UPDATE ON article_tags FOR EACH ROW WHEN "
        "(OLD.article_pk IS DISTINCT FROM NEW.article_pk "
        "OR OLD.tag_pk IS DISTINCT FROM NEW.tag_pk)",
    ),
    (
        "feeder_tags_updated",
        "tags",
        "AFTER UPDATE ON tags FOR EACH ROW WHEN "
        "(OLD.slug IS DISTINCT FROM NEW.slug OR OLD.name IS DISTINCT FROM NEW.name)",
    ),
    ("feeder_tags_deleted", "tags", "AFTER DELETE ON tags FOR EACH ROW"),
    (
        "feeder_authors_updated",
        "authors",
        "AFTER UPDATE ON authors FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name "
        "OR OLD.email IS DISTINCT FROM NEW.email OR OLD.uri IS DISTINCT FROM NEW.uri)",
    ),
    ("feeder_authors_deleted", "authors", "AFTER DELETE ON authors FOR EACH ROW"),
    *(
        (f"feeder_{table}_truncated", table, f"AFTER TRUNCATE ON {table} FOR EACH STATEMENT")
        for table in ("articles", "article_tags", "tags", "authors")
    ),
    (
        "feeder_notify",
        "state",
        "AFTER UPDATE OF revision ON state FOR EACH ROW "
        "WHEN (NEW.revision IS DISTINCT FROM OLD.revision)",
    ),
)


# The functions triggers share, by how the triggers' names end.
_SHARED = {
    "_lock_state": "feeder_lock_state",
    "_truncated": "feeder_full_build",
    "_authors_deleted": "feeder_full_build",
}


def _function_of(trigger: str) -> str:
    for ending, function in _SHARED.items():
        if trigger.endswith(ending):
            return function
    return trigger


def _postgres(schema: str) -> list[str]:
    statements = []
    for name, body in _PG_FUNCTIONS.items():
        returns, _, definition = body.partition(" AS $$")
        signature = name if "(" in name else f"{name}()"
        statements.append(
            f"CREATE OR REPLACE FUNCTION {signature} {returns.strip()} "
            f"SET search_path = {schema} AS $${definition}"
        )
    for name, table, timing in _PG_TRIGGERS:
        statements.append(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        statements.append(f"CREATE TRIGGER {name} {timing} EXECUTE FUNCTION {_function_of(name)}()")
    return statements


def remove(connection: Connection) -> None:
    """Drop the triggers, inside the caller's transaction (a migration runs without them).

    A migration that rewrites rows (filling a new column, say) is no change to
    publish, and on SQLite the triggers would move the counter once per row.
    :func:`ensure` makes them again afterwards.
    """
    if connection.dialect.name == "postgresql":
        found = connection.exec_driver_sql(
            "SELECT t.tgname, c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal"
        ).all()
        wanted = {(name, table) for name, table, _timing in _PG_TRIGGERS}
        quote = connection.dialect.identifier_preparer.quote_identifier
        for name, table in found:
            if (name, table) in wanted:
                connection.exec_driver_sql(f"DROP TRIGGER {quote(name)} ON {quote(table)}")
    else:
        for name in _SQLITE_TRIGGERS:
            connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS {name}")


def ensure(connection: Connection) -> None:
    """Make the triggers (again), inside the caller's transaction."""
    if connection.dialect.name == "postgresql":
        schema = connection.exec_driver_sql("SELECT current_schema()").scalar_one()
        quoted = connection.dialect.identifier_preparer.quote_identifier(str(schema))
        statements = _postgres(quoted)
    else:
        statements = _sqlite()
    for statement in statements:
        connection.exec_driver_sql(statement)
