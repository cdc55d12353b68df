"""Comments on articles."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Row, bindparam, exists, false, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import audit
from db.articles import article_not_found, id_by_slug
from db.errors import Forbidden, NotFound
from db.models import Article, Comment, Follow, User, utcnow


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


def _add() -> Any:
    moment = Comment.created_at.type
    chosen = select(
        bindparam("body", type_=Comment.body.type),
        Article.id,
        bindparam("author", type_=Comment.author_id.type),
        bindparam("created", type_=moment),
        bindparam("updated", type_=moment),
    ).where(Article.id == id_by_slug(bindparam("slug")))
    columns = ["body", "article_id", "author_id", "created_at", "updated_at"]
    return (
        insert(Comment)
        .from_select(columns, chosen)
        .returning(Comment.id, Comment.body, Comment.created_at, Comment.updated_at)
    )


# finds the article by its slug and adds the comment in one statement
_ADD = _add()


def create(s: Session, slug: str, *, author_id: int, body: str) -> Row[Any]:
    """The new comment (id, body, created_at, updated_at) on the article with that slug."""
    now = utcnow()
    values = {"slug": slug, "author": author_id, "body": body, "created": now, "updated": now}
    try:
        row = s.connection().execute(_ADD, values).first()
    except IntegrityError:  # the article was deleted by another transaction meanwhile
        raise article_not_found() from None
    if row is None:
        raise article_not_found()
    return row


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
