"""Registration, login and the current user."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api, assert_problem


def test_register_returns_the_user_with_a_token(client: Any) -> None:
    r = client.post(
        "/api/users",
        json={"user": {"username": "jake", "email": "Jake@Jake.jake", "password": "jakejake"}},
    )
    assert r.status_code == 201
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    user = r.json()["user"]
    assert user["username"] == "jake"
    assert user["email"] == "jake@jake.jake"  # emails are kept lower-cased
    assert user["bio"] is None
    assert user["image"] is None
    assert user["token"].count(".") == 2


def test_login_with_the_registered_password(api: Api) -> None:
    jake = api.register("jake", password="jakejake")
    r = api.client.post(
        "/api/users/login", json={"user": {"email": jake.email.upper(), "password": "jakejake"}}
    )
    assert r.status_code == 200
    assert r.json()["user"]["username"] == "jake"


def test_login_answers_the_same_for_unknown_email_and_wrong_password(api: Api) -> None:
    jake = api.register("jake")
    wrong = api.client.post(
        "/api/users/login", json={"user": {"email": jake.email, "password": "not-it-at-all"}}
    )
    unknown = api.client.post(
        "/api/users/login", json={"user": {"email": "nobody@example.com", "password": "whatever"}}
    )
    assert_problem(wrong, 401, "email or password")
    assert_problem(unknown, 401, "email or password")
    assert wrong.json() == unknown.json()


def test_current_user_needs_a_token(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.get("/api/user", headers=jake.headers)
    assert r.status_code == 200
    assert r.json()["user"]["email"] == jake.email
    assert_problem(api.client.get("/api/user"), 401, "token")


def test_update_user_changes_fields_and_clears_bio_and_image(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.put(
        "/api/user",
        json={"user": {"bio": "I like dragons", "image": "https://example.com/a.png"}},
        headers=jake.headers,
    )
    assert r.status_code == 200
    assert r.json()["user"]["bio"] == "I like dragons"
    r = api.client.put("/api/user", json={"user": {"bio": None, "image": ""}}, headers=jake.headers)
    assert r.status_code == 200
    assert r.json()["user"]["bio"] is None
    assert r.json()["user"]["image"] is None


def test_update_password_then_log_in_with_it(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.put(
        "/api/user", json={"user": {"password": "new-password"}}, headers=jake.headers
    )
    assert r.status_code == 200
    old = api.client.post(
        "/api/users/login", json={"user": {"email": jake.email, "password": jake.password}}
    )
    new = api.client.post(
        "/api/users/login", json={"user": {"email": jake.email, "password": "new-password"}}
    )
    assert old.status_code == 401
    assert new.status_code == 200


def test_update_to_a_taken_username_or_email_is_422(api: Api) -> None:
    api.register("taken", email="taken@example.com")
    jake = api.register("jake")
    r = api.client.put("/api/user", json={"user": {"username": "taken"}}, headers=jake.headers)
    assert_problem(r, 422, "username")
    r = api.client.put(
        "/api/user", json={"user": {"email": "TAKEN@example.com"}}, headers=jake.headers
    )
    assert_problem(r, 422, "email")


def test_update_keeping_own_username_is_fine(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.put(
        "/api/user", json={"user": {"username": "jake", "email": jake.email}}, headers=jake.headers
    )
    assert r.status_code == 200


def test_register_twice_is_422_for_both_fields(api: Api) -> None:
    api.register("jake", email="jake@example.com")
    r = api.client.post(
        "/api/users",
        json={"user": {"username": "jake", "email": "JAKE@example.com", "password": "password1"}},
    )
    body = assert_problem(r, 422)
    assert body["errors"] == {
        "username": ["has already been taken"],
        "email": ["has already been taken"],
    }


def test_register_validates_each_field(client: Any) -> None:
    r = client.post(
        "/api/users", json={"user": {"username": "a b", "email": "nope", "password": "short"}}
    )
    body = assert_problem(r, 422)
    assert set(body["errors"]) == {"username", "email", "password"}
    assert body["errors"]["password"] == ["is too short (minimum is 8 characters)"]


def test_register_requires_every_field(client: Any) -> None:
    r = client.post("/api/users", json={"user": {}})
    body = assert_problem(r, 422)
    assert body["errors"] == {f: ["can't be blank"] for f in ("username", "email", "password")}


def test_username_of_only_dots_is_refused(client: Any) -> None:
    r = client.post(
        "/api/users", json={"user": {"username": "..", "email": "a@b.c", "password": "password1"}}
    )
    assert_problem(r, 422, "username")


def test_update_with_bad_values_is_422(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.put(
        "/api/user",
        json={"user": {"image": "javascript:alert(1)", "password": "x"}},
        headers=jake.headers,
    )
    body = assert_problem(r, 422)
    assert set(body["errors"]) == {"image", "password"}
    assert_problem(api.client.put("/api/user", json={"user": {}}, headers=jake.headers), 422)


def test_update_user_needs_a_token(client: Any) -> None:
    assert_problem(client.put("/api/user", json={"user": {"bio": "x"}}), 401, "token")
