"""Articles, the global list and the feed."""

from __future__ import annotations

import unicodedata
from types import SimpleNamespace
from typing import Any
from urllib.parse import quote

from sqlalchemy.orm import Session

from db import articles
from db.articles import Filters, Position
from handlers import render
from shell.request import (
    PRIVATE,
    PUBLIC,
    Paged,
    Reply,
    caller,
    caller_id,
    cursor_after,
    idempotent,
    page,
    position_of,
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
    q: str | None = None,
    cursor: str | None = None,
) -> Paged:
    # tags are stored NFC (shell/validation.py): a decomposed spelling finds them too
    tag = unicodedata.normalize("NFC", tag) if tag else tag
    filters = Filters(tag=tag, author=author, favorited=favorited, q=q)
    return _page("articles", filters, viewer=viewer_id(), limit=limit, offset=offset, cursor=cursor)


def list_feed(limit: int, offset: int, q: str | None = None, cursor: str | None = None) -> Paged:
    me = caller_id()
    filters = Filters(followed_by=me, q=q)  # a feed's cursor is its caller's alone
    return _page("feed", filters, viewer=me, limit=limit, offset=offset, cursor=cursor)


def _page(
    name: str, filters: Filters, *, viewer: int | None, limit: int, offset: int, cursor: str | None
) -> Paged:
    """A page of a list, at an offset or after a cursor's position; `nextCursor` is where the
    next page starts, on either kind of page, and None on the last."""
    binding = {"list": name, **vars(filters)}
    after = position_of(cursor, binding, offset)
    rows, total, more = articles.page(
        session(), filters, viewer_id=viewer, limit=limit, offset=offset, after=after
    )
    next_cursor = cursor_after(binding, Position.of(rows[-1])) if more and rows else None
    cards = [render.article(row, articles.tag_list(row)) for row in rows]
    body = {"articles": cards, "articlesCount": total, "nextCursor": next_cursor}
    return page(
        body,
        total,
        limit=limit,
        offset=offset,
        cursor_mode=after is not None,
        next_cursor=next_cursor,
    )


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
