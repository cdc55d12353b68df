"""What a handler needs besides its arguments: the app's services and the caller."""

from __future__ import annotations

from dataclasses import dataclass

from connexion.context import context as connexion_context
from flask import current_app, request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.auth import Passwords, Tokens
from db import users
from db.errors import Unauthorized
from db.models import User
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


def caller(s: Session, user: str) -> User:
    """The authenticated user's row; a token outliving its user is refused."""
    found = users.get(s, int(user))
    if found is None:
        raise Unauthorized.on("token", "is invalid", "The token's user no longer exists.")
    return found


def viewer_id(user: str | None) -> int | None:
    return int(user) if user else None


def refuse_bad_optional_credentials() -> None:
    """On optional-auth operations Connexion treats a bad token as anonymous; we refuse it.

    Connexion marks the anonymous alternative with empty token info; a request that got there
    while carrying credentials had them rejected, so they are checked again for the reason.
    """
    token_info = connexion_context.get("token_info")
    header = request.headers.get("Authorization")
    if token_info == {} and header is not None:
        services().tokens.from_header(header)
        raise Unauthorized.on("token", "is invalid")  # pragma: no cover - from_header raised
