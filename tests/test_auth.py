"""How callers authenticate: the JWT, the Authorization header and optional authentication."""

from __future__ import annotations

import base64
import json
import time
import warnings
from dataclasses import replace
from typing import Any

import pytest
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import Connection, text

from app import create_app
from settings import Settings
from tests.helpers import (
    OTHER_SECRET,
    Account,
    Api,
    assert_problem,
    authorization,
    claims,
    expired_token,
    subject,
    token,
)

OPTIONAL_AUTH_PATHS = [
    "/api/articles",
    "/api/articles/{slug}",
    "/api/profiles/{username}",
    "/api/articles/{slug}/comments",
]


def _hs512_token(sub: str) -> str:
    """HS512 with the test secret, which PyJWT finds short for that algorithm (and says so)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return token(sub, algorithm="HS512")


def _alg_none(payload: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def _refused(response: Any) -> dict[str, Any]:
    body = assert_problem(response, 401, "token")
    assert response.headers.get("WWW-Authenticate")
    return body


# --- the accepted header forms -------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "token", "bearer", "TOKEN", "BEARER"])
def test_both_schemes_work_on_a_required_operation(api: Api, scheme: str) -> None:
    jake = api.register("jake")
    r = api.client.get("/api/user", headers={"Authorization": f"{scheme} {jake.token}"})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["username"] == "jake"


@pytest.mark.parametrize("scheme", ["Token", "Bearer", "token", "bearer"])
def test_both_schemes_personalise_an_optional_operation(api: Api, scheme: str) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    api.follow(alice, jake)
    headers = {"Authorization": f"{scheme} {alice.token}"}
    r = api.client.get("/api/profiles/jake", headers=headers)
    assert r.status_code == 200, r.text
    assert r.json()["profile"]["following"] is True


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_both_schemes_work_on_a_write(api: Api, scheme: str) -> None:
    jake = api.register("jake")
    r = api.client.post(
        "/api/articles",
        json={"article": {"title": "Dragons", "description": "d", "body": "b"}},
        headers={"Authorization": f"{scheme} {jake.token}"},
    )
    assert r.status_code == 201, r.text
    assert r.json()["article"]["author"]["username"] == "jake"


def test_extra_spaces_around_the_token_are_tolerated(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.get("/api/user", headers={"Authorization": f"Token  {jake.token} "})
    assert r.status_code == 200, r.text


def test_login_and_register_tokens_both_work(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.post(
        "/api/users/login", json={"user": {"email": jake.email, "password": jake.password}}
    )
    assert r.status_code == 200
    login_token = r.json()["user"]["token"]
    for t in (login_token, jake.token):
        me = api.client.get("/api/user", headers=authorization(t))
        assert me.status_code == 200
        assert me.json()["user"]["username"] == "jake"


def test_token_survives_a_username_change(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.put("/api/user", json={"user": {"username": "jacob"}}, headers=jake.headers)
    assert r.status_code == 200
    me = api.client.get("/api/user", headers=jake.headers)
    assert me.status_code == 200
    assert me.json()["user"]["username"] == "jacob"


# --- refused credentials -------------------------------------------------------------------


def test_missing_header_is_401_with_token_error(client: Any) -> None:
    body = _refused(client.get("/api/user"))
    assert body["status"] == 401


@pytest.mark.parametrize(
    "header",
    [
        "",
        "   ",
        "Token",
        "Token ",
        "Bearer",
        "Bearer ",
        "garbage",
        "Token not-a-jwt",
        "Bearer not-a-jwt",
        "Token a.b.c",
        "Basic dXNlcjpwYXNzd29yZA==",
        "Digest username=jake",
        "JWT {token}",
        "{token}",
        "Token {token}x",
        "Token {token} {token}",
    ],
)
def test_malformed_authorization_is_401(api: Api, header: str) -> None:
    jake = api.register("jake")
    r = api.client.get("/api/user", headers={"Authorization": header.format(token=jake.token)})
    _refused(r)


def test_expired_token_is_401_saying_so(api: Api) -> None:
    jake = api.register("jake")
    for scheme in ("Token", "Bearer"):
        headers = {"Authorization": f"{scheme} {expired_token(jake)}"}
        body = _refused(api.client.get("/api/user", headers=headers))
        assert body["errors"]["token"] == ["has expired"]


def test_token_signed_with_another_secret_is_401(api: Api) -> None:
    jake = api.register("jake")
    forged = token(subject(jake), secret=OTHER_SECRET)
    _refused(api.client.get("/api/user", headers=authorization(forged)))
    _refused(api.client.get("/api/user", headers=authorization(forged, "Bearer")))


def test_unsigned_alg_none_token_is_401(api: Api) -> None:
    jake = api.register("jake")
    forged = _alg_none(claims(subject(jake)))
    _refused(api.client.get("/api/user", headers=authorization(forged)))
    _refused(api.client.get("/api/user", headers=authorization(forged, "Bearer")))


def test_other_algorithm_with_the_right_secret_is_401(api: Api) -> None:
    jake = api.register("jake")
    for forged in (
        token(subject(jake), algorithm="HS384"),
        _hs512_token(subject(jake)),
    ):
        _refused(api.client.get("/api/user", headers=authorization(forged)))
        _refused(api.client.get("/api/user", headers=authorization(forged, "Bearer")))


def test_a_correctly_forged_token_is_accepted(api: Api) -> None:
    """The control for the refusals around it: the same claims, untouched, work."""
    jake = api.register("jake")
    forged = token(subject(jake))
    r = api.client.get("/api/user", headers=authorization(forged))
    assert r.status_code == 200
    assert r.json()["user"]["username"] == "jake"


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "iss", "aud"])
def test_token_missing_a_claim_is_401(api: Api, claim: str) -> None:
    jake = api.register("jake")
    dropped: dict[str, Any] = {claim: None}
    forged = token(subject(jake), **dropped)
    _refused(api.client.get("/api/user", headers=authorization(forged)))


@pytest.mark.parametrize(
    "changes",
    [{"iss": "someone-else"}, {"aud": "someone-else"}, {"iss": ""}, {"aud": ["other"]}],
    ids=["issuer", "audience", "empty-issuer", "audience-list"],
)
def test_token_for_another_issuer_or_audience_is_401(api: Api, changes: dict[str, Any]) -> None:
    jake = api.register("jake")
    forged = token(subject(jake), **changes)
    _refused(api.client.get("/api/user", headers=authorization(forged)))


def test_token_not_yet_valid_is_401(api: Api) -> None:
    jake = api.register("jake")
    later = int(time.time()) + 3600
    forged = token(subject(jake), nbf=later)
    _refused(api.client.get("/api/user", headers=authorization(forged)))


@pytest.mark.parametrize("sub", ["jake", "1.0", "-1", " 1", "0x1", ""])
def test_token_whose_subject_is_not_a_number_is_401(api: Api, sub: str) -> None:
    api.register("jake")
    forged = token(sub)
    _refused(api.client.get("/api/user", headers=authorization(forged)))


def test_token_of_a_user_that_does_not_exist_is_401(api: Api) -> None:
    api.register("jake")
    forged = token("999999")
    _refused(api.client.get("/api/user", headers=authorization(forged)))
    _refused(
        api.client.put("/api/user", json={"user": {"bio": "x"}}, headers=authorization(forged))
    )


REQUIRED_AUTH_OPERATIONS = [
    ("GET", "/api/user", None),
    ("PUT", "/api/user", {"user": {"bio": "x"}}),
    ("POST", "/api/profiles/jake/follow", None),
    ("DELETE", "/api/profiles/jake/follow", None),
    ("GET", "/api/articles/feed", None),
    ("POST", "/api/articles", {"article": {"title": "t", "description": "d", "body": "b"}}),
    ("PUT", "/api/articles/{slug}", {"article": {"body": "changed"}}),
    ("DELETE", "/api/articles/{slug}", None),
    ("POST", "/api/articles/{slug}/comments", {"comment": {"body": "hi"}}),
    ("DELETE", "/api/articles/{slug}/comments/{comment}", None),
    ("POST", "/api/articles/{slug}/favorite", None),
    ("DELETE", "/api/articles/{slug}/favorite", None),
]


each_required_operation = pytest.mark.parametrize(
    ("method", "path", "payload"),
    REQUIRED_AUTH_OPERATIONS,
    ids=[f"{m} {p}" for m, p, _ in REQUIRED_AUTH_OPERATIONS],
)


def _required_operation_url(api: Api, path: str) -> tuple[Account, str, str]:
    """Jake, his article's slug and the URL of `path` on it and on a comment of his."""
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    comment = api.comment(jake, slug)
    return jake, slug, path.format(slug=slug, comment=comment["id"])


