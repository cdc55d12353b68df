"""Favouriting articles."""

from __future__ import annotations

from typing import Any

from api.articles import shown
from api.context import caller
from db import articles
from db.session import session


def favorite_article(slug: str, user: str) -> dict[str, Any]:
    s = session()
    article = articles.by_slug(s, slug)
    articles.favorite(s, article, caller(s, user).id)
    s.commit()
    return shown(s, slug, int(user))


def unfavorite_article(slug: str, user: str) -> dict[str, Any]:
    s = session()
    article = articles.by_slug(s, slug)
    articles.unfavorite(s, article, int(user))
    s.commit()
    return shown(s, slug, int(user))
