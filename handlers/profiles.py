"""Public profiles and follows."""

from __future__ import annotations

from typing import Any

from db import users
from handlers import render
from shell.request import PRIVATE, PUBLIC, Reply, caller_id, session, shown, viewer_id


def get_profile(username: str) -> Reply:
    viewer = viewer_id()
    reply = {"profile": render.profile(users.profile(session(), username, viewer))}
    cache = PUBLIC if viewer is None else PRIVATE
    return shown(reply, cache=cache, per_caller=True)


def follow_user(username: str) -> dict[str, Any]:
    s = session()
    followee = users.follow(s, caller_id(), username)
    return {"profile": render.profile(followee, following=True)}


def unfollow_user(username: str) -> dict[str, Any]:
    s = session()
    followee = users.unfollow(s, caller_id(), username)
    return {"profile": render.profile(followee, following=False)}
