"""a search reads each match's tsvector from the article's own row (PostgreSQL)

A search ranks every match (`ts_rank_cd` reads its tsvector), so for a common word it reads a
fifth of all articles' vectors. Stored as `extended`, PostgreSQL's default, a row over about 2 kB
moves its largest value, the vector, into the TOAST table, and every ranked match then costs a
TOAST index probe and another page. `main` keeps the vector in the row, compressed if need be,
and moves the body out instead, which lists never read. It applies to rows written from now
on; `VACUUM FULL articles` rewrites the others at once (and locks the table meanwhile).
SQLite keeps its index in FTS5's own tables: nothing changes there.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE articles ALTER COLUMN search SET STORAGE MAIN")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE articles ALTER COLUMN search SET STORAGE EXTENDED")
