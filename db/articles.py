"""Articles, their tags and favourites; the list queries run a fixed number of statements."""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from slugify import slugify
from sqlalchemy import (
    ColumnElement,
    Row,
    Select,
    delete,
    exists,
    false,
    func,
    select,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.errors import Forbidden, Invalid, NotFound
from db.models import Article, ArticleTag, Favorite, Follow, Tag, User
from db.util import insert_ignore

SLUG_MAX = 200
_SLUG_ATTEMPTS = 5


@dataclass(frozen=True)
class Filters:
    tag: str | None = None
    author: str | None = None
    favorited: str | None = None
    # the feed: only authors this user follows
    followed_by: int | None = None


def _conditions(f: Filters) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = []
    if f.tag is not None:
        tagged = select(ArticleTag.article_id).join(Tag, Tag.id == ArticleTag.tag_id)
        where.append(Article.id.in_(tagged.where(Tag.name == f.tag)))
    if f.author is not None:
        author = select(User.id).where(User.username == f.author).scalar_subquery()
        where.append(Article.author_id == author)
    if f.favorited is not None:
        fans = select(Favorite.article_id).join(User, User.id == Favorite.user_id)
        where.append(Article.id.in_(fans.where(User.username == f.favorited)))
    if f.followed_by is not None:
        followed = select(Follow.followee_id).where(Follow.follower_id == f.followed_by)
        where.append(Article.author_id.in_(followed))
    return where


def _tag_names(dialect: str) -> ColumnElement[Any]:
    """The article's tag names as a JSON array, aggregated inside the card's own query."""
    names = Tag.name
    aggregate = func.json_agg(names) if dialect == "postgresql" else func.json_group_array(names)
    return (
        select(aggregate)
        .select_from(ArticleTag)
        .join(Tag, Tag.id == ArticleTag.tag_id)
        .where(ArticleTag.article_id == Article.id)
        .scalar_subquery()
    )


def tag_list(row: Row[Any]) -> list[str]:
    """A card's tags, sorted here rather than in SQL: one order on every database and collation."""
    names = row.tag_names
    if isinstance(names, str):  # SQLite hands JSON over as text, PostgreSQL already decoded
        names = json.loads(names)
    return sorted(names or [])


def _cards(viewer_id: int | None, *, with_body: bool, dialect: str) -> Select[Any]:
    """Everything one article shows, author, tags and viewer flags included, in one row."""
    favorites_count = (
        select(func.count()).where(Favorite.article_id == Article.id).scalar_subquery()
    )
    favorited: ColumnElement[bool] = false()
    following: ColumnElement[bool] = false()
    if viewer_id is not None:
        favorited = exists().where(Favorite.article_id == Article.id, Favorite.user_id == viewer_id)
        following = exists().where(
            Follow.follower_id == viewer_id, Follow.followee_id == Article.author_id
        )
    columns: list[Any] = [
        Article.id,
        Article.slug,
        Article.title,
        Article.description,
        Article.created_at,
        Article.updated_at,
        favorites_count.label("favorites_count"),
        favorited.label("favorited"),
        User.username,
        User.bio,
        User.image,
        following.label("following"),
        _tag_names(dialect).label("tag_names"),
    ]
    if with_body:
        columns.append(Article.body)
    return select(*columns).join(User, User.id == Article.author_id)


def page(
    s: Session, filters: Filters, *, viewer_id: int | None, limit: int, offset: int
) -> tuple[Sequence[Row[Any]], int]:
    """One page, newest first, with tags, and the total: at most two statements."""
    where = _conditions(filters)
    rows = s.execute(
        _cards(viewer_id, with_body=False, dialect=_dialect(s))
        .where(*where)
        .order_by(Article.created_at.desc(), Article.id.desc())
        .limit(limit)
        .offset(offset)
    ).all()
    if 0 < len(rows) < limit or (offset == 0 and not rows):
        total = offset + len(rows)  # the last page tells the total by itself
    else:
        total = s.scalar(select(func.count()).select_from(Article).where(*where)) or 0
    return rows, total


def card(s: Session, slug: str, *, viewer_id: int | None) -> Row[Any]:
    statement = _cards(viewer_id, with_body=True, dialect=_dialect(s))
    row = s.execute(statement.where(Article.slug == slug)).first()
    if row is None:
        raise _not_found()
    return row


def _dialect(s: Session) -> str:
    return s.get_bind().dialect.name


def tags_in_use(s: Session) -> list[str]:
    used = exists().where(ArticleTag.tag_id == Tag.id)
    return sorted(s.scalars(select(Tag.name).where(used)))


def _not_found() -> NotFound:
    return NotFound({"article": ["not found"]}, "There is no article with that slug.")


def by_slug(s: Session, slug: str) -> Article:
    article = s.scalar(select(Article).where(Article.slug == slug))
    if article is None:
        raise _not_found()
    return article


def owned_by(s: Session, slug: str, user_id: int) -> Article:
    article = by_slug(s, slug)
    if article.author_id != user_id:
        raise Forbidden({"article": ["is not yours"]}, "Only the author may change this article.")
    return article


def create(
    s: Session, *, author_id: int, title: str, description: str, body: str, tags: Sequence[str]
) -> Article:
    article = Article(author_id=author_id, title=title, description=description, body=body)
    _save_with_unique_slug(s, article)
    _set_tags(s, article, tags)
    return article


def update(s: Session, article: Article, changes: Mapping[str, Any]) -> Article:
    tags = changes.get("tagList")
    for column in ("title", "description", "body"):
        if column in changes:
            setattr(article, column, changes[column])
    if "title" in changes and not _slug_fits(article.slug, changes["title"]):
        _save_with_unique_slug(s, article)
    else:
        s.flush()
    if tags is not None:
        s.execute(delete(ArticleTag).where(ArticleTag.article_id == article.id))
        _set_tags(s, article, tags)
    return article


def delete_article(s: Session, article: Article) -> None:
    # comments, favourites and tag links go with it (ON DELETE CASCADE)
    s.execute(delete(Article).where(Article.id == article.id))


def favorite(s: Session, article: Article, user_id: int) -> None:
    insert_ignore(s, Favorite, [{"article_id": article.id, "user_id": user_id}])


def unfavorite(s: Session, article: Article, user_id: int) -> None:
    s.execute(
        delete(Favorite).where(Favorite.article_id == article.id, Favorite.user_id == user_id)
    )


def _base_slug(title: str) -> str:
    return slugify(title, max_length=SLUG_MAX, word_boundary=True) or "article"


def _slug_fits(slug: str, title: str) -> bool:
    """Whether the slug already belongs to this title (exactly, or with a uniqueness suffix)."""
    base = _base_slug(title)
    return slug == base or (slug.startswith(base + "-") and len(slug) == len(base) + 7)


def _save_with_unique_slug(s: Session, article: Article) -> None:
    base = _base_slug(article.title)
    candidate = base
    for _ in range(_SLUG_ATTEMPTS):
        clash = exists().where(Article.slug == candidate)
        if article.id is not None:
            clash = clash.where(Article.id != article.id)
        if not s.scalar(select(clash)):
            article.slug = candidate
            s.add(article)
            try:
                with s.begin_nested():
                    s.flush()
                return
            except IntegrityError:
                pass  # someone took it between the check and the insert
        candidate = f"{base}-{secrets.token_hex(3)}"
    raise Invalid.on("title", "could not be made into a unique slug; try another")


def _set_tags(s: Session, article: Article, names: Sequence[str]) -> None:
    wanted = sorted({name.strip() for name in names if name.strip()})
    if not wanted:
        return
    insert_ignore(s, Tag, [{"name": name} for name in wanted])
    ids = s.scalars(select(Tag.id).where(Tag.name.in_(wanted))).all()
    insert_ignore(s, ArticleTag, [{"article_id": article.id, "tag_id": tag_id} for tag_id in ids])
