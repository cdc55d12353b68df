"""Favouriting articles."""

from __future__ import annotations

from typing import Any

from api.articles import committed, shown
from api.context import caller_id, session
from db import articles


def favorite_article(slug: str) -> dict[str, Any]:
    s, me = session(), caller_id()
    articles.favorite(s, slug, me)
    return committed(s, shown(s, slug, me))


def unfavorite_article(slug: str) -> dict[str, Any]:
    s, me = session(), caller_id()
    articles.unfavorite(s, slug, me)
    return committed(s, shown(s, slug, me))
