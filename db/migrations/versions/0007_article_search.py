"""full-text search over articles, on each database's own engine

Title, description, tags and body are searched, weighted in that order. Tags live in their own
table, so every article gets `tags_text`, its tag names joined by spaces in code-point order,
kept current by triggers on `article_tags` (a maintained column: a generated one cannot read
another table). Both databases then index the article's own row:

- PostgreSQL: `search`, a stored generated tsvector of the four parts weighted A to D with
  `setweight` on the `english` configuration, and a GIN index on it. The statement-level
  triggers on `article_tags` update `tags_text` once per article per statement, and only where
  it changed, so a create that already wrote it (db/articles.py `_CREATE`) costs no update.
- SQLite: `articles_fts`, an FTS5 table with the porter tokenizer over `articles` as external
  content, kept current by triggers on `articles` (FTS5 needs the old values to delete a row,
  which a trigger has).

Existing rows are indexed by the upgrade; the downgrade removes it all. A later migration that
rebuilds `articles` on SQLite (batch mode) must recreate these triggers.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_POSTGRESQL_TAGS_TEXT = """
CREATE FUNCTION article_tags_text() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE articles SET tags_text = names.text
    FROM (
        SELECT changed_ids.article_id,
               coalesce(string_agg(tags.name, ' ' ORDER BY tags.name COLLATE "C"), '') AS text
        FROM (SELECT DISTINCT article_id FROM changed) AS changed_ids
        LEFT JOIN article_tags ON article_tags.article_id = changed_ids.article_id
        LEFT JOIN tags ON tags.id = article_tags.tag_id
        GROUP BY changed_ids.article_id
    ) AS names
    WHERE articles.id = names.article_id AND articles.tags_text <> names.text;
    RETURN NULL;
END $$
"""

_POSTGRESQL_SEARCH = """
ALTER TABLE articles ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english', title), 'A')
    || setweight(to_tsvector('english', description), 'B')
    || setweight(to_tsvector('english', tags_text), 'C')
    || setweight(to_tsvector('english', body), 'D')
) STORED
"""

# an article's tag names in code-point order (SQLite 3.40 has no ORDER BY in group_concat; an
# ordered subquery gives its rows in order)
_SQLITE_NAMES = """coalesce((
    SELECT group_concat(name, ' ') FROM (
        SELECT tags.name FROM article_tags JOIN tags ON tags.id = article_tags.tag_id
        WHERE article_tags.article_id = {article} ORDER BY tags.name
    )
), '')"""

_FTS_COLUMNS = "title, description, tags_text, body"
_SQLITE_TRIGGERS = {
    "articles_fts_insert": f"""
        AFTER INSERT ON articles BEGIN
            INSERT INTO articles_fts (rowid, {_FTS_COLUMNS})
            VALUES (new.id, new.title, new.description, new.tags_text, new.body);
        END""",
    "articles_fts_delete": f"""
        AFTER DELETE ON articles BEGIN
            INSERT INTO articles_fts (articles_fts, rowid, {_FTS_COLUMNS})
            VALUES ('delete', old.id, old.title, old.description, old.tags_text, old.body);
        END""",
    "articles_fts_update": f"""
        AFTER UPDATE OF {_FTS_COLUMNS} ON articles BEGIN
            INSERT INTO articles_fts (articles_fts, rowid, {_FTS_COLUMNS})
            VALUES ('delete', old.id, old.title, old.description, old.tags_text, old.body);
            INSERT INTO articles_fts (rowid, {_FTS_COLUMNS})
            VALUES (new.id, new.title, new.description, new.tags_text, new.body);
        END""",
    "article_tags_text_insert": f"""
        AFTER INSERT ON article_tags BEGIN
            UPDATE articles SET tags_text = {_SQLITE_NAMES.format(article="new.article_id")}
            WHERE id = new.article_id;
        END""",
    "article_tags_text_delete": f"""
        AFTER DELETE ON article_tags BEGIN
            UPDATE articles SET tags_text = {_SQLITE_NAMES.format(article="old.article_id")}
            WHERE id = old.article_id;
        END""",
}


def upgrade() -> None:
    op.execute("ALTER TABLE articles ADD COLUMN tags_text TEXT NOT NULL DEFAULT ''")
    if op.get_bind().dialect.name == "postgresql":
        _upgrade_postgresql()
    else:
        _upgrade_sqlite()


def _upgrade_postgresql() -> None:
    op.execute("""
        UPDATE articles SET tags_text = names.text
        FROM (
            SELECT article_tags.article_id,
                   string_agg(tags.name, ' ' ORDER BY tags.name COLLATE "C") AS text
            FROM article_tags JOIN tags ON tags.id = article_tags.tag_id
            GROUP BY article_tags.article_id
        ) AS names
        WHERE articles.id = names.article_id
    """)
    op.execute(_POSTGRESQL_SEARCH)
    op.execute("CREATE INDEX ix_articles_search ON articles USING gin (search)")
    op.execute(_POSTGRESQL_TAGS_TEXT)
    for event, transition in (("INSERT", "NEW"), ("DELETE", "OLD")):
        op.execute(f"""
            CREATE TRIGGER article_tags_text_{event.lower()} AFTER {event} ON article_tags
            REFERENCING {transition} TABLE AS changed
            FOR EACH STATEMENT EXECUTE FUNCTION article_tags_text()
        """)


def _upgrade_sqlite() -> None:
    op.execute(f"UPDATE articles SET tags_text = {_SQLITE_NAMES.format(article='articles.id')}")
    op.execute(f"""
        CREATE VIRTUAL TABLE articles_fts USING fts5(
            {_FTS_COLUMNS}, content='articles', content_rowid='id',
            tokenize='porter unicode61 remove_diacritics 2'
        )
    """)
    op.execute("INSERT INTO articles_fts (articles_fts) VALUES ('rebuild')")
    for name, body in _SQLITE_TRIGGERS.items():
        op.execute(f"CREATE TRIGGER {name} {body}")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for event in ("insert", "delete"):
            op.execute(f"DROP TRIGGER article_tags_text_{event} ON article_tags")
        op.execute("DROP FUNCTION article_tags_text()")
        op.execute("DROP INDEX ix_articles_search")
        op.execute("ALTER TABLE articles DROP COLUMN search")
    else:
        for name in _SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER {name}")
        op.execute("DROP TABLE articles_fts")
    op.execute("ALTER TABLE articles DROP COLUMN tags_text")
