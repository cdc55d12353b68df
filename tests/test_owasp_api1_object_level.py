"""OWASP API1:2023 broken object-level authorization: no one writes to what is someone
else's, whatever id they put in the URL.

Each case checks the refusal and that the object is still as its owner left it. A comment
reached through another article is 404 (it is not there), not 403 (it would say it exists).
The admin and moderation operations, refused to plain users, are enumerated from the spec in
tests/test_owasp_api5_function_level.py; moderators acting on what others wrote are in
tests/test_authorization.py.
"""

from __future__ import annotations

from typing import Any

from tests.helpers import Account, Api, assert_problem


def _article(api: Api, slug: str, who: Account | None = None) -> dict[str, Any]:
    headers = who.headers if who else {}
    article: dict[str, Any] = api.client.get(f"/api/articles/{slug}", headers=headers).json()[
        "article"
    ]
    return article


def test_api1_another_users_article_cannot_be_edited(api: Api) -> None:
    jake, mallory = api.register(), api.register()
    before = api.article(jake, tagList=["mine"])
    for change in ({"title": "Owned"}, {"body": "defaced"}, {"tagList": ["spam"]}):
        r = api.client.put(
            f"/api/articles/{before['slug']}", json={"article": change}, headers=mallory.headers
        )
        assert_problem(r, 403)
    assert _article(api, before["slug"]) == before


def test_api1_another_users_article_cannot_be_deleted(api: Api) -> None:
    jake, mallory = api.register(), api.register()
    slug = api.article(jake)["slug"]
    assert_problem(api.client.delete(f"/api/articles/{slug}", headers=mallory.headers), 403)
    assert api.client.get(f"/api/articles/{slug}").status_code == 200


def test_api1_another_users_comment_cannot_be_deleted(api: Api) -> None:
    jake, mallory = api.register(), api.register()
    slug = api.article(mallory)["slug"]  # even on the attacker's own article
    comment = api.comment(jake, slug, body="Mine")
    r = api.client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=mallory.headers)
    assert_problem(r, 403)
    bodies = [
        c["body"] for c in api.client.get(f"/api/articles/{slug}/comments").json()["comments"]
    ]
    assert bodies == ["Mine"]


def test_api1_a_comment_id_from_another_article_is_404(api: Api) -> None:
    jake = api.register()
    first, second = api.article(jake)["slug"], api.article(jake)["slug"]
    comment = api.comment(jake, first)
    # its own author, through the wrong article: that article has no such comment
    r = api.client.delete(f"/api/articles/{second}/comments/{comment['id']}", headers=jake.headers)
    assert_problem(r, 404)
    ids = [c["id"] for c in api.client.get(f"/api/articles/{first}/comments").json()["comments"]]
    assert ids == [comment["id"]]


def test_api1_a_favourite_is_only_ever_the_callers_own(api: Api) -> None:
    jake, fan, mallory = api.register(), api.register(), api.register()
    slug = api.article(jake)["slug"]
    api.favorite(fan, slug)
    # unfavouriting removes mallory's favourite (there is none), never the fan's
    r = api.client.delete(f"/api/articles/{slug}/favorite", headers=mallory.headers)
    assert r.status_code == 200
    assert r.json()["article"]["favorited"] is False
    assert _article(api, slug, fan)["favorited"] is True
    assert _article(api, slug)["favoritesCount"] == 1
    listed = api.client.get("/api/articles", params={"favorited": fan.username}).json()
    assert [a["slug"] for a in listed["articles"]] == [slug]


def test_api1_a_follow_is_only_ever_the_callers_own(api: Api) -> None:
    jake, fan, mallory = api.register(), api.register(), api.register()
    api.follow(fan, jake)
    r = api.client.delete(f"/api/profiles/{jake.username}/follow", headers=mallory.headers)
    assert r.json()["profile"]["following"] is False
    seen = api.client.get(f"/api/profiles/{jake.username}", headers=fan.headers).json()
    assert seen["profile"]["following"] is True


def test_api1_the_account_changed_is_always_the_callers(api: Api) -> None:
    """`PUT /user` has no id to point elsewhere; an id or a username in the body changes
    nothing but the caller's own account."""
    jake, mallory = api.register(), api.register()
    for change, field in (
        ({"id": 1, "bio": "pwned"}, "id"),
        ({"username": jake.username}, "username"),
    ):
        r = api.client.put("/api/user", json={"user": change}, headers=mallory.headers)
        assert_problem(r, 422, field)  # read-only, or jake's and taken: refused, not applied
    r = api.client.put("/api/user", json={"user": {"bio": "mine"}}, headers=mallory.headers)
    assert r.json()["user"]["username"] == mallory.username
    jake_now = api.client.get(f"/api/profiles/{jake.username}").json()["profile"]
    assert jake_now["bio"] is None


def test_api1_another_users_tokens_cannot_be_revoked(api: Api) -> None:
    jake, mallory = api.register(), api.register()
    assert api.client.post("/api/user/logout-all", headers=mallory.headers).status_code == 204
    assert api.client.get("/api/user", headers=jake.headers).status_code == 200
    assert_problem(api.client.get("/api/user", headers=mallory.headers), 401)
