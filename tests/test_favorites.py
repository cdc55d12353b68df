"""Favouriting and unfavouriting articles, and the `favorited` list filter."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import Account, Api, assert_problem, subject, token

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def favorite(api: Api, who: Account, slug: str) -> Any:
    return api.client.post(f"/api/articles/{slug}/favorite", headers=who.headers)


def unfavorite(api: Api, who: Account, slug: str) -> Any:
    return api.client.delete(f"/api/articles/{slug}/favorite", headers=who.headers)


def article_of(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    article: dict[str, Any] = response.json()["article"]
    return article


def fetch(api: Api, slug: str, who: Account | None = None) -> dict[str, Any]:
    r = api.client.get(f"/api/articles/{slug}", headers=who.headers if who else {})
    return article_of(r)


def favourited_by(api: Api, username: str, query: str = "") -> tuple[list[str], int]:
    r = api.client.get(f"/api/articles?favorited={username}{query}")
    assert r.status_code == 200, r.text
    page = r.json()
    return [a["slug"] for a in page["articles"]], page["articlesCount"]


def test_favorite_returns_the_article_favourited(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    created = api.article(jake, title="Worth a star", body="The body", tagList=["b", "a"])
    article = article_of(favorite(api, bob, created["slug"]))
    assert article["slug"] == created["slug"]
    assert article["title"] == "Worth a star"
    assert article["body"] == "The body"
    assert article["tagList"] == ["a", "b"]
    assert article["favorited"] is True
    assert article["favoritesCount"] == 1
    assert article["author"]["username"] == "jake"
    assert TIMESTAMP.match(article["createdAt"])
    assert TIMESTAMP.match(article["updatedAt"])
    seen = fetch(api, created["slug"], bob)
    assert seen["favorited"] is True
    assert seen["favoritesCount"] == 1


def test_favoriting_twice_is_harmless(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    slug = api.article(jake)["slug"]
    article_of(favorite(api, bob, slug))
    again = article_of(favorite(api, bob, slug))
    assert again["favorited"] is True
    assert again["favoritesCount"] == 1
    assert fetch(api, slug)["favoritesCount"] == 1
    assert favourited_by(api, "bob") == ([slug], 1)


def test_counts_add_up_over_several_users(api: Api) -> None:
    jake = api.register("jake")
    fans = [api.register(f"fan{i}") for i in range(3)]
    slug = api.article(jake)["slug"]
    for n, fan in enumerate(fans, start=1):
        article = article_of(favorite(api, fan, slug))
        assert article["favoritesCount"] == n
        assert article["favorited"] is True

    for fan in fans:
        assert fetch(api, slug, fan)["favorited"] is True
    anonymous = fetch(api, slug)
    assert anonymous["favorited"] is False
    assert anonymous["favoritesCount"] == 3
    by_author = fetch(api, slug, jake)
    assert by_author["favorited"] is False
    assert by_author["favoritesCount"] == 3

    article = article_of(unfavorite(api, fans[0], slug))
    assert article["favorited"] is False
    assert article["favoritesCount"] == 2
    assert fetch(api, slug, fans[1])["favorited"] is True


def test_counts_are_per_article(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    carol = api.register("carol")
    one = api.article(jake)["slug"]
    two = api.article(jake)["slug"]
    api.favorite(bob, one)
    api.favorite(carol, one)
    api.favorite(carol, two)
    assert fetch(api, one)["favoritesCount"] == 2
    assert fetch(api, two)["favoritesCount"] == 1
    r = api.client.get("/api/articles", headers=bob.headers)
    assert r.status_code == 200
    shown = {a["slug"]: (a["favorited"], a["favoritesCount"]) for a in r.json()["articles"]}
    assert shown == {one: (True, 2), two: (False, 1)}


def test_unfavorite_removes_the_favourite(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    slug = api.article(jake)["slug"]
    api.favorite(bob, slug)
    article = article_of(unfavorite(api, bob, slug))
    assert article["slug"] == slug
    assert article["favorited"] is False
    assert article["favoritesCount"] == 0
    assert fetch(api, slug, bob)["favorited"] is False
    assert favourited_by(api, "bob") == ([], 0)


def test_unfavorite_when_not_favourited_is_harmless(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    carol = api.register("carol")
    slug = api.article(jake)["slug"]
    api.favorite(carol, slug)
    article = article_of(unfavorite(api, bob, slug))
    assert article["favorited"] is False
    assert article["favoritesCount"] == 1  # carol's favourite is untouched
    again = article_of(unfavorite(api, bob, slug))
    assert again["favoritesCount"] == 1
    assert fetch(api, slug, carol)["favorited"] is True


def test_favourite_again_after_unfavourite(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    slug = api.article(jake)["slug"]
    api.favorite(bob, slug)
    article_of(unfavorite(api, bob, slug))
    article = article_of(favorite(api, bob, slug))
    assert article["favorited"] is True
    assert article["favoritesCount"] == 1


def test_a_request_body_is_ignored(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    slug = api.article(jake)["slug"]
    r = api.client.post(
        f"/api/articles/{slug}/favorite",
        json={"article": {"favorited": False}},
        headers=bob.headers,
    )
    article = article_of(r)
    assert article["favorited"] is True
    assert article["favoritesCount"] == 1


def test_favourites_survive_a_title_change(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    slug = api.article(jake, title="Before")["slug"]
    api.favorite(bob, slug)
    r = api.client.put(
        f"/api/articles/{slug}", json={"article": {"title": "After"}}, headers=jake.headers
    )
    assert r.status_code == 200, r.text
    new_slug = r.json()["article"]["slug"]
    assert new_slug != slug
    article = fetch(api, new_slug, bob)
    assert article["favorited"] is True
    assert article["favoritesCount"] == 1
    assert favourited_by(api, "bob") == ([new_slug], 1)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_unknown_slug_is_404(api: Api, method: str) -> None:
    bob = api.register("bob")
    r = api.client.request(method, "/api/articles/no-such-article/favorite", headers=bob.headers)
    assert_problem(r, 404)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_favourites_need_a_valid_token(api: Api, method: str) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    slug = api.article(jake)["slug"]
    api.favorite(bob, slug)
    url = f"/api/articles/{slug}/favorite"
    refused = [
        {},
        {"Authorization": "Token not-a-jwt"},
        {"Authorization": "Bearer not-a-jwt"},
        {"Authorization": f"Token {token(subject(bob), lifetime=-60)}"},
        {"Authorization": f"Basic {bob.token}"},
    ]
    for headers in refused:
        r = api.client.request(method, url, headers=headers)
        assert r.status_code == 401, f"{headers}: {r.status_code} {r.text}"
        assert_problem(r, 401, "token")
    # a forged token that is still valid is accepted: only the expiry made the difference
    r = api.client.get(url.removesuffix("/favorite"), headers=bob.headers)
    article = article_of(r)
    assert article["favorited"] is True
    assert article["favoritesCount"] == 1
    fresh = {"Authorization": f"Token {token(subject(bob), lifetime=3600)}"}
    assert article_of(api.client.request(method, url, headers=fresh))["slug"] == slug


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_token_of_a_user_who_does_not_exist_is_401(api: Api, method: str) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    slug = api.article(jake)["slug"]
    api.favorite(bob, slug)
    ghost = token(str(int(subject(bob)) + 10_000))
    r = api.client.request(
        method, f"/api/articles/{slug}/favorite", headers={"Authorization": f"Token {ghost}"}
    )
    assert_problem(r, 401, "token")
    assert fetch(api, slug)["favoritesCount"] == 1


def test_favorited_filter_follows_favourites(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    carol = api.register("carol")
    first = api.article(jake)["slug"]
    second = api.article(jake)["slug"]
    third = api.article(carol)["slug"]
    assert favourited_by(api, "bob") == ([], 0)

    api.favorite(bob, first)
    api.favorite(bob, third)
    api.favorite(carol, second)
    assert favourited_by(api, "bob") == ([third, first], 2)
    assert favourited_by(api, "carol") == ([second], 1)
    assert favourited_by(api, "bob", "&limit=1") == ([third], 2)
    assert favourited_by(api, "bob", "&author=jake") == ([first], 1)

    article_of(unfavorite(api, bob, third))
    assert favourited_by(api, "bob") == ([first], 1)
    assert favourited_by(api, "jake") == ([], 0)
    assert favourited_by(api, "nobody") == ([], 0)
