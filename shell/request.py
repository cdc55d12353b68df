"""The shell's public request API: everything a handler may ask of the request it serves.

Handlers import this module and db/, nothing else of ours (an import-linter contract in
pyproject.toml): what they reach here is settled by the shell before they run (the caller, the
session, the validated body) or shapes what they answer (conditional replies, paging links,
idempotent creates, the errors only HTTP has)."""

from __future__ import annotations

from typing import Any

from flask import request
from sqlalchemy.orm import Session

from shell.authorization import SCOPES, Caller, granted
from shell.conditional import NO_STORE, PRIVATE, PUBLIC, Reply, require_current, shown
from shell.idempotency import idempotent
from shell.paging import Paged, page
from shell.problems import OAuthError, Unauthorized
from shell.state import (
    caller,
    caller_id,
    current_user,
    presented_token,
    refuse_read_only,
    services,
    session,
    viewer,
    viewer_id,
)

__all__ = [
    "NO_STORE",
    "PRIVATE",
    "PUBLIC",
    "SCOPES",
    "Caller",
    "OAuthError",
    "Paged",
    "Reply",
    "Unauthorized",
    "caller",
    "caller_id",
    "committed",
    "current_user",
    "granted",
    "idempotent",
    "page",
    "presented_token",
    "refuse_read_only",
    "require_current",
    "services",
    "session",
    "shown",
    "sibling_url",
    "viewer",
    "viewer_id",
]


def committed(s: Session, reply: dict[str, Any]) -> dict[str, Any]:
    """Commit, then answer with what was read inside the transaction: the reply shows exactly
    what was committed, without a second transaction to read it back."""
    s.commit()
    return reply


def sibling_url(segment: str) -> str:
    """This request's URL with its last path segment replaced by `segment` (already quoted)."""
    return request.base_url.rsplit("/", 1)[0] + "/" + segment
