"""Comments on articles."""

from __future__ import annotations

from typing import Any

from db import articles, comments
from handlers import render
from shell.request import (
    PRIVATE,
    PUBLIC,
    Reply,
    caller,
    idempotent,
    refuse_read_only,
    session,
    shown,
    viewer_id,
)


def list_comments(slug: str) -> Reply:
    s, viewer = session(), viewer_id()
    rows = comments.of_article(s, articles.by_slug(s, slug), viewer_id=viewer)
    reply = {"comments": [render.comment(row) for row in rows]}
    cache = PUBLIC if viewer is None else PRIVATE
    return shown(reply, cache=cache, per_caller=True)


@idempotent
def create_comment(slug: str, body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Committed by @idempotent, with the response recorded when the request carries a key."""
    me = caller()
    refuse_read_only()
    comment = comments.create(session(), slug, author_id=me.id, body=body["comment"]["body"])
    # the author is the caller, who cannot follow themselves
    return {"comment": render.comment(comment, author=me, following=False)}, 201


def delete_comment(slug: str, id_: int, reason: str | None = None) -> tuple[None, int]:
    s, me = session(), caller()
    article = articles.by_slug(s, slug)
    comments.delete(s, article, id_, by=me.id, moderating=me.moderates, reason=reason)
    return None, 204
