"""counters kept by triggers: articles in all, per author, per tag; favourites per user

A page's `articlesCount` must be exact, and counting 100,000 rows on every request costs more
than the page itself. The database keeps the counts, in the same transaction as the rows they
count, whatever path changes them (ON DELETE CASCADE included): statement-level triggers with
transition tables on PostgreSQL (a bulk insert updates each counter once), row triggers on
SQLite.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (counted table, its key, the table holding the count, the count column)
_COUNTED = [
    ("articles", "author_id", "users", "articles_count"),
    ("article_tags", "tag_id", "tags", "articles_count"),
    ("favorites", "user_id", "users", "favorites_count"),
]

_BACKFILL = [
    "UPDATE users SET articles_count ="
    " (SELECT count(*) FROM articles WHERE articles.author_id = users.id)",
    "UPDATE users SET favorites_count ="
    " (SELECT count(*) FROM favorites WHERE favorites.user_id = users.id)",
    "UPDATE tags SET articles_count ="
    " (SELECT count(*) FROM article_tags WHERE article_tags.tag_id = tags.id)",
    "INSERT INTO counters (name, value) SELECT 'articles', count(*) FROM articles",
]


def upgrade() -> None:
    for table, column in (
        ("users", "articles_count"),
        ("users", "favorites_count"),
        ("tags", "articles_count"),
    ):
        op.add_column(
            table, sa.Column(column, sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
    op.create_table(
        "counters",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_counters")),
    )
    for statement in _BACKFILL:
        op.execute(statement)
    if op.get_bind().dialect.name == "postgresql":
        _postgresql_triggers()
    else:
        _sqlite_triggers()


def _postgresql_triggers() -> None:
    for table, key, owner, column in _COUNTED:
        total = ""
        if table == "articles":
            # the total first: every transaction that changes several counters locks this row
            # before the others, so two of them cannot deadlock
            total = (
                "UPDATE counters SET value = value + sign * (SELECT count(*) FROM changed)"
                " WHERE name = 'articles';"
            )
        op.execute(f"""
            CREATE FUNCTION count_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
            DECLARE sign integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
            BEGIN
                {total}
                UPDATE {owner} SET {column} = {owner}.{column} + sign * changes.n
                FROM (SELECT {key}, count(*) AS n FROM changed GROUP BY {key}) AS changes
                WHERE {owner}.id = changes.{key};
                RETURN NULL;
            END $$
        """)
        for event, transition in (("INSERT", "NEW"), ("DELETE", "OLD")):
            op.execute(f"""
                CREATE TRIGGER count_{table}_{event.lower()} AFTER {event} ON {table}
                REFERENCING {transition} TABLE AS changed
                FOR EACH STATEMENT EXECUTE FUNCTION count_{table}()
            """)


def _sqlite_triggers() -> None:
    for table, key, owner, column in _COUNTED:
        for event, row, sign in (("INSERT", "NEW", "+"), ("DELETE", "OLD", "-")):
            total = ""
            if table == "articles":
                total = f"UPDATE counters SET value = value {sign} 1 WHERE name = 'articles';"
            op.execute(f"""
                CREATE TRIGGER count_{table}_{event.lower()} AFTER {event} ON {table}
                BEGIN
                    {total}
                    UPDATE {owner} SET {column} = {column} {sign} 1 WHERE id = {row}.{key};
                END
            """)


def downgrade() -> None:
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, *_ in _COUNTED:
        for event in ("insert", "delete"):
            on = f" ON {table}" if postgresql else ""
            op.execute(f"DROP TRIGGER count_{table}_{event}{on}")
        if postgresql:
            op.execute(f"DROP FUNCTION count_{table}()")
    op.drop_table("counters")
    op.drop_column("tags", "articles_count")
    op.drop_column("users", "favorites_count")
    op.drop_column("users", "articles_count")
