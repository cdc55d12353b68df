"""GET /api/tags: every tag in use, sorted, no duplicates; no authentication involved."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, expired_token


def tags(api: Api, headers: dict[str, str] | None = None) -> list[str]:
    r = api.client.get("/api/tags", headers=headers or {})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    body: dict[str, Any] = r.json()
    assert list(body) == ["tags"]
    found: list[str] = body["tags"]
    return found


def test_no_tags_at_first(api: Api) -> None:
    assert tags(api) == []


def test_articles_without_tags_add_none(api: Api) -> None:
    jake = api.register("jake")
    api.article(jake)
    api.article(jake, tagList=[])
    assert tags(api) == []


def test_every_tag_in_use_sorted_without_duplicates(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    api.article(jake, tagList=["dragons", "training"])
    api.article(bob, tagList=["angularjs", "dragons", "reactjs"])
    api.article(bob, tagList=["training", "training", "zoo"])
    assert tags(api) == ["angularjs", "dragons", "reactjs", "training", "zoo"]


def test_tags_of_deleted_articles_disappear(api: Api) -> None:
    jake = api.register("jake")
    doomed = api.article(jake, tagList=["gone", "kept"])["slug"]
    api.article(jake, tagList=["kept"])
    assert tags(api) == ["gone", "kept"]
    r = api.client.delete(f"/api/articles/{doomed}", headers=jake.headers)
    assert r.status_code == 204
    assert tags(api) == ["kept"]


def test_tags_dropped_by_an_update_disappear(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake, tagList=["old", "stays"])["slug"]
    r = api.client.put(
        f"/api/articles/{slug}",
        json={"article": {"tagList": ["new", "stays"]}},
        headers=jake.headers,
    )
    assert r.status_code == 200, r.text
    assert tags(api) == ["new", "stays"]


def test_a_tag_used_again_after_it_disappeared_comes_back(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake, tagList=["phoenix"])["slug"]
    assert api.client.delete(f"/api/articles/{slug}", headers=jake.headers).status_code == 204
    assert tags(api) == []
    api.article(jake, tagList=["phoenix"])
    assert tags(api) == ["phoenix"]


@pytest.mark.parametrize(
    "authorization",
    [
        "garbage",
        "Token garbage",
        "Bearer garbage",
        "Basic dXNlcjpwYXNz",
        "Token",
        "EXPIRED",
    ],
)
def test_authorization_header_is_ignored(api: Api, authorization: str) -> None:
    """The spec gives list_tags `security: []`: no authentication, so credentials of any
    quality neither break it nor change the answer."""
    if authorization == "EXPIRED":
        authorization = f"Token {expired_token(api.register('jake'))}"
    jake = api.register("tagger")
    api.article(jake, tagList=["b", "a"])
    assert tags(api, {"Authorization": authorization}) == ["a", "b"]


def test_a_valid_token_changes_nothing(api: Api) -> None:
    jake = api.register("jake")
    api.article(jake, tagList=["x"])
    assert tags(api, jake.headers) == tags(api) == ["x"]
