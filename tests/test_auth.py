"""How callers authenticate: the JWT, the Authorization header and optional authentication."""

from __future__ import annotations

import base64
import json
import time
import warnings
from typing import Any

import jwt
import pytest
from jwt.warnings import InsecureKeyLengthWarning
from sqlalchemy import Connection, text

from settings import Settings
from tests.helpers import Account, Api, assert_problem, forge

OPTIONAL_AUTH_PATHS = [
    "/api/articles",
    "/api/articles/{slug}",
    "/api/profiles/{username}",
    "/api/articles/{slug}/comments",
]


def _sub(account: Account) -> str:
    sub: str = jwt.decode(account.token, options={"verify_signature": False})["sub"]
    return sub


def _claims(settings: Settings, subject: str, /, **changes: Any) -> dict[str, Any]:
    """Valid claims for `subject`; a change to None drops that claim."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "sub": subject,
        "iat": now,
        "exp": now + 3600,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _token_header(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}"}


def _expired(settings: Settings, account: Account) -> str:
    now = int(time.time())
    return forge(
        _claims(settings, _sub(account), iat=now - 7200, exp=now - 3600), settings.secret_key
    )


def _forge_hs512(claims: dict[str, Any], secret: str) -> str:
    """HS512 with the test secret, which PyJWT finds short for that algorithm (and says so)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)
        return forge(claims, secret, "HS512")


def _alg_none(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


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
    token = r.json()["user"]["token"]
    for t in (token, jake.token):
        me = api.client.get("/api/user", headers=_token_header(t))
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


def test_expired_token_is_401_saying_so(api: Api, settings: Settings) -> None:
    jake = api.register("jake")
    for scheme in ("Token", "Bearer"):
        headers = {"Authorization": f"{scheme} {_expired(settings, jake)}"}
        body = _refused(api.client.get("/api/user", headers=headers))
        assert body["errors"]["token"] == ["has expired"]


def test_token_signed_with_another_secret_is_401(api: Api, settings: Settings) -> None:
    jake = api.register("jake")
    token = forge(_claims(settings, _sub(jake)), "another-secret-" + "y" * 40)
    _refused(api.client.get("/api/user", headers=_token_header(token)))
    _refused(api.client.get("/api/user", headers={"Authorization": f"Bearer {token}"}))


def test_unsigned_alg_none_token_is_401(api: Api, settings: Settings) -> None:
    jake = api.register("jake")
    token = _alg_none(_claims(settings, _sub(jake)))
    _refused(api.client.get("/api/user", headers=_token_header(token)))
    _refused(api.client.get("/api/user", headers={"Authorization": f"Bearer {token}"}))


def test_other_algorithm_with_the_right_secret_is_401(api: Api, settings: Settings) -> None:
    jake = api.register("jake")
    for token in (
        forge(_claims(settings, _sub(jake)), settings.secret_key, "HS384"),
        _forge_hs512(_claims(settings, _sub(jake)), settings.secret_key),
    ):
        _refused(api.client.get("/api/user", headers=_token_header(token)))
        _refused(api.client.get("/api/user", headers={"Authorization": f"Bearer {token}"}))


def test_a_correctly_forged_token_is_accepted(api: Api, settings: Settings) -> None:
    """The control for the refusals around it: the same claims, untouched, work."""
    jake = api.register("jake")
    token = forge(_claims(settings, _sub(jake)), settings.secret_key)
    r = api.client.get("/api/user", headers=_token_header(token))
    assert r.status_code == 200
    assert r.json()["user"]["username"] == "jake"


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "iss", "aud"])
def test_token_missing_a_claim_is_401(api: Api, settings: Settings, claim: str) -> None:
    jake = api.register("jake")
    token = forge(_claims(settings, _sub(jake), **{claim: None}), settings.secret_key)
    _refused(api.client.get("/api/user", headers=_token_header(token)))


@pytest.mark.parametrize(
    "changes",
    [{"iss": "someone-else"}, {"aud": "someone-else"}, {"iss": ""}, {"aud": ["other"]}],
    ids=["issuer", "audience", "empty-issuer", "audience-list"],
)
def test_token_for_another_issuer_or_audience_is_401(
    api: Api, settings: Settings, changes: dict[str, Any]
) -> None:
    jake = api.register("jake")
    token = forge(_claims(settings, _sub(jake), **changes), settings.secret_key)
    _refused(api.client.get("/api/user", headers=_token_header(token)))


