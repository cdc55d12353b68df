"""Administration: users, roles, suspensions and the audit log. Every operation here needs a
scope that only admins have, which shell/authorization.py checks before any of these runs."""

from __future__ import annotations

from typing import Any

from db import audit, users
from handlers import render
from shell.request import Paged, caller_id, page, session


def list_users(limit: int, offset: int, q: str | None = None) -> Paged:
    rows, total = users.listing(session(), prefix=q, limit=limit, offset=offset)
    body = {"users": [render.managed_user(r) for r in rows], "usersCount": total}
    return page(body, total, limit=limit, offset=offset)


def get_user(username: str) -> dict[str, Any]:
    return _shown(username)


def change_role(username: str, body: dict[str, Any]) -> dict[str, Any]:
    s = session()
    users.set_role(s, users.by_username(s, username), body["role"], by=caller_id())
    return _shown(username)


def suspend_user(username: str, body: dict[str, Any]) -> dict[str, Any]:
    s = session()
    users.suspend(s, users.by_username(s, username), body["reason"], by=caller_id())
    return _shown(username)


def reinstate_user(username: str) -> dict[str, Any]:
    s = session()
    users.reinstate(s, users.by_username(s, username), by=caller_id())
    return _shown(username)


def list_audit_log(limit: int, offset: int) -> Paged:
    rows, total = audit.page(session(), limit=limit, offset=offset)
    body = {"entries": [render.audit_entry(r) for r in rows], "entriesCount": total}
    return page(body, total, limit=limit, offset=offset)


def _shown(username: str) -> dict[str, Any]:
    """The user as it is now, read inside the transaction that changed it, if any."""
    return {"user": render.managed_user(users.managed(session(), username))}
