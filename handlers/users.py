"""Registration, login and the current user."""

from __future__ import annotations

from typing import Any

from db import users
from db.models import User
from handlers import render
from shell.request import (
    NO_STORE,
    Reply,
    Unauthorized,
    current_user,
    login_failures,
    passwords,
    presented_token,
    refuse_read_only,
    require_current,
    session,
    shown,
    tokens,
)

# every answer here carries a token, which no cache may keep
TOKEN_HEADERS = {"Cache-Control": NO_STORE}


def login_user(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    s, hashing = session(), passwords()
    credentials = body["user"]
    failures = login_failures(credentials["email"])  # 429 before guessing
    user = users.by_email(s, credentials["email"])
    # verified even for an unknown email, so that both answers look and take the same
    ok = hashing.verify(user.password_hash if user else None, credentials["password"])
    if user is None or not ok:
        failures.count()
        raise Unauthorized({"email or password": ["is invalid"]}, "Wrong email or password.")
    # only with the right password: a wrong one gets the same answer for every account
    if user.status != "active":
        raise users.account_suspended()
    if hashing.needs_rehash(user.password_hash):
        user.password_hash = hashing.hash(credentials["password"])
    return _shown(user), 200, TOKEN_HEADERS


def register_user(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    s = session()
    fields = body["user"]
    refuse_read_only()
    user = users.create(
        s,
        username=fields["username"],
        email=fields["email"],
        password_hash=passwords().hash(fields["password"]),
    )
    return _shown(user), 201, TOKEN_HEADERS


def get_current_user() -> Reply:
    # the token the caller sent, not a new one: the answer (and its ETag) stays the same until
    # the account changes, and a token narrowed to some scopes is not widened by asking
    reply = render.user(current_user(), presented_token())
    return shown(reply, cache=NO_STORE, per_caller=True)


def update_current_user(body: dict[str, Any]) -> tuple[dict[str, Any], int, dict[str, str]]:
    s = session()
    fields = body["user"]

    def refuse_stale(me: User) -> None:
        require_current(lambda: render.user(me, presented_token()))
        refuse_read_only(lambda: render.user(me, token="")["user"])

    refuse_stale(current_user())  # before any hashing: a refusal costs nothing
    changes = {k: fields[k] for k in ("email", "username") if k in fields}
    # an empty string clears bio and image like null: what settings forms send
    changes.update({k: fields[k] or None for k in ("bio", "image") if k in fields})
    if "password" in fields:
        # hashed before the account is locked, which then stays locked for milliseconds
        changes["password_hash"] = passwords().hash(fields["password"])
    # locked and read again: of two conditional edits at once, the second sees the first's
    me = current_user(lock=True)
    refuse_stale(me)
    users.update(s, me, changes)
    if "password" in fields:
        users.revoke_tokens(s, me)  # the reply carries a token of the new generation
        return _shown(me), 200, TOKEN_HEADERS
    return render.user(me, presented_token()), 200, TOKEN_HEADERS


def logout_everywhere() -> tuple[None, int]:
    s, me = session(), current_user()
    users.revoke_tokens(s, me)
    return None, 204


def _shown(user: User) -> dict[str, Any]:
    """The user with a fresh token of their current generation."""
    return render.user(user, tokens().issue(user.id, user.token_generation))
