"""Favouriting articles."""

from __future__ import annotations

from typing import Any

from db import articles
from handlers import render
from shell.request import caller_id, session


def favorite_article(slug: str) -> dict[str, Any]:
    return _favorited(slug, favorite=True)


def unfavorite_article(slug: str) -> dict[str, Any]:
    return _favorited(slug, favorite=False)


def _favorited(slug: str, *, favorite: bool) -> dict[str, Any]:
    s = session()
    row = articles.favorite_card(s, slug, caller_id(), favorite=favorite)
    return {"article": render.article(row, articles.tag_list(row), with_body=True)}
