"""Tags in use."""

from __future__ import annotations

from api import conditional
from api.context import session
from db import articles


def list_tags() -> conditional.Reply:
    reply = {"tags": articles.tags_in_use(session())}
    return conditional.shown(reply, cache=conditional.PUBLIC, per_caller=False)
