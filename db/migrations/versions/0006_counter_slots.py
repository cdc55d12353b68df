"""the article total in 16 slots: creating articles no longer waits on one row

Every new article added one to the row `articles` of `counters`, and held that row's lock until
its transaction ended, so creates took turns however many clients sent them. On PostgreSQL the
total is now kept in 16 rows (`slot` 0 to 15) and each database session adds to the one its
backend's process id picks, so creates on different connections change different rows;
`articlesCount` is their sum, exact as before. SQLite has one writer at a time: its total stays
in slot 0.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SLOTS = 16  # db/articles.py COUNTER_SLOTS says the same

# the function migration 0002 made; from here on it adds to this session's slot of the total
_COUNT_ARTICLES = """
CREATE OR REPLACE FUNCTION count_articles() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE sign integer := CASE WHEN TG_OP = 'INSERT' THEN 1 ELSE -1 END;
BEGIN
    UPDATE counters SET value = value + sign * (SELECT count(*) FROM changed)
    WHERE {total};
    UPDATE users SET articles_count = users.articles_count + sign * changes.n
    FROM (SELECT author_id, count(*) AS n FROM changed GROUP BY author_id) AS changes
    WHERE users.id = changes.author_id;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.add_column(
        "counters",
        sa.Column("slot", sa.SmallInteger(), server_default=sa.text("0"), nullable=False),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_constraint("pk_counters", "counters", type_="primary")
    op.create_primary_key("pk_counters", "counters", ["name", "slot"])
    op.execute(
        "INSERT INTO counters (name, slot, value)"
        f" SELECT 'articles', slot, 0 FROM generate_series(1, {SLOTS - 1}) AS slot"
    )
    op.execute(
        _COUNT_ARTICLES.format(total=f"name = 'articles' AND slot = pg_backend_pid() % {SLOTS}")
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_COUNT_ARTICLES.format(total="name = 'articles'"))
        op.execute(
            "UPDATE counters SET value = (SELECT sum(value) FROM counters WHERE name = 'articles')"
            " WHERE name = 'articles' AND slot = 0"
        )
        op.execute("DELETE FROM counters WHERE slot <> 0")
        op.drop_constraint("pk_counters", "counters", type_="primary")
        op.create_primary_key("pk_counters", "counters", ["name"])
        op.drop_column("counters", "slot")
    else:
        # SQLite's own DROP COLUMN (3.35): a batch operation would copy the table, which the
        # triggers of migration 0002 name
        op.execute("ALTER TABLE counters DROP COLUMN slot")
