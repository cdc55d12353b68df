"""No mass assignment: what only the server sets can be sent back unchanged, never changed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import Api, assert_problem

SPEC = yaml.safe_load((Path(__file__).parent.parent / "openapi" / "api.yaml").read_text())


def _read_only(schema: str) -> set[str]:
    properties = SPEC["components"]["schemas"][schema]["properties"]
    return {name for name, prop in properties.items() if prop.get("readOnly")}


def test_the_spec_marks_what_the_server_sets() -> None:
    server_set_user = {"role", "status", "id", "createdAt", "updatedAt"}
    assert _read_only("NewUser") == _read_only("UpdateUser") == server_set_user
    server_set_article = {"slug", "createdAt", "updatedAt", "favorited", "favoritesCount", "author"}
    assert _read_only("NewArticle") == _read_only("UpdateArticle") == server_set_article
    assert _read_only("NewComment") == {"id", "createdAt", "updatedAt", "author"}


@pytest.mark.parametrize(
    "extra", [{"role": "admin"}, {"role": "user"}, {"status": "active"}, {"id": 1}]
)
def test_register_cannot_set_server_fields(client: Any, extra: dict[str, Any]) -> None:
    user = {"username": "jake", "email": "jake@example.com", "password": "password1", **extra}
    body = assert_problem(client.post("/api/users", json={"user": user}), 422)
    assert set(body["errors"]) == set(extra)
    assert body["errors"][next(iter(extra))] == ["is read-only"]


def test_the_current_user_sent_back_unchanged_is_fine_but_a_new_role_is_not(api: Api) -> None:
    jake = api.register("jake")
    me = api.client.get("/api/user", headers=jake.headers).json()["user"]
    assert me["role"] == "user"
    r = api.client.put("/api/user", json={"user": {**me, "bio": "hi"}}, headers=jake.headers)
    assert r.status_code == 200, r.text
    r = api.client.put("/api/user", json={"user": {**me, "role": "admin"}}, headers=jake.headers)
    body = assert_problem(r, 422, "role")
    assert list(body["errors"]) == ["role"]
    assert api.client.get("/api/user", headers=jake.headers).json()["user"]["role"] == "user"
    for field, value in (("status", "active"), ("id", 1), ("createdAt", "2020-01-01T00:00:00Z")):
        r = api.client.put("/api/user", json={"user": {field: value}}, headers=jake.headers)
        assert_problem(r, 422, field)


def test_an_article_sent_back_whole_is_fine_but_its_counts_cannot_change(api: Api) -> None:
    jake = api.register("jake")
    article = api.article(jake)
    slug = article["slug"]
    r = api.client.put(
        f"/api/articles/{slug}",
        json={"article": {**article, "body": "edited"}},
        headers=jake.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["article"]["body"] == "edited"
    for field, value in (
        ("favoritesCount", 1000),
        ("favorited", True),
        ("slug", "mine"),
        ("createdAt", "2001-01-01T00:00:00.000Z"),
        ("author", {"username": "alice"}),
    ):
        r = api.client.put(
            f"/api/articles/{slug}", json={"article": {field: value}}, headers=jake.headers
        )
        assert_problem(r, 422, field)
    assert api.client.get(f"/api/articles/{slug}").json()["article"]["favoritesCount"] == 0


def test_creating_an_article_or_comment_cannot_set_server_fields(api: Api) -> None:
    jake = api.register("jake")
    new = {"title": "T", "description": "D", "body": "B", "favoritesCount": 0}
    r = api.client.post("/api/articles", json={"article": new}, headers=jake.headers)
    assert_problem(r, 422, "favoritesCount")
    slug = api.article(jake)["slug"]
    r = api.client.post(
        f"/api/articles/{slug}/comments",
        json={"comment": {"body": "x", "id": 5}},
        headers=jake.headers,
    )
    assert_problem(r, 422, "id")
