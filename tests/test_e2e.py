"""End to end: the service as a user starts it (`python -m cli run`), spoken to over HTTP."""

from __future__ import annotations

import urllib.request

from tests.live import call


def test_a_new_user_registers_writes_and_sees_the_article_listed(server: str) -> None:
    status, ui = 0, ""
    with urllib.request.urlopen(f"{server}/api/ui/", timeout=5) as r:
        status, ui = r.status, r.read().decode()
    assert status == 200
    assert "swagger-ui" in ui

    status, body = call(
        server,
        "POST",
        "/api/users",
        {"user": {"username": "newbie", "email": "newbie@example.com", "password": "password1"}},
    )
    assert status == 201
    token = body["user"]["token"]
    article = {"title": "Hello world", "description": "First", "body": "Hi", "tagList": ["intro"]}
    status, body = call(server, "POST", "/api/articles", {"article": article}, token)
    assert status == 201
    slug = body["article"]["slug"]

    status, body = call(server, "GET", "/api/articles")
    assert status == 200
    assert body["articlesCount"] == 1
    assert [a["slug"] for a in body["articles"]] == [slug]
    status, body = call(server, "GET", "/api/tags")
    assert body == {"tags": ["intro"]}
    status, body = call(server, "DELETE", f"/api/articles/{slug}", token=token)
    assert (status, body) == (204, None)
    status, body = call(server, "GET", f"/api/articles/{slug}")
    assert status == 404
    assert body["errors"] == {"article": ["not found"]}