def test_token_not_yet_valid_is_401(api: Api, settings: Settings) -> None:
    jake = api.register("jake")
    later = int(time.time()) + 3600
    token = forge(_claims(settings, _sub(jake), nbf=later), settings.secret_key)
    _refused(api.client.get("/api/user", headers=_token_header(token)))


@pytest.mark.parametrize("sub", ["jake", "1.0", "-1", " 1", "0x1", ""])
def test_token_whose_subject_is_not_a_number_is_401(api: Api, settings: Settings, sub: str) -> None:
    api.register("jake")
    token = forge(_claims(settings, sub), settings.secret_key)
    _refused(api.client.get("/api/user", headers=_token_header(token)))


def test_token_of_a_user_that_does_not_exist_is_401(api: Api, settings: Settings) -> None:
    api.register("jake")
    token = forge(_claims(settings, "999999"), settings.secret_key)
    _refused(api.client.get("/api/user", headers=_token_header(token)))
    _refused(api.client.put("/api/user", json={"user": {"bio": "x"}}, headers=_token_header(token)))


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


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    REQUIRED_AUTH_OPERATIONS,
    ids=[f"{m} {p}" for m, p, _ in REQUIRED_AUTH_OPERATIONS],
)
def test_every_required_operation_refuses_a_token_of_a_user_that_does_not_exist(
    api: Api, settings: Settings, method: str, path: str, payload: Any
) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    comment = api.comment(jake, slug)
    orphan = forge(_claims(settings, "999999"), settings.secret_key)
    url = path.format(slug=slug, comment=comment["id"])
    r = api.client.request(method, url, json=payload, headers=_token_header(orphan))
    _refused(r)


@pytest.mark.parametrize(
    ("method", "path", "payload"),
    REQUIRED_AUTH_OPERATIONS,
    ids=[f"{m} {p}" for m, p, _ in REQUIRED_AUTH_OPERATIONS],
)
def test_every_required_operation_refuses_missing_and_bad_tokens(
    api: Api, settings: Settings, method: str, path: str, payload: Any
) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    comment = api.comment(jake, slug)
    url = path.format(slug=slug, comment=comment["id"])
    for headers in (
        {},
        {"Authorization": "Token junk"},
        {"Authorization": "Bearer junk"},
        _token_header(_expired(settings, jake)),
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
def test_login_ignores_a_stale_authorization_header(
    api: Api, settings: Settings, header: str
) -> None:
    jake = api.register("jake")
    if header == "expired":
        header = f"Token {_expired(settings, jake)}"
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
def test_optional_operations_refuse_an_expired_token(
    api: Api, settings: Settings, scheme: str
) -> None:
    jake, paths = _optional_paths(api)
    headers = {"Authorization": f"{scheme} {_expired(settings, jake)}"}
    for path in paths:
        r = api.client.get(path, headers=headers)
        assert r.status_code == 401, (path, r.status_code, r.text)
        assert _refused(r)["errors"]["token"] == ["has expired"]


def test_optional_operations_refuse_a_forged_token(api: Api, settings: Settings) -> None:
    jake, paths = _optional_paths(api)
    foreign = forge(_claims(settings, _sub(jake)), "another-secret-" + "y" * 40)
    hs512 = _forge_hs512(_claims(settings, _sub(jake)), settings.secret_key)
    for token in (foreign, hs512, _alg_none(_claims(settings, _sub(jake)))):
        for path in paths:
            r = api.client.get(path, headers=_token_header(token))
            assert r.status_code == 401, (path, r.status_code, r.text)


def test_optional_operations_refuse_a_token_of_a_user_that_does_not_exist(
    api: Api, settings: Settings
) -> None:
    """A well-signed token whose user is gone is invalid: 401, not an anonymous answer."""
    _, paths = _optional_paths(api)
    orphan = forge(_claims(settings, "999999"), settings.secret_key)
    for path in paths:
        r = api.client.get(path, headers=_token_header(orphan))
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
