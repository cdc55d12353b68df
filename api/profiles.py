"""Public profiles and follows."""

from __future__ import annotations

from typing import Any

from api import render
from api.context import caller, viewer_id
from db import users
from db.session import session


def get_profile(username: str, user: str | None = None) -> dict[str, Any]:
    s = session()
    found = users.by_username(s, username)
    following = users.is_following(s, viewer_id(user), found.id)
    return {"profile": render.profile(found, following=following)}


def follow_user(username: str, user: str) -> dict[str, Any]:
    s = session()
    me, followee = caller(s, user), users.by_username(s, username)
    users.follow(s, me.id, followee)
    s.commit()
    return {"profile": render.profile(followee, following=True)}


def unfollow_user(username: str, user: str) -> dict[str, Any]:
    s = session()
    me, followee = caller(s, user), users.by_username(s, username)
    users.unfollow(s, me.id, followee)
    s.commit()
    return {"profile": render.profile(followee, following=False)}
