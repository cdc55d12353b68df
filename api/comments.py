"""Comments on articles."""

from __future__ import annotations

from typing import Any

from api import render
from api.context import caller, viewer_id
from db import articles, comments
from db.session import session


def list_comments(slug: str, user: str | None = None) -> dict[str, Any]:
    s = session()
    rows = comments.of_article(s, articles.by_slug(s, slug), viewer_id=viewer_id(user))
    return {"comments": [render.comment(row) for row in rows]}


def create_comment(slug: str, body: dict[str, Any], user: str) -> tuple[dict[str, Any], int]:
    s = session()
    article, me = articles.by_slug(s, slug), caller(s, user)
    comment = comments.create(s, article, author_id=me.id, body=body["comment"]["body"])
    s.commit()
    # the author is the caller, who cannot follow themselves
    return {"comment": render.comment(comment, author=me, following=False)}, 201


def delete_comment(slug: str, id_: int, user: str) -> tuple[None, int]:
    s = session()
    comments.delete_owned(s, articles.by_slug(s, slug), id_, user_id=int(user))
    s.commit()
    return None, 204
