"""The shell's public request API: everything a handler may ask of the request it serves.

Handlers import this module and db/, nothing else of ours (an import-linter contract in
pyproject.toml). What they reach here was settled by the pipeline before they run (the caller,
the session, the validated body: shell/state.py) or shapes what they answer (conditional
replies, paging links, idempotent creates, the errors only HTTP has). A handler never commits:
the pipeline commits the request's transaction once the handler has returned, and rolls it back
if it raised, so a reply read inside the transaction shows exactly what was committed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from flask import request
from sqlalchemy.orm import Session

from db import users
from db.errors import Invalid
from db.models import User
from shell import state
from shell.authentication import Passwords, Tokens, credentials
from shell.authorization import SCOPES, Caller, granted
from shell.conditional import NO_STORE, PRIVATE, PUBLIC, Reply, require_current, shown
from shell.idempotency import idempotent
from shell.paging import Paged, cursor_after, page, position_of
from shell.problems import OAuthError, Unauthorized
from shell.ratelimit.failures import LoginFailures

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
    "current_user",
    "cursor_after",
    "granted",
    "idempotent",
    "login_failures",
    "page",
    "passwords",
    "position_of",
    "presented_token",
    "refuse_read_only",
    "require_current",
    "session",
    "shown",
    "sibling_url",
    "tokens",
    "viewer",
    "viewer_id",
]


def session() -> Session:
    """The request's database session: it may write unless the method is GET, HEAD or OPTIONS."""
    return state.current().session()


def caller() -> Caller:
    """The caller, on an operation that requires authentication."""
    found = state.current().caller
    if found is None:  # pragma: no cover - the pipeline refuses such requests before the handler
        raise Unauthorized.on("token", "is missing")
    return found


def viewer() -> Caller | None:
    """The caller on an optional-auth operation, None when anonymous."""
    return state.current().caller


def caller_id() -> int:
    return caller().id


def viewer_id() -> int | None:
    found = viewer()
    return None if found is None else found.id


def tokens() -> Tokens:
    return state.current().services.tokens


def passwords() -> Passwords:
    return state.current().services.passwords


def login_failures(login: str) -> LoginFailures:
    """For a login attempt, before its password is checked: 429 once the account or the client
    address has no failed logins left, else what to call when this one fails."""
    served = state.current()
    return served.services.rate_limits.login_failures(login, served.quotas)


def presented_token() -> str:
    """The token the caller authenticated with, as sent (every scheme carries it the same)."""
    return credentials(request.headers.get("Authorization", ""))[1]


def current_user(*, lock: bool = False) -> User:
    """The caller as a model, for the operations that show or change the account itself;
    `lock` for a change, which then takes its turn with any other (db.users.get)."""
    user = users.get(session(), caller_id(), lock=lock)
    if user is None:  # pragma: no cover - deleted between the caller check and now
        raise Unauthorized.on("token", "is invalid", "The token's user no longer exists.")
    return user


def refuse_read_only(current: Callable[[], Mapping[str, Any]] | None = None) -> None:
    """A body may carry back read-only fields (the spec marks them) with the values the client
    was given, as frontends that send a whole object back do; any other value is an attempt to
    set what only the server sets, and is 422. On a create there is nothing yet to send back.
    `current` shows the resource as the client was given it; it is called only when needed."""
    sent = state.current().read_only_sent
    if not sent:
        return
    shown_now = current() if current is not None else {}
    changed = sorted(k for k, v in sent.items() if current is None or shown_now.get(k) != v)
    if changed:
        raise Invalid(
            {name: ["is read-only"] for name in changed},
            f"Only the server sets {', '.join(changed)}.",
        )


def sibling_url(segment: str) -> str:
    """This request's URL with its last path segment replaced by `segment` (already quoted)."""
    return request.base_url.rsplit("/", 1)[0] + "/" + segment
