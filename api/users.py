"""Registration, login and the current user."""

from __future__ import annotations

from typing import Any

from api import render
from api.context import current_user, services
from db import users
from db.errors import Unauthorized
from db.session import session


def login_user(body: dict[str, Any]) -> dict[str, Any]:
    s, svc = session(), services()
    credentials = body["user"]
    user = users.by_email(s, credentials["email"])
    # verified even for an unknown email, so that both answers look and take the same
    ok = svc.passwords.verify(user.password_hash if user else None, credentials["password"])
    if user is None or not ok:
        raise Unauthorized({"email or password": ["is invalid"]}, "Wrong email or password.")
    if svc.passwords.needs_rehash(user.password_hash):
        user.password_hash = svc.passwords.hash(credentials["password"])
        s.commit()
    return render.user(user, svc.tokens.issue(user.id))


def register_user(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    s, svc = session(), services()
    fields = body["user"]
    user = users.create(
        s,
        username=fields["username"],
        email=fields["email"],
        password_hash=svc.passwords.hash(fields["password"]),
    )
    s.commit()
    return render.user(user, svc.tokens.issue(user.id)), 201


def get_current_user() -> dict[str, Any]:
    me = current_user()
    return render.user(me, services().tokens.issue(me.id))


def update_current_user(body: dict[str, Any]) -> dict[str, Any]:
    s, svc, me = session(), services(), current_user()
    fields = body["user"]
    changes = {k: fields[k] for k in ("email", "username") if k in fields}
    # an empty string clears bio and image like null: what settings forms send
    changes.update({k: fields[k] or None for k in ("bio", "image") if k in fields})
    if "password" in fields:
        changes["password_hash"] = svc.passwords.hash(fields["password"])
    users.update(s, me, changes)
    s.commit()
    return render.user(me, svc.tokens.issue(me.id))
