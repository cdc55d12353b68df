"""Stable article URLs: every slug an article has had keeps working, and is never another's."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Account, Api, assert_problem


def _renamed(api: Api, author: Account, title: str = "First title") -> tuple[str, str]:
    """An article created as `title` and then retitled: its first and its current slug."""
    first = api.article(author, title=title)["slug"]
    r = api.client.put(
        f"/api/articles/{first}",
        json={"article": {"title": "Second title"}},
        headers=author.headers,
    )
    assert r.status_code == 200, r.text
    current: str = r.json()["article"]["slug"]
    assert current != first
    return first, current


def test_an_old_slug_still_reads_the_article_and_points_to_the_current_url(api: Api) -> None:
    jake = api.register("jake")
    first, current = _renamed(api, jake)
    r = api.client.get(f"/api/articles/{first}")
    assert r.status_code == 200, r.text
    assert r.json()["article"]["slug"] == current
    assert r.headers["Link"] == f'<http://testserver/api/articles/{current}>; rel="canonical"'
    assert "Link" not in api.client.get(f"/api/articles/{current}").headers


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("PUT", "", {"article": {"body": "edited"}}, 200),
        ("POST", "/favorite", None, 200),
        ("DELETE", "/favorite", None, 200),
        ("POST", "/comments", {"comment": {"body": "hi"}}, 201),
        ("GET", "/comments", None, 200),
        ("DELETE", "", None, 204),
    ],
)
def test_every_operation_takes_an_old_slug(
    api: Api, method: str, path: str, body: Any, status: int
) -> None:
    jake = api.register("jake")
    first, current = _renamed(api, jake)
    r = api.client.request(method, f"/api/articles/{first}{path}", json=body, headers=jake.headers)
    assert r.status_code == status, r.text
    if "article" in (r.json() if r.content else {}):
        assert r.json()["article"]["slug"] == current
    if method == "DELETE" and not path:
        assert_problem(api.client.get(f"/api/articles/{current}"), 404, "article")
        assert_problem(api.client.get(f"/api/articles/{first}"), 404, "article")


def test_a_comment_deleted_by_old_slug(api: Api) -> None:
    jake = api.register("jake")
    first, current = _renamed(api, jake)
    comment = api.comment(jake, current)
    r = api.client.delete(f"/api/articles/{first}/comments/{comment['id']}", headers=jake.headers)
    assert r.status_code == 204, r.text


def test_an_old_slug_is_never_given_to_another_article(api: Api) -> None:
    jake, anna = api.register("jake"), api.register("anna")
    first, _ = _renamed(api, jake)
    assert first == "first-title"
    other = api.article(anna, title="First title")["slug"]
    assert other != first
    assert other.startswith("first-title-")
    # nor by a rename
    third = api.article(anna, title="Something else")["slug"]
    r = api.client.put(
        f"/api/articles/{third}", json={"article": {"title": "First title"}}, headers=anna.headers
    )
    assert r.json()["article"]["slug"] not in (first, other)
    assert (
        api.client.get(f"/api/articles/{first}").json()["article"]["author"]["username"] == "jake"
    )


def test_renaming_back_takes_the_first_slug_again(api: Api) -> None:
    jake = api.register("jake")
    first, current = _renamed(api, jake)
    r = api.client.put(
        f"/api/articles/{current}", json={"article": {"title": "First title"}}, headers=jake.headers
    )
    assert r.json()["article"]["slug"] == first
    # and the second slug still leads to it
    assert api.client.get(f"/api/articles/{current}").json()["article"]["slug"] == first


def test_a_deleted_articles_slugs_go_with_it(api: Api) -> None:
    jake = api.register("jake")
    first, current = _renamed(api, jake)
    assert api.client.delete(f"/api/articles/{current}", headers=jake.headers).status_code == 204
    again = api.article(jake, title="First title")["slug"]
    assert again == first
