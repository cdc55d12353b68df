"""Comments on articles: creating, listing and deleting them."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.helpers import Api, assert_problem, expired_token

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


def _comments(client: Any, slug: str, headers: dict[str, str] | None = None) -> list[Any]:
    r = client.get(f"/api/articles/{slug}/comments", headers=headers or {})
    assert r.status_code == 200, r.text
    comments: list[Any] = r.json()["comments"]
    return comments


def _post(client: Any, slug: str, payload: Any, headers: dict[str, str]) -> Any:
    return client.post(f"/api/articles/{slug}/comments", json=payload, headers=headers)


# --- creating ------------------------------------------------------------------------------


def test_create_comment_returns_it_with_its_author(api: Api) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    slug = api.article(jake)["slug"]
    r = _post(api.client, slug, {"comment": {"body": "It takes a Jacobian"}}, alice.headers)
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    comment = r.json()["comment"]
    assert set(comment) == {"id", "createdAt", "updatedAt", "body", "author"}
    assert isinstance(comment["id"], int)
    assert comment["id"] >= 1
    assert comment["body"] == "It takes a Jacobian"
    assert TIMESTAMP.match(comment["createdAt"])
    assert TIMESTAMP.match(comment["updatedAt"])
    assert comment["author"] == {
        "username": "alice",
        "bio": None,
        "image": None,
        "following": False,
    }


def test_comment_author_shows_bio_and_image(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.put(
        "/api/user",
        json={"user": {"bio": "dragons", "image": "https://example.com/j.png"}},
        headers=jake.headers,
    )
    assert r.status_code == 200
    comment = api.comment(jake, api.article(jake)["slug"])
    assert comment["author"]["bio"] == "dragons"
    assert comment["author"]["image"] == "https://example.com/j.png"


def test_comment_body_is_kept_as_sent(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    text = "  Ünïcødé ✓ <b>not html</b>\nsecond line  "
    assert api.comment(jake, slug, text)["body"] == text
    assert _comments(api.client, slug)[0]["body"] == text


def test_each_comment_gets_its_own_id(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    other = api.article(jake)["slug"]
    ids = [api.comment(jake, slug)["id"], api.comment(jake, other)["id"]]
    ids.append(api.comment(jake, slug)["id"])
    assert len(set(ids)) == 3


def test_longest_allowed_comment_is_accepted(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    r = _post(api.client, slug, {"comment": {"body": "x" * 10000}}, jake.headers)
    assert r.status_code == 201
    assert len(r.json()["comment"]["body"]) == 10000


def test_comment_on_unknown_article_is_404(api: Api) -> None:
    jake = api.register("jake")
    r = _post(api.client, "no-such-article", {"comment": {"body": "hi"}}, jake.headers)
    assert_problem(r, 404)


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    ["", " ", " \n\t ", "x" * 10001, 42, None, ["hi"]],
    ids=["empty", "space", "whitespace", "too-long", "number", "null", "list"],
)
def test_bad_comment_body_is_422(api: Api, body: Any) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    r = _post(api.client, slug, {"comment": {"body": body}}, jake.headers)
    assert_problem(r, 422, "body")
    assert _comments(api.client, slug) == []


def test_blank_comment_says_cant_be_blank(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    r = _post(api.client, slug, {"comment": {"body": "   "}}, jake.headers)
    assert assert_problem(r, 422, "body")["errors"]["body"] == ["can't be blank"]


def test_missing_comment_body_is_422(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    assert_problem(_post(api.client, slug, {"comment": {}}, jake.headers), 422, "body")


@pytest.mark.parametrize(
    "payload",
    [{}, {"body": "hi"}, {"comment": "hi"}, {"comment": None}],
    ids=["empty", "no-envelope", "string", "null"],
)
def test_missing_or_wrong_comment_envelope_is_422(api: Api, payload: Any) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    assert_problem(_post(api.client, slug, payload, jake.headers), 422, "comment")


def test_unknown_fields_in_a_comment_are_ignored(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    r = _post(
        api.client, slug, {"comment": {"body": "hi", "parentId": 999, "mood": "x"}}, jake.headers
    )
    assert r.status_code == 201
    assert r.json()["comment"]["body"] == "hi"
    assert r.json()["comment"]["author"]["username"] == "jake"


# --- listing -------------------------------------------------------------------------------


def test_list_comments_oldest_first(api: Api) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    slug = api.article(jake)["slug"]
    made = [
        api.comment(alice, slug, "first"),
        api.comment(jake, slug, "second"),
        api.comment(alice, slug, "third"),
    ]
    listed = _comments(api.client, slug)
    assert [c["body"] for c in listed] == ["first", "second", "third"]
    assert [c["id"] for c in listed] == [c["id"] for c in made]
    assert [c["author"]["username"] for c in listed] == ["alice", "jake", "alice"]
    for c in listed:
        assert set(c) == {"id", "createdAt", "updatedAt", "body", "author"}
        assert TIMESTAMP.match(c["createdAt"])
        assert TIMESTAMP.match(c["updatedAt"])


def test_list_matches_what_create_returned(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    made = api.comment(jake, slug, "hello")
    assert _comments(api.client, slug, jake.headers) == [made]


def test_list_shows_only_the_articles_own_comments(api: Api) -> None:
    jake = api.register("jake")
    one = api.article(jake)["slug"]
    two = api.article(jake)["slug"]
    api.comment(jake, one, "on one")
    api.comment(jake, two, "on two")
    assert [c["body"] for c in _comments(api.client, one)] == ["on one"]
    assert [c["body"] for c in _comments(api.client, two)] == ["on two"]


def test_article_without_comments_lists_none(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    r = api.client.get(f"/api/articles/{slug}/comments")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == {"comments": []}


def test_following_flag_is_personalised(api: Api) -> None:
    jake = api.register("jake")
    carol = api.register("carol")
    bob = api.register("bob")
    slug = api.article(jake)["slug"]
    api.comment(jake, slug, "by jake")
    api.comment(carol, slug, "by carol")
    api.follow(bob, jake)

    def flags(headers: dict[str, str] | None) -> dict[str, bool]:
        return {c["body"]: c["author"]["following"] for c in _comments(api.client, slug, headers)}

    assert flags(bob.headers) == {"by jake": True, "by carol": False}
    assert flags(carol.headers) == {"by jake": False, "by carol": False}
    assert flags(jake.headers) == {"by jake": False, "by carol": False}
    assert flags(None) == {"by jake": False, "by carol": False}


def test_list_comments_of_unknown_article_is_404(client: Any) -> None:
    assert_problem(client.get("/api/articles/no-such-article/comments"), 404)


def test_list_comments_with_an_invalid_token_is_401(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    api.comment(jake, slug)
    url = f"/api/articles/{slug}/comments"
    assert_problem(api.client.get(url, headers={"Authorization": "Token junk"}), 401, "token")
    expired = {"Authorization": f"Token {expired_token(jake)}"}
    assert_problem(api.client.get(url, headers=expired), 401, "token")


# --- deleting ------------------------------------------------------------------------------


def test_delete_own_comment(api: Api) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    slug = api.article(jake)["slug"]
    keep = api.comment(jake, slug, "keep")
    gone = api.comment(alice, slug, "gone")
    r = api.client.delete(f"/api/articles/{slug}/comments/{gone['id']}", headers=alice.headers)
    assert r.status_code == 204
    assert r.content == b""
    assert [c["id"] for c in _comments(api.client, slug)] == [keep["id"]]
    again = api.client.delete(f"/api/articles/{slug}/comments/{gone['id']}", headers=alice.headers)
    assert_problem(again, 404)


def test_article_author_may_delete_their_own_comment(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    mine = api.comment(jake, slug)
    r = api.client.delete(f"/api/articles/{slug}/comments/{mine['id']}", headers=jake.headers)
    assert r.status_code == 204
    assert _comments(api.client, slug) == []


def test_only_the_comment_author_may_delete_it(api: Api) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    mallory = api.register("mallory")
    slug = api.article(jake)["slug"]
    comment = api.comment(alice, slug)
    url = f"/api/articles/{slug}/comments/{comment['id']}"
    assert_problem(api.client.delete(url, headers=mallory.headers), 403)
    # not even the author of the article
    assert_problem(api.client.delete(url, headers=jake.headers), 403)
    assert [c["id"] for c in _comments(api.client, slug)] == [comment["id"]]


def test_delete_unknown_comment_is_404(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    mine = api.comment(jake, slug)
    for missing in (mine["id"] + 1000, 2147483647):
        r = api.client.delete(f"/api/articles/{slug}/comments/{missing}", headers=jake.headers)
        assert_problem(r, 404)


def test_delete_comment_through_another_article_is_404(api: Api) -> None:
    jake = api.register("jake")
    one = api.article(jake)["slug"]
    two = api.article(jake)["slug"]
    comment = api.comment(jake, one)
    r = api.client.delete(f"/api/articles/{two}/comments/{comment['id']}", headers=jake.headers)
    assert_problem(r, 404)
    assert [c["id"] for c in _comments(api.client, one)] == [comment["id"]]


def test_delete_comment_of_unknown_article_is_404(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    comment = api.comment(jake, slug)
    r = api.client.delete(f"/api/articles/nope/comments/{comment['id']}", headers=jake.headers)
    assert_problem(r, 404)
    assert len(_comments(api.client, slug)) == 1


@pytest.mark.parametrize("bad_id", ["0", "-1", "2147483648", "9" * 30])
def test_delete_comment_with_an_out_of_range_id_is_422(api: Api, bad_id: str) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    r = api.client.delete(f"/api/articles/{slug}/comments/{bad_id}", headers=jake.headers)
    assert_problem(r, 422, "id")


@pytest.mark.parametrize("bad_id", ["abc", "1.5"])
def test_delete_comment_with_a_non_integer_id_names_no_resource(api: Api, bad_id: str) -> None:
    # an integer path parameter is part of the route, so anything else matches no operation
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    comment = api.comment(jake, slug)
    r = api.client.delete(f"/api/articles/{slug}/comments/{bad_id}", headers=jake.headers)
    assert_problem(r, 404)
    assert [c["id"] for c in _comments(api.client, slug)] == [comment["id"]]


# --- authentication ------------------------------------------------------------------------


def test_create_comment_needs_a_token(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    payload = {"comment": {"body": "hi"}}
    assert_problem(_post(api.client, slug, payload, {}), 401, "token")
    assert_problem(_post(api.client, slug, payload, {"Authorization": "Token junk"}), 401, "token")
    expired = {"Authorization": f"Token {expired_token(jake)}"}
    body = assert_problem(_post(api.client, slug, payload, expired), 401, "token")
    assert body["errors"]["token"] == ["has expired"]
    assert _comments(api.client, slug) == []


def test_delete_comment_needs_a_token(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    comment = api.comment(jake, slug)
    url = f"/api/articles/{slug}/comments/{comment['id']}"
    assert_problem(api.client.delete(url), 401, "token")
    assert_problem(api.client.delete(url, headers={"Authorization": "Token junk"}), 401, "token")
    expired = {"Authorization": f"Token {expired_token(jake)}"}
    assert_problem(api.client.delete(url, headers=expired), 401, "token")
    assert [c["id"] for c in _comments(api.client, slug)] == [comment["id"]]


def test_comment_token_works_as_bearer(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    bearer = {"Authorization": f"Bearer {jake.token}"}
    r = _post(api.client, slug, {"comment": {"body": "hi"}}, bearer)
    assert r.status_code == 201
    r = api.client.delete(
        f"/api/articles/{slug}/comments/{r.json()['comment']['id']}", headers=bearer
    )
    assert r.status_code == 204


def test_comments_disappear_with_their_article(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    api.comment(jake, slug)
    assert api.client.delete(f"/api/articles/{slug}", headers=jake.headers).status_code == 204
    assert_problem(api.client.get(f"/api/articles/{slug}/comments"), 404)