@each_required_operation
def test_every_required_operation_refuses_a_token_of_a_user_that_does_not_exist(
    api: Api, method: str, path: str, payload: Any
) -> None:
    _, _, url = _required_operation_url(api, path)
    orphan = token("999999")
    r = api.client.request(method, url, json=payload, headers=authorization(orphan))
    _refused(r)


@each_required_operation
def test_every_required_operation_refuses_missing_and_bad_tokens(
    api: Api, method: str, path: str, payload: Any
) -> None:
    jake, slug, url = _required_operation_url(api, path)
    for headers in (
        {},
        {"Authorization": "Token junk"},
        {"Authorization": "Bearer junk"},
        authorization(expired_token(jake)),
    ):
        _refused(api.client.request(method, url, json=payload, headers=headers))
    # none of it touched the article or its comment
    assert api.client.get(f"/api/articles/{slug}").status_code == 200
    assert len(api.client.get(f"/api/articles/{slug}/comments").json()["comments"]) == 1


def test_www_authenticate_names_both_schemes(client: Any) -> None:
    for headers in ({}, {"Authorization": "Token junk"}, {"Authorization": "Bearer junk"}):
        r = client.get("/api/user", headers=headers)
        assert r.status_code == 401
        challenge = r.headers["WWW-Authenticate"]
        assert "Bearer" in challenge
        assert "Token" in challenge


