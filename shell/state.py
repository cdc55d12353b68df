"""What a handler needs besides its arguments: the app's services, the request's database
session and the caller, each settled before the handler runs."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from connexion.context import context as connexion_context
from connexion.context import operation as connexion_operation
from flask import current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db import users
from db.errors import Invalid, NotFound
from db.models import User
from db.session import open_session
from settings import Settings
from shell.authentication import Passwords, Tokens, credentials
from shell.authorization import CONTEXT_KEY, Caller, settle_in_request
from shell.problems import Unauthorized
from shell.ratelimit import RateLimits
from shell.validation import READ_ONLY_KEY

SAFE_METHODS = frozenset({"get", "head", "options"})


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    tokens: Tokens
    passwords: Passwords
    # the handler threads: Flask runs on them, and so does the caller check before validation
    executor: ThreadPoolExecutor
    rate_limits: RateLimits


def services() -> Services:
    found: Services = current_app.extensions["conduit"]
    return found


def require_operation() -> None:
    """Flask routes some paths Connexion's router does not (control characters, say); without
    Connexion's operation context such a request has no handler to run, so it is a 404."""
    try:
        connexion_context.get("user")
    except RuntimeError:
        raise NotFound.on("resource", "not found", "No operation matches this path.") from None


def session() -> Session:
    """The request's session, opened on first use for what the operation does: an operation
    with a safe method only reads, any other may write."""
    if "db" not in g:
        writes = connexion_operation.method.lower() not in SAFE_METHODS
        g.db = open_session(current_app.extensions["sessionmaker"], writes=writes)
    db: Session = g.db
    return db


def settle_caller() -> None:
    """Before every handler: who calls, and whether they may (shell/authorization.py)."""
    settle_in_request(session)


def close_session(_exc: BaseException | None = None) -> None:
    if (s := g.pop("db", None)) is not None:
        s.close()  # anything not committed is rolled back


def caller() -> Caller:
    """The caller, on an operation that requires authentication."""
    found = viewer()
    if found is None:  # pragma: no cover - Connexion refuses such requests before the handler
        raise Unauthorized.on("token", "is missing")
    return found


def viewer() -> Caller | None:
    """The caller on an optional-auth operation, None when anonymous."""
    found: Caller | None = connexion_context.get(CONTEXT_KEY)
    return found


def caller_id() -> int:
    return caller().id


def viewer_id() -> int | None:
    found = viewer()
    return None if found is None else found.id


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
    sent: dict[str, Any] = connexion_context.get(READ_ONLY_KEY) or {}
    if not sent:
        return
    shown = current() if current is not None else {}
    changed = sorted(k for k, v in sent.items() if current is None or shown.get(k) != v)
    if changed:
        raise Invalid(
            {name: ["is read-only"] for name in changed},
            f"Only the server sets {', '.join(changed)}.",
        )
