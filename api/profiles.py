"""Public profiles and follows."""

from __future__ import annotations

from typing import Any

from api import conditional, render
from api.context import caller_id, session, viewer_id
from db import users


def get_profile(username: str) -> conditional.Reply:
    viewer = viewer_id()
    reply = {"profile": render.profile(users.profile(session(), username, viewer))}
    cache = conditional.PUBLIC if viewer is None else conditional.PRIVATE
    return conditional.shown(reply, cache=cache, per_caller=True)


def follow_user(username: str) -> dict[str, Any]:
    s = session()
    followee = users.follow(s, caller_id(), username)
    s.commit()
    return {"profile": render.profile(followee, following=True)}


def unfollow_user(username: str) -> dict[str, Any]:
    s = session()
    followee = users.unfollow(s, caller_id(), username)
    s.commit()
    return {"profile": render.profile(followee, following=False)}
