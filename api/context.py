"""What a handler needs besides its arguments: the app's services and the caller."""

from __future__ import annotations

from dataclasses import dataclass

from connexion.context import context as connexion_context
from flask import current_app, g, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Passwords, Tokens
from db import users
from db.errors import NotFound, Unauthorized
from db.models import User
from db.session import session
from settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    tokens: Tokens
    passwords: Passwords


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


def authenticate() -> None:
    """Who is calling, settled once per operation before its handler runs.

    A token that verifies still has to belong to an existing user. On optional-auth operations
    Connexion treats a bad token as anonymous; a request that reached the anonymous alternative
    while carrying credentials had them rejected, so they are checked again here for the reason.
    """
    g.caller = None
    token_info = connexion_context.get("token_info")
    header = request.headers.get("Authorization")
    if token_info == {} and header is not None:
        services().tokens.from_header(header)
        raise Unauthorized.on("token", "is invalid")  # pragma: no cover - from_header raised
    subject = connexion_context.get("user")
    if subject is not None:
        g.caller = users.existing_id(session(), int(subject))
        if g.caller is None:
            raise Unauthorized.on("token", "is invalid", "The token's user no longer exists.")


def caller_id() -> int:
    """The caller's id, on an operation that requires authentication."""
    caller: int | None = g.caller
    if caller is None:  # pragma: no cover - Connexion refuses such requests before the handler
        raise Unauthorized.on("token", "is missing")
    return caller


def current_user() -> User:
    """The caller as a model, for the operations that show or change the account itself."""
    user = users.get(session(), caller_id())
    if user is None:  # pragma: no cover - authenticate() found it in this same request
        raise Unauthorized.on("token", "is invalid", "The token's user no longer exists.")
    return user


def viewer_id() -> int | None:
    """The caller's id on an optional-auth operation, None when anonymous."""
    viewer: int | None = g.caller
    return viewer
