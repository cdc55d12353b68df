"""every slug an article has had: old URLs keep working

A new title gives an article a new slug; the slugs it had before are kept here, pointing to
it, so links and bookmarks to them keep working, and no other article is given one while it
exists. They go with the article.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "article_slugs",
        sa.Column("slug", sa.String(length=255), nullable=False),
        sa.Column("article_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["article_id"],
            ["articles.id"],
            name=op.f("fk_article_slugs_article_id_articles"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_article_slugs")),
    )
    op.create_index(op.f("ix_article_slugs_article_id"), "article_slugs", ["article_id"])


def downgrade() -> None:
    op.drop_table("article_slugs")
