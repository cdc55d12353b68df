"""Tags in use."""

from __future__ import annotations

from db import articles
from shell.request import PUBLIC, Reply, session, shown


def list_tags() -> Reply:
    reply = {"tags": articles.tags_in_use(session())}
    return shown(reply, cache=PUBLIC, per_caller=False)
