"""Favouriting articles."""

from __future__ import annotations

from typing import Any

from api.articles import shown
from api.context import current_user
from db import articles
from db.session import session


def favorite_article(slug: str) -> dict[str, Any]:
    s, me = session(), current_user()
    articles.favorite(s, articles.by_slug(s, slug), me.id)
    s.commit()
    return shown(s, slug, me.id)


def unfavorite_article(slug: str) -> dict[str, Any]:
    s, me = session(), current_user()
    articles.unfavorite(s, articles.by_slug(s, slug), me.id)
    s.commit()
    return shown(s, slug, me.id)
