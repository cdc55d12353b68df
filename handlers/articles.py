"""Articles, the global list and the feed."""

from __future__ import annotations

import unicodedata
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from db import articles
from db.articles import Filters
from handlers import render
from shell.request import (
    PRIVATE,
    PUBLIC,
    Paged,
    Reply,
    caller,
    caller_id,
    idempotent,
    page,
    refuse_read_only,
    require_current,
    session,
    shown,
    sibling_url,
    viewer_id,
)


def list_articles(
    limit: int,
    offset: int,
    tag: str | None = None,
    author: str | None = None,
    favorited: str | None = None,
) -> Paged:
    # tags are stored NFC (shell/validation.py): a decomposed spelling finds them too
    tag = unicodedata.normalize("NFC", tag) if tag else tag
    filters = Filters(tag=tag, author=author, favorited=favorited)
    return _page(filters, viewer=viewer_id(), limit=limit, offset=offset)


def list_feed(limit: int, offset: int) -> Paged:
    me = caller_id()
    return _page(Filters(followed_by=me), viewer=me, limit=limit, offset=offset)


def _page(filters: Filters, *, viewer: int | None, limit: int, offset: int) -> Paged:
    rows, total = articles.page(session(), filters, viewer_id=viewer, limit=limit, offset=offset)
    cards = [render.article(row, articles.tag_list(row)) for row in rows]
    return page({"articles": cards, "articlesCount": total}, total, limit=limit, offset=offset)


def get_article(slug: str) -> Reply:
    viewer = viewer_id()
    reply = _article(session(), slug, viewer)
    data, status, headers = shown(
        reply, cache=PUBLIC if viewer is None else PRIVATE, per_caller=True
    )
    current = reply["article"]["slug"]
    if current != slug:
        # asked for by a slug it had before a new title: say where it lives now (RFC 6596)
        headers["Link"] = f'<{sibling_url(quote(current, safe=""))}>; rel="canonical"'
    return data, status, headers


@idempotent
def create_article(body: dict[str, Any]) -> tuple[dict[str, Any], int]:
    """Committed by @idempotent, with the response recorded when the request carries a key."""
    fields = body["article"]
    refuse_read_only()
    me = caller()
    title, description = fields["title"].strip(), fields["description"].strip()
    new = articles.create(
        session(),
        author_id=me.id,
        title=title,
        description=description,
        body=fields["body"],
        tags=fields.get("tagList", []),
    )
    # shown from what was inserted, with no statement to read it back: nobody has favourited
    # it yet, and its author is the caller, who follows no one's own articles
    inserted = SimpleNamespace(
        slug=new.slug,
        title=title,
        description=description,
        body=fields["body"],
        created_at=new.created_at,
        updated_at=new.created_at,
        favorited=False,
        favorites_count=0,
        username=me.username,
        bio=me.bio,
        image=me.image,
        following=False,
    )
    card = render.article(inserted, new.tags, with_body=True)
    return {"article": card}, 201


def update_article(slug: str, body: dict[str, Any]) -> dict[str, Any]:
    s, me = session(), caller_id()
    article = articles.owned_by(s, slug, me, lock=True)
    require_current(lambda: _article(s, slug, me))
    refuse_read_only(lambda: _article(s, slug, me)["article"])
    fields = body["article"]
    changes = {k: fields[k] for k in ("title", "description", "body", "tagList") if k in fields}
    for k in ("title", "description"):
        if k in changes:
            changes[k] = changes[k].strip()
    articles.update(s, article, changes)
    return _article(s, article.slug, me)


def delete_article(slug: str, reason: str | None = None) -> tuple[None, int]:
    s, me = session(), caller()
    article = articles.owned_by(s, slug, me.id, moderating=me.moderates, lock=True)
    require_current(lambda: _article(s, slug, me.id))
    articles.delete_article(s, article, by=me.id, reason=reason)
    return None, 204


def _article(s: Session, slug: str, viewer: int | None) -> dict[str, Any]:
    """The article as the viewer sees it, fresh from the database."""
    row = articles.card(s, slug, viewer_id=viewer)
    return {"article": render.article(row, articles.tag_list(row), with_body=True)}
