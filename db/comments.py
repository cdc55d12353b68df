"""Comments on articles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, exists, false, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import audit
from db.articles import article_not_found
from db.errors import Forbidden, NotFound
from db.models import Article, Comment, Follow, User


def of_article(s: Session, article: Article, *, viewer_id: int | None) -> Sequence[Any]:
    """All comments of the article with their authors, oldest first: one statement."""
    following: ColumnElement[bool] = false()
    if viewer_id is not None:
        following = exists().where(
            Follow.follower_id == viewer_id, Follow.followee_id == Comment.author_id
        )
    return s.execute(
        select(
            Comment.id,
            Comment.body,
            Comment.created_at,
            Comment.updated_at,
            User.username,
            User.bio,
            User.image,
            following.label("following"),
        )
        .join(User, User.id == Comment.author_id)
        .where(Comment.article_id == article.id)
        .order_by(Comment.created_at, Comment.id)
    ).all()


def create(s: Session, article: Article, *, author_id: int, body: str) -> Comment:
    comment = Comment(article_id=article.id, author_id=author_id, body=body)
    s.add(comment)
    try:
        s.flush()
    except IntegrityError:  # the article was deleted by another transaction meanwhile
        raise article_not_found() from None
    return comment


def delete(
    s: Session,
    article: Article,
    comment_id: int,
    *,
    by: int,
    moderating: bool = False,
    reason: str | None = None,
) -> None:
    """Delete the comment if `by` wrote it, or moderates: that goes into the audit log."""
    # locked: of two deletions at once, the one that waited finds it gone (404)
    comment = s.get(Comment, comment_id, with_for_update=True)
    if comment is None or comment.article_id != article.id:
        raise NotFound({"comment": ["not found"]}, "There is no such comment on this article.")
    if comment.author_id != by and not moderating:
        raise Forbidden({"comment": ["is not yours"]}, "Only its author may delete a comment.")
    s.delete(comment)
    s.flush()
    if comment.author_id != by:
        audit.record(s, actor_id=by, action="comment.delete", target_user_id=comment.author_id,
                     subject=f"comment {comment.id} on {article.slug}", reason=reason)  # fmt: skip
