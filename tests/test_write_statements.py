"""Writes run few statements in one transaction, and none reads back what an insert returns.

Each statement is a round trip and, in Python, about as much again in SQLAlchemy and the
driver, so on a one-client write each one is a visible share of the time
(bench/results/2026-11-30-performance-notes.md: where the time of one create goes).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import Engine

from tests.helpers import Account, Api
from tests.test_queries import counting

# the first word or two of each statement, in order: the caller check comes first everywhere
CALLER = "SELECT users.id, users.role"
WRITES: dict[str, dict[str, list[str]]] = {
    "postgresql": {
        # the lock of its slot of the total, then the article, its tags and their links in one
        "create_article": [CALLER, "SELECT counters.value", "WITH article AS"],
        "create_comment": [CALLER, "INSERT INTO comments"],
        # the favourite and the card that shows it, in one statement
        "favorite": [CALLER, "WITH changed AS"],
        "follow": [CALLER, "SELECT users.id, users.username", "INSERT INTO follows"],
    },
    "sqlite": {
        # no data-changing WITH in SQLite: the tags and their links are two statements more;
        # no lock to take, with one writer at a time
        "create_article": [
            CALLER,
            "INSERT INTO articles",
            "INSERT INTO tags",
            "INSERT INTO article_tags",
        ],
        "create_comment": [CALLER, "INSERT INTO comments"],
        "favorite": [CALLER, "INSERT INTO favorites", "SELECT articles.id"],
        "follow": [CALLER, "SELECT users.id, users.username", "INSERT INTO follows"],
    },
}
WRITE_STATEMENTS = {db: {k: len(v) for k, v in kinds.items()} for db, kinds in WRITES.items()}


def _writes(api: Api, jake: Account, slug: str) -> dict[str, Callable[[], Any]]:
    new = {"title": "Dragons", "description": "d", "body": "b", "tagList": ["b", "a", "c"]}
    post = api.client.post
    return {
        "create_article": lambda: post(
            "/api/articles", json={"article": new}, headers=jake.headers
        ),
        "create_comment": lambda: post(
            f"/api/articles/{slug}/comments", json={"comment": {"body": "hi"}}, headers=jake.headers
        ),
        "favorite": lambda: post(f"/api/articles/{slug}/favorite", headers=jake.headers),
        "follow": lambda: post("/api/profiles/anna/follow", headers=jake.headers),
    }


@pytest.mark.parametrize("kind", ["create_article", "create_comment", "favorite", "follow"])
def test_each_write_runs_its_few_statements(api: Api, engine: Engine, kind: str) -> None:
    jake, anna = api.register("jake"), api.register("anna")
    slug = api.article(anna)["slug"]
    with counting(engine) as statements:
        r = _writes(api, jake, slug)[kind]()
    assert r.status_code in (200, 201), r.text
    heads = [" ".join(s.split()) for s in statements]
    expected = WRITES[engine.dialect.name][kind]
    assert len(heads) == len(expected), heads
    for head, start in zip(heads, expected, strict=True):
        assert head.startswith(start), (head, start)


def _with_profile(api: Api, account: Account, **fields: str) -> Account:
    """The account with a bio and an image: a reply that shows its author shows them too."""
    fields.setdefault("image", "https://example.com/me.png")
    r = api.client.put("/api/user", json={"user": fields}, headers=account.headers)
    assert r.status_code == 200, r.text
    return account


def test_a_new_article_is_shown_as_a_read_shows_it(api: Api) -> None:
    """The reply is made from what was inserted, not read back: it must equal a fresh read."""
    jake = _with_profile(api, api.register("jake"), bio="I work at statefarm")
    new = {"title": " Dragons  ", "description": " d ", "body": "b", "tagList": [" b", "a", "b"]}
    created = api.client.post("/api/articles", json={"article": new}, headers=jake.headers)
    assert created.status_code == 201, created.text
    article = created.json()["article"]
    read = api.client.get(f"/api/articles/{article['slug']}", headers=jake.headers)
    assert article == read.json()["article"]
    assert article["tagList"] == ["a", "b"]
    assert article["author"]["bio"] == "I work at statefarm"


def test_a_new_comment_is_shown_as_the_list_shows_it(api: Api) -> None:
    jake = _with_profile(api, api.register("jake"), bio="bio of jake")
    slug = api.article(jake)["slug"]
    made = api.comment(jake, slug, "First!")
    listed = api.client.get(f"/api/articles/{slug}/comments", headers=jake.headers)
    assert listed.json()["comments"] == [made]
    assert made["author"]["bio"] == "bio of jake"


def test_a_comment_on_a_missing_article_is_a_404(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.post(
        "/api/articles/no-such-article/comments",
        json={"comment": {"body": "hi"}},
        headers=jake.headers,
    )
    assert r.status_code == 404, r.text
    assert r.json()["errors"] == {"article": ["not found"]}


def test_a_favourite_shows_what_a_read_shows_after_it(api: Api) -> None:
    """On PostgreSQL the reply comes from the statement that (un)favourites, which does not see
    its own change: it must count it in, or out, exactly once."""
    jake, anna, bob = api.register("jake"), api.register("anna"), api.register("bob")
    slug = api.article(anna)["slug"]
    api.favorite(bob, slug)
    api.follow(jake, anna)  # the reply shows that too
    for method, favourited, count in [
        ("POST", True, 2),
        ("POST", True, 2),  # twice is once
        ("DELETE", False, 1),
        ("DELETE", False, 1),
    ]:
        r = api.client.request(method, f"/api/articles/{slug}/favorite", headers=jake.headers)
        assert r.status_code == 200, r.text
        shown = r.json()["article"]
        assert (shown["favorited"], shown["favoritesCount"]) == (favourited, count)
        assert shown["author"]["following"] is True
        read = api.client.get(f"/api/articles/{slug}", headers=jake.headers).json()["article"]
        assert shown == read
