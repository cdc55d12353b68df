"""The audit log: every moderation and administration action, newest first."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from db.models import AuditEntry, User

ACTIONS = ("article.delete", "comment.delete", "user.role", "user.suspend", "user.reinstate")


def record(
    s: Session,
    *,
    actor_id: int | None,
    action: str,
    target_user_id: int | None,
    subject: str | None = None,
    reason: str | None = None,
) -> None:
    assert action in ACTIONS, action
    s.add(
        AuditEntry(
            actor_id=actor_id,
            action=action,
            target_user_id=target_user_id,
            subject=subject,
            reason=reason,
        )
    )
    s.flush()


def page(s: Session, *, limit: int, offset: int) -> tuple[Sequence[Any], int]:
    """One page of entries, newest first, with the usernames of actor and target: two statements."""
    actor, target = aliased(User), aliased(User)
    rows = s.execute(
        select(
            AuditEntry.id,
            AuditEntry.created_at,
            AuditEntry.action,
            AuditEntry.subject,
            AuditEntry.reason,
            actor.username.label("actor"),
            target.username.label("target"),
        )
        .outerjoin(actor, actor.id == AuditEntry.actor_id)
        .outerjoin(target, target.id == AuditEntry.target_user_id)
        .order_by(AuditEntry.created_at.desc(), AuditEntry.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    total = s.scalar(select(func.count()).select_from(AuditEntry)) or 0
    return rows, total
