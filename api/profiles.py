"""Public profiles and follows."""

from __future__ import annotations

from typing import Any

from api import render
from api.context import caller_id, session, viewer_id
from db import users


def get_profile(username: str) -> dict[str, Any]:
    return {"profile": render.profile(users.profile(session(), username, viewer_id()))}


def follow_user(username: str) -> dict[str, Any]:
    s = session()
    followee = users.by_username(s, username)
    users.follow(s, caller_id(), followee)
    s.commit()
    return {"profile": render.profile(followee, following=True)}


def unfollow_user(username: str) -> dict[str, Any]:
    s = session()
    followee = users.by_username(s, username)
    users.unfollow(s, caller_id(), followee)
    s.commit()
    return {"profile": render.profile(followee, following=False)}
