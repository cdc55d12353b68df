"""Public profiles, following and unfollowing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import Api, assert_problem, expired_token


def _profile(client: Any, username: str, headers: dict[str, str] | None = None) -> Any:
    r = client.get(f"/api/profiles/{username}", headers=headers or {})
    assert r.status_code == 200, r.text
    return r.json()["profile"]


# --- reading a profile ---------------------------------------------------------------------


def test_anonymous_profile_is_not_followed(api: Api) -> None:
    api.register("jake")
    r = api.client.get("/api/profiles/jake")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == {
        "profile": {"username": "jake", "bio": None, "image": None, "following": False}
    }


def test_profile_shows_bio_and_image(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.put(
        "/api/user",
        json={"user": {"bio": "I work at statefarm", "image": "https://example.com/j.png"}},
        headers=jake.headers,
    )
    assert r.status_code == 200
    profile = _profile(api.client, "jake")
    assert profile["bio"] == "I work at statefarm"
    assert profile["image"] == "https://example.com/j.png"


def test_profile_is_personalised_for_the_caller(api: Api) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    bob = api.register("bob")
    api.follow(alice, jake)
    assert _profile(api.client, "jake", alice.headers)["following"] is True
    assert _profile(api.client, "jake", bob.headers)["following"] is False
    assert _profile(api.client, "jake", jake.headers)["following"] is False
    assert _profile(api.client, "jake")["following"] is False
    # following is one way
    assert _profile(api.client, "alice", jake.headers)["following"] is False


def test_usernames_with_dots_dashes_and_underscores_are_reachable(api: Api) -> None:
    api.register("j.a-k_e")
    assert _profile(api.client, "j.a-k_e")["username"] == "j.a-k_e"


def test_unknown_profile_is_404(api: Api) -> None:
    api.register("jake")
    assert_problem(api.client.get("/api/profiles/nobody"), 404)
    # usernames are matched exactly
    assert_problem(api.client.get("/api/profiles/jake2"), 404)


@pytest.mark.parametrize(
    "username",
    ["a%20b", "x" * 65, "bad!name", "caf%C3%A9", "..."],
    ids=["space", "too-long", "punctuation", "non-ascii", "only-dots"],
)
def test_username_breaking_the_path_pattern_is_422(client: Any, username: str) -> None:
    assert_problem(client.get(f"/api/profiles/{username}"), 422, "username")


def test_longest_allowed_username_is_fine(api: Api) -> None:
    name = "x" * 64
    api.register(name)
    assert _profile(api.client, name)["username"] == name


def test_bad_username_on_follow_is_422(api: Api) -> None:
    alice = api.register("alice")
    r = api.client.post("/api/profiles/a%20b/follow", headers=alice.headers)
    assert_problem(r, 422, "username")
    r = api.client.delete(f"/api/profiles/{'x' * 65}/follow", headers=alice.headers)
    assert_problem(r, 422, "username")


# --- following -----------------------------------------------------------------------------


def test_follow_then_unfollow(api: Api) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    r = api.client.post("/api/profiles/jake/follow", headers=alice.headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    assert r.json() == {
        "profile": {"username": "jake", "bio": None, "image": None, "following": True}
    }
    assert _profile(api.client, "jake", alice.headers)["following"] is True

    r = api.client.delete("/api/profiles/jake/follow", headers=alice.headers)
    assert r.status_code == 200
    assert r.json() == {
        "profile": {"username": "jake", "bio": None, "image": None, "following": False}
    }
    assert _profile(api.client, "jake", alice.headers)["following"] is False
    # jake's own view of alice never changed
    assert _profile(api.client, "alice", jake.headers)["following"] is False


def test_following_twice_is_harmless(api: Api) -> None:
    api.register("jake")
    alice = api.register("alice")
    for _ in range(2):
        r = api.client.post("/api/profiles/jake/follow", headers=alice.headers)
        assert r.status_code == 200
        assert r.json()["profile"]["following"] is True
    # a single unfollow undoes it: the follow was not recorded twice
    r = api.client.delete("/api/profiles/jake/follow", headers=alice.headers)
    assert r.status_code == 200
    assert _profile(api.client, "jake", alice.headers)["following"] is False


def test_unfollowing_twice_or_without_following_is_harmless(api: Api) -> None:
    api.register("jake")
    alice = api.register("alice")
    for _ in range(2):
        r = api.client.delete("/api/profiles/jake/follow", headers=alice.headers)
        assert r.status_code == 200
        assert r.json()["profile"]["following"] is False


def test_follow_returns_the_followees_bio_and_image(api: Api) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    api.client.put(
        "/api/user",
        json={"user": {"bio": "dragons", "image": "https://example.com/j.png"}},
        headers=jake.headers,
    )
    r = api.client.post("/api/profiles/jake/follow", headers=alice.headers)
    assert r.json()["profile"] == {
        "username": "jake",
        "bio": "dragons",
        "image": "https://example.com/j.png",
        "following": True,
    }


def test_following_yourself_is_422(api: Api) -> None:
    jake = api.register("jake")
    assert_problem(api.client.post("/api/profiles/jake/follow", headers=jake.headers), 422)
    assert _profile(api.client, "jake", jake.headers)["following"] is False


def test_following_an_unknown_user_is_404(api: Api) -> None:
    alice = api.register("alice")
    assert_problem(api.client.post("/api/profiles/nobody/follow", headers=alice.headers), 404)
    assert_problem(api.client.delete("/api/profiles/nobody/follow", headers=alice.headers), 404)


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_follow_and_unfollow_need_a_token(api: Api, method: str) -> None:
    api.register("jake")
    alice = api.register("alice")
    url = "/api/profiles/jake/follow"
    assert_problem(api.client.request(method, url), 401, "token")
    bad = {"Authorization": "Token not-a-jwt"}
    assert_problem(api.client.request(method, url, headers=bad), 401, "token")
    expired = {"Authorization": f"Token {expired_token(alice)}"}
    assert_problem(api.client.request(method, url, headers=expired), 401, "token")
    # nothing happened on the way
    assert _profile(api.client, "jake", alice.headers)["following"] is False


def test_a_body_sent_on_follow_is_ignored(api: Api) -> None:
    api.register("jake")
    alice = api.register("alice")
    r = api.client.post(
        "/api/profiles/jake/follow",
        json={"profile": {"username": "someone-else", "following": False}},
        headers=alice.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["profile"]["username"] == "jake"
    assert r.json()["profile"]["following"] is True


def test_a_non_json_body_sent_on_follow_is_ignored(api: Api) -> None:
    api.register("jake")
    alice = api.register("alice")
    r = api.client.post(
        "/api/profiles/jake/follow",
        content=b"{not json",
        headers={**alice.headers, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["profile"]["following"] is True


def test_empty_json_request_as_frontends_send_it(api: Api) -> None:
    api.register("jake")
    alice = api.register("alice")
    headers = {
        **alice.headers,
        "Content-Type": "application/json",
        "X-Requested-With": "XMLHttpRequest",
    }
    assert api.client.post("/api/profiles/jake/follow", headers=headers).status_code == 200
    r = api.client.delete("/api/profiles/jake/follow", headers=headers)
    assert r.status_code == 200
    assert r.json()["profile"]["following"] is False


# --- optional authentication ---------------------------------------------------------------


def test_profile_with_an_invalid_token_is_401_not_anonymous(api: Api) -> None:
    api.register("jake")
    r = api.client.get("/api/profiles/jake", headers={"Authorization": "Token not-a-jwt"})
    assert_problem(r, 401, "token")


def test_profile_with_an_expired_token_is_401_not_anonymous(api: Api) -> None:
    api.register("jake")
    alice = api.register("alice")
    headers = {"Authorization": f"Token {expired_token(alice)}"}
    body = assert_problem(api.client.get("/api/profiles/jake", headers=headers), 401, "token")
    assert body["errors"]["token"] == ["has expired"]
