"""Roles and scopes as the spec declares them, enforced before validation, for every scheme."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, select

from db.models import AuditEntry
from shell.authorization import ROLE_SCOPES, SCOPES
from tests.conftest import Grant
from tests.helpers import (
    SPEC,
    Account,
    Api,
    assert_problem,
    authorization,
    example_body,
    spec_operations,
)

SCOPED = [
    pytest.param(path, method, op, id=op["operationId"])
    for path, method, op in spec_operations()
    if op.get("x-required-scopes")
]


def _least_role(scopes: set[str]) -> str:
    """The first role, from the least privileged up, that grants every scope."""
    return next(role for role, granted in ROLE_SCOPES.items() if scopes <= granted)


def _request(
    api: Api, path: str, method: str, op: dict[str, Any], target: Account, **kw: Any
) -> Any:
    url = "/api" + path.replace("{username}", target.username)
    body = kw.pop("json", example_body(op))
    return api.client.request(method.upper(), url, json=body, **kw)


def test_scopes_are_declared_once_and_agree() -> None:
    """Each scoped operation lists the same scopes on the OAuth2 scheme as it enforces, every
    scope used is declared on the scheme and granted by some role, and every operation that
    takes a token also takes the OAuth2 password-flow token."""
    declared = set(SPEC["components"]["securitySchemes"]["OAuth2"]["flows"]["password"]["scopes"])
    assert declared == SCOPES == set().union(*ROLE_SCOPES.values())
    for _path, _method, op in spec_operations():
        schemes = {name: scopes for alt in op.get("security", []) for name, scopes in alt.items()}
        required = op.get("x-required-scopes", [])
        moderator = op.get("x-moderator-scopes", [])
        assert set(required) | set(moderator) <= declared, op["operationId"]
        if "Bearer" in schemes:
            assert schemes.get("OAuth2") == required, op["operationId"]
            assert "403" in op["responses"], op["operationId"]
        else:
            assert not required, op["operationId"]
            assert not moderator, op["operationId"]


def test_the_admin_operations_all_need_a_scope() -> None:
    """An operation added under /admin without its guard fails here."""
    admin = [op["operationId"] for path, _m, op in spec_operations() if path.startswith("/admin")]
    assert len(admin) == 6
    scoped = [op["operationId"] for _p, _m, op in spec_operations() if op.get("x-required-scopes")]
    assert set(admin) <= set(scoped)


@pytest.mark.parametrize(("path", "method", "op"), SCOPED)
def test_scoped_operation_refuses_anonymous_and_plain_users_and_serves_the_role(
    api: Api, grant: Grant, path: str, method: str, op: dict[str, Any]
) -> None:
    target = api.register()
    required = set(op["x-required-scopes"])
    plain = api.register()
    r = _request(api, path, method, op, target)
    assert_problem(r, 401, "token")
    r = _request(api, path, method, op, target, headers=plain.headers)
    body = assert_problem(r, 403, "scope")
    assert all(any(s in m for m in body["errors"]["scope"]) for s in required), body
    # a role that grants the scope is served, whichever scheme carries the token
    boss = grant(api.register(), _least_role(required))
    for scheme in ("Token", "Bearer"):
        headers = authorization(boss.token, scheme)
        r = _request(api, path, method, op, target, headers=headers)
        assert 200 <= r.status_code < 300, (scheme, r.text)


@pytest.mark.parametrize(("path", "method", "op"), SCOPED)
def test_a_missing_scope_is_decided_before_validation(
    api: Api, path: str, method: str, op: dict[str, Any]
) -> None:
    """A caller without the scope learns nothing from validation: bad parameters and bodies
    get the same 403."""
    plain, target = api.register(), api.register()
    url = "/api" + path.replace("{username}", "!" * 80) + "?limit=0&offset=-1"
    r = api.client.request(method.upper(), url, content=b"{not json", headers={
        **plain.headers, "Content-Type": "application/json"})  # fmt: skip
    assert_problem(r, 403, "scope")
    del target


def test_a_moderator_lacks_the_admin_scopes(api: Api, grant: Grant) -> None:
    moderator = grant(api.register(), "moderator")
    r = api.client.get("/api/admin/users", headers=moderator.headers)
    body = assert_problem(r, 403, "scope")
    assert body["errors"]["scope"] == ["users:admin is required"]


# --- moderation ------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["moderator", "admin"])
def test_moderators_delete_any_article_and_it_is_audited(
    api: Api, grant: Grant, connection: Connection, role: str
) -> None:
    author, moderator = api.register(), grant(api.register(), role)
    article = api.article(author, title="Spam spam spam")
    r = api.client.delete(f"/api/articles/{article['slug']}?reason=spam", headers=moderator.headers)
    assert r.status_code == 204, r.text
    assert api.client.get(f"/api/articles/{article['slug']}").status_code == 404
    entry = connection.execute(
        select(AuditEntry.action, AuditEntry.reason, AuditEntry.subject, AuditEntry.actor_id)
    ).one()
    assert entry[:3] == ("article.delete", "spam", f"{article['slug']}: Spam spam spam")


@pytest.mark.parametrize("role", ["moderator", "admin"])
def test_moderators_delete_any_comment_and_it_is_audited(
    api: Api, grant: Grant, connection: Connection, role: str
) -> None:
    author, commenter, moderator = api.register(), api.register(), grant(api.register(), role)
    slug = api.article(author)["slug"]
    comment = api.comment(commenter, slug, "buy my stuff")
    r = api.client.delete(
        f"/api/articles/{slug}/comments/{comment['id']}", headers=moderator.headers
    )
    assert r.status_code == 204, r.text
    assert api.client.get(f"/api/articles/{slug}/comments").json()["comments"] == []
    action = connection.execute(select(AuditEntry.action).order_by(AuditEntry.id.desc())).scalar()
    assert action == "comment.delete"


def test_a_plain_user_still_cannot_delete_what_others_wrote(api: Api) -> None:
    author, other = api.register(), api.register()
    slug = api.article(author)["slug"]
    comment = api.comment(author, slug)
    r = api.client.delete(f"/api/articles/{slug}/comments/{comment['id']}", headers=other.headers)
    assert_problem(r, 403, "comment")
    assert_problem(
        api.client.delete(f"/api/articles/{slug}", headers=other.headers), 403, "article"
    )


def test_deleting_your_own_article_is_not_moderation(
    api: Api, grant: Grant, connection: Connection
) -> None:
    moderator = grant(api.register(), "moderator")
    slug = api.article(moderator)["slug"]
    assert api.client.delete(f"/api/articles/{slug}", headers=moderator.headers).status_code == 204
    assert connection.execute(select(AuditEntry)).first() is None


def test_moderators_may_not_edit_what_others_wrote(api: Api, grant: Grant) -> None:
    author, moderator = api.register(), grant(api.register(), "moderator")
    slug = api.article(author)["slug"]
    r = api.client.put(
        f"/api/articles/{slug}", json={"article": {"body": "mine now"}}, headers=moderator.headers
    )
    assert_problem(r, 403, "article")


def test_a_narrowed_token_cannot_moderate(api: Api, grant: Grant) -> None:
    """A token issued for fewer scopes than the role grants does only what it names."""
    author = api.register()
    admin = grant(api.register(), "admin")
    slug = api.article(author)["slug"]
    form = {"grant_type": "password", "username": admin.username, "password": admin.password,
            "scope": "audit:read"}  # fmt: skip
    token = api.client.post("/api/auth/token", data=form).json()["access_token"]
    r = api.client.delete(f"/api/articles/{slug}", headers=authorization(token, "Bearer"))
    assert_problem(r, 403, "article")
    assert api.client.get("/api/admin/audit", headers=authorization(token)).status_code == 200
    assert_problem(api.client.get("/api/admin/users", headers=authorization(token)), 403, "scope")


def test_role_is_read_on_every_request(api: Api, grant: Grant) -> None:
    """A role changed in the database holds from the next request, with the same token."""
    user = api.register()
    assert_problem(api.client.get("/api/admin/users", headers=user.headers), 403, "scope")
    grant(user, "admin")
    assert api.client.get("/api/admin/users", headers=user.headers).status_code == 200
    grant(user, "user")
    assert_problem(api.client.get("/api/admin/users", headers=user.headers), 403, "scope")


def test_current_user_and_login_show_the_role(api: Api, grant: Grant) -> None:
    user = api.register()
    assert api.client.get("/api/user", headers=user.headers).json()["user"]["role"] == "user"
    grant(user, "moderator")
    r = api.client.post(
        "/api/users/login", json={"user": {"email": user.email, "password": user.password}}
    )
    assert r.json()["user"]["role"] == "moderator"
