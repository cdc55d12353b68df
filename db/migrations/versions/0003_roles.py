"""roles, suspension, token generations and the audit log

Every user has a role (`user`, `moderator` or `admin`; existing users become `user`) and a
status (`active` or `suspended`). `token_generation` is carried by every token and raised to
revoke them all at once. `audit_log` records moderation and administration actions.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# (column, its type and default, a check on its values or None); added in place on both databases:
# SQLite's ADD COLUMN takes a CHECK, where rebuilding the table (batch mode) would drop it, and
# with it, through ON DELETE CASCADE, every article, comment and follow
_COLUMNS = [
    ("role", "VARCHAR(16) NOT NULL DEFAULT 'user'", "role IN ('user', 'moderator', 'admin')"),
    ("status", "VARCHAR(16) NOT NULL DEFAULT 'active'", "status IN ('active', 'suspended')"),
    ("suspension_reason", "VARCHAR(500)", None),
    ("token_generation", "INTEGER NOT NULL DEFAULT 0", None),
]


def upgrade() -> None:
    for column, kind, check in _COLUMNS:
        constraint = f" CONSTRAINT ck_users_{column} CHECK ({check})" if check else ""
        op.execute(f"ALTER TABLE users ADD COLUMN {column} {kind}{constraint}")
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Integer(), nullable=True),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("target_user_id", sa.Integer(), nullable=True),
        sa.Column("subject", sa.String(500), nullable=True),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["users.id"],
            name=op.f("fk_audit_log_actor_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["target_user_id"],
            ["users.id"],
            name=op.f("fk_audit_log_target_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_created_at_id"), "audit_log", ["created_at", "id"])
    op.create_index(op.f("ix_audit_log_actor_id"), "audit_log", ["actor_id"])
    op.create_index(op.f("ix_audit_log_target_user_id"), "audit_log", ["target_user_id"])


def downgrade() -> None:
    op.drop_table("audit_log")
    # each CHECK was given with its column, so it goes with it on SQLite too
    for column, *_ in reversed(_COLUMNS):
        op.execute(f"ALTER TABLE users DROP COLUMN {column}")