# --- operations without security -----------------------------------------------------------


@pytest.mark.parametrize("header", ["Token junk", "Bearer junk", "Basic abc", "expired"])
def test_login_ignores_a_stale_authorization_header(api: Api, header: str) -> None:
    jake = api.register("jake")
    if header == "expired":
        header = f"Token {expired_token(jake)}"
    r = api.client.post(
        "/api/users/login",
        json={"user": {"email": jake.email, "password": jake.password}},
        headers={"Authorization": header},
    )
    assert r.status_code == 200, r.text
    assert r.json()["user"]["username"] == "jake"


def test_register_and_tags_ignore_a_stale_authorization_header(client: Any) -> None:
    junk = {"Authorization": "Token junk"}
    r = client.post(
        "/api/users",
        json={"user": {"username": "jake", "email": "jake@example.com", "password": "password1"}},
        headers=junk,
    )
    assert r.status_code == 201, r.text
    r = client.get("/api/tags", headers=junk)
    assert r.status_code == 200, r.text


# --- optional authentication ---------------------------------------------------------------


def _optional_paths(api: Api) -> tuple[Account, list[str]]:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    api.comment(jake, slug)
    return jake, [p.format(slug=slug, username="jake") for p in OPTIONAL_AUTH_PATHS]


def test_optional_operations_work_anonymously(api: Api) -> None:
    _, paths = _optional_paths(api)
    for path in paths:
        r = api.client.get(path)
        assert r.status_code == 200, (path, r.text)


@pytest.mark.parametrize(
    "header",
    ["Token junk", "Bearer junk", "Token a.b.c", "Basic dXNlcjpwYXNzd29yZA==", "garbage", "Token"],
)
def test_optional_operations_refuse_an_invalid_token(api: Api, header: str) -> None:
    _, paths = _optional_paths(api)
    for path in paths:
        r = api.client.get(path, headers={"Authorization": header})
        assert r.status_code == 401, (path, r.status_code, r.text)
        _refused(r)


@pytest.mark.parametrize("scheme", ["Token", "Bearer"])
def test_optional_operations_refuse_an_expired_token(api: Api, scheme: str) -> None:
    jake, paths = _optional_paths(api)
    headers = {"Authorization": f"{scheme} {expired_token(jake)}"}
    for path in paths:
        r = api.client.get(path, headers=headers)
        assert r.status_code == 401, (path, r.status_code, r.text)
        assert _refused(r)["errors"]["token"] == ["has expired"]


