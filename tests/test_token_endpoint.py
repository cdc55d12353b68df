"""The OAuth2 password flow (RFC 6749, 4.3 and 5), as Swagger UI and OAuth2 clients use it."""

from __future__ import annotations

from typing import Any

import jwt
import pytest
from sqlalchemy import Connection, update

from db.models import User
from tests.helpers import Account, Api, assert_problem, authorization

URL = "/api/auth/token"


def _form(account: Account, **extra: str) -> dict[str, str]:
    return {"grant_type": "password", "username": account.username, "password": account.password,
            **extra}  # fmt: skip


def _refused(response: Any, error: str) -> dict[str, Any]:
    """RFC 6749 section 5.2: 400, JSON with `error` and `error_description`, never cached."""
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["Cache-Control"] == "no-store"
    body: dict[str, Any] = response.json()
    assert body["error"] == error, body
    assert body["error_description"]
    return body


@pytest.mark.parametrize("by", ["username", "email"])
def test_password_grant_gives_a_bearer_token(api: Api, by: str) -> None:
    jake = api.register("jake")
    form = _form(jake, username=getattr(jake, by))
    r = api.client.post(URL, data=form)
    assert r.status_code == 200, r.text
    assert r.headers["Cache-Control"] == "no-store"
    body = r.json()
    assert (body["token_type"], body["scope"], body["role"]) == ("bearer", "", "user")
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert body["expires_in"] == claims["exp"] - claims["iat"] > 0
    me = api.client.get("/api/user", headers=authorization(body["access_token"], "Bearer"))
    assert me.json()["user"]["username"] == "jake"


def test_what_swagger_ui_sends_is_accepted(api: Api) -> None:
    """Swagger UI adds the selected scopes (maybe none) and a client id and secret."""
    jake = api.register("jake")
    form = _form(jake, scope="", client_id="swagger", client_secret="")
    r = api.client.post(URL, data=form)
    assert r.status_code == 200, r.text


def test_an_admin_token_lists_the_role_scopes(api: Api, connection: Connection) -> None:
    boss = api.register("boss")
    connection.execute(update(User).where(User.username == "boss").values(role="admin"))
    body = api.client.post(URL, data=_form(boss)).json()
    assert body["role"] == "admin"
    assert body["scope"].split() == sorted(
        ["articles:moderate", "comments:moderate", "users:admin", "audit:read"]
    )
    narrowed = api.client.post(URL, data=_form(boss, scope="users:admin")).json()
    assert narrowed["scope"] == "users:admin"


def test_asking_for_scopes_the_role_lacks_grants_none_of_them(api: Api) -> None:
    jake = api.register("jake")
    body = api.client.post(URL, data=_form(jake, scope="users:admin")).json()
    assert body["scope"] == ""
    r = api.client.get("/api/admin/users", headers=authorization(body["access_token"], "Bearer"))
    assert_problem(r, 403, "scope")


def test_an_unknown_scope_is_invalid_scope(api: Api) -> None:
    jake = api.register("jake")
    _refused(api.client.post(URL, data=_form(jake, scope="root")), "invalid_scope")


def test_wrong_password_and_unknown_user_are_the_same_invalid_grant(api: Api) -> None:
    jake = api.register("jake")
    wrong = _refused(api.client.post(URL, data=_form(jake, password="nope-nope")), "invalid_grant")
    form = {"grant_type": "password", "username": "nobody", "password": "whatever"}
    unknown = _refused(api.client.post(URL, data=form), "invalid_grant")
    assert wrong == unknown


def test_a_suspended_account_gets_invalid_grant(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    connection.execute(update(User).where(User.username == "jake").values(status="suspended"))
    body = _refused(api.client.post(URL, data=_form(jake)), "invalid_grant")
    assert "suspended" in body["error_description"]


@pytest.mark.parametrize("grant", ["client_credentials", "authorization_code", "refresh_token"])
def test_other_grant_types_are_unsupported(api: Api, grant: str) -> None:
    jake = api.register("jake")
    _refused(api.client.post(URL, data=_form(jake, grant_type=grant)), "unsupported_grant_type")


@pytest.mark.parametrize("missing", ["grant_type", "username", "password"])
def test_a_missing_field_is_invalid_request(api: Api, missing: str) -> None:
    jake = api.register("jake")
    form = {k: v for k, v in _form(jake).items() if k != missing}
    body = _refused(api.client.post(URL, data=form), "invalid_request")
    assert missing in body["error_description"]


def test_an_overlong_field_is_invalid_request(api: Api) -> None:
    jake = api.register("jake")
    _refused(api.client.post(URL, data=_form(jake, password="x" * 129)), "invalid_request")


def test_an_empty_body_is_invalid_request(client: Any) -> None:
    r = client.post(URL, content=b"", headers={"Content-Type": "application/x-www-form-urlencoded"})
    _refused(r, "invalid_request")


def test_a_json_body_is_415(api: Api) -> None:
    jake = api.register("jake")
    body = assert_problem(api.client.post(URL, json=_form(jake)), 415, "body")
    # the message names what the endpoint takes, as the detail does
    assert body["errors"]["body"] == ["must be application/x-www-form-urlencoded"]


def test_the_token_endpoint_is_public_and_ignores_a_bad_token(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.post(URL, data=_form(jake), headers=authorization("garbage", "Bearer"))
    assert r.status_code == 200, r.text