def test_optional_operations_refuse_a_forged_token(api: Api) -> None:
    jake, paths = _optional_paths(api)
    foreign = token(subject(jake), secret=OTHER_SECRET)
    hs512 = _hs512_token(subject(jake))
    for forged in (foreign, hs512, _alg_none(claims(subject(jake)))):
        for path in paths:
            r = api.client.get(path, headers=authorization(forged))
            assert r.status_code == 401, (path, r.status_code, r.text)


def test_optional_operations_refuse_a_token_of_a_user_that_does_not_exist(api: Api) -> None:
    """A well-signed token whose user is gone is invalid: 401, not an anonymous answer."""
    _, paths = _optional_paths(api)
    orphan = token("999999")
    for path in paths:
        r = api.client.get(path, headers=authorization(orphan))
        assert r.status_code == 401, (path, r.status_code, r.text)
        _refused(r)


def test_optional_operations_accept_a_valid_token(api: Api) -> None:
    jake, paths = _optional_paths(api)
    for scheme in ("Token", "Bearer"):
        for path in paths:
            r = api.client.get(path, headers={"Authorization": f"{scheme} {jake.token}"})
            assert r.status_code == 200, (path, r.text)


def test_feed_needs_a_token(client: Any) -> None:
    _refused(client.get("/api/articles/feed"))
    _refused(client.get("/api/articles/feed", headers={"Authorization": "Token junk"}))


# --- passwords -----------------------------------------------------------------------------


def test_password_is_stored_hashed_with_argon2(api: Api, connection: Connection) -> None:
    api.register("jake", password="correct horse battery")
    stored = connection.execute(
        text("SELECT password_hash FROM users WHERE username = :u"), {"u": "jake"}
    ).scalar_one()
    assert stored.startswith("$argon2")
    assert "correct horse battery" not in stored


def test_same_password_gets_different_hashes(api: Api, connection: Connection) -> None:
    api.register("jake", password="password1")
    api.register("alice", password="password1")
    hashes = connection.execute(
        text("SELECT password_hash FROM users WHERE username IN ('jake', 'alice')")
    ).scalars()
    assert len(set(hashes)) == 2


def test_changed_password_is_stored_hashed(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    r = api.client.put(
        "/api/user", json={"user": {"password": "brand-new-secret"}}, headers=jake.headers
    )
    assert r.status_code == 200
    stored = connection.execute(
        text("SELECT password_hash FROM users WHERE username = 'jake'")
    ).scalar_one()
    assert stored.startswith("$argon2")
    assert "brand-new-secret" not in stored


def _stored_hash(connection: Connection, username: str) -> str:
    return str(
        connection.execute(
            text("SELECT password_hash FROM users WHERE username = :u"), {"u": username}
        ).scalar_one()
    )


def test_passwords_are_hashed_with_the_configured_argon2_cost(
    settings: Settings, connection: Connection
) -> None:
    tuned = replace(settings, argon2_time_cost=2, argon2_memory_kib=64, argon2_parallelism=2)
    with create_app(tuned, bind=connection).test_client() as client:
        Api(client).register("jake")
    assert _stored_hash(connection, "jake").startswith("$argon2id$v=19$m=64,t=2,p=2$")


def test_logging_in_rehashes_a_password_stored_with_an_older_cost(
    api: Api, settings: Settings, connection: Connection
) -> None:
    jake = api.register("jake", password="correct horse battery")
    old = _stored_hash(connection, "jake")
    raised = replace(settings, argon2_time_cost=2, argon2_memory_kib=32, argon2_parallelism=1)
    with create_app(raised, bind=connection).test_client() as client:
        body = {"user": {"email": jake.email, "password": "correct horse battery"}}
        assert client.post("/api/users/login", json=body).status_code == 200
        new = _stored_hash(connection, "jake")
        assert old.startswith("$argon2id$v=19$m=8,t=1,p=1$")
        assert new.startswith("$argon2id$v=19$m=32,t=2,p=1$")
        # and the new hash is the one that now lets jake in
        assert client.post("/api/users/login", json=body).status_code == 200
        assert _stored_hash(connection, "jake") == new
