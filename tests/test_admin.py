"""Administration: users, roles, suspension, revocation and the audit log."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Connection, update

from db.models import User
from tests.helpers import Account, Api, assert_problem, authorization


@pytest.fixture
def admin(api: Api, connection: Connection) -> Account:
    account = api.register("boss")
    connection.execute(update(User).where(User.username == "boss").values(role="admin"))
    return account


def _login(api: Api, account: Account, password: str | None = None) -> Any:
    credentials = {"email": account.email, "password": password or account.password}
    return api.client.post("/api/users/login", json={"user": credentials})


def _audit(api: Api, admin: Account) -> list[dict[str, Any]]:
    r = api.client.get("/api/admin/audit", headers=admin.headers)
    assert r.status_code == 200, r.text
    entries: list[dict[str, Any]] = r.json()["entries"]
    return entries


# --- listing and inspecting ----------------------------------------------------------------


def test_list_users_pages_in_join_order_with_the_total(api: Api, admin: Account) -> None:
    names = [api.register(f"member{i}").username for i in range(5)]
    r = api.client.get("/api/admin/users?limit=2&offset=1", headers=admin.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["usersCount"] == 6
    assert [u["username"] for u in body["users"]] == names[:2]
    last = api.client.get("/api/admin/users?offset=5", headers=admin.headers).json()
    assert [u["username"] for u in last["users"]] == [names[-1]]
    empty = api.client.get("/api/admin/users?offset=50", headers=admin.headers).json()
    assert empty == {"users": [], "usersCount": 6}


def test_search_by_username_or_email_prefix(api: Api, admin: Account) -> None:
    api.register("alice", email="alice@example.com")
    api.register("alicia", email="zed@example.com")
    api.register("bob", email="ali@example.org")
    api.register("under_score", email="u@example.com")
    api.register("underXscore", email="v@example.com")

    def found(q: str) -> list[str]:
        r = api.client.get("/api/admin/users", params={"q": q}, headers=admin.headers)
        assert r.status_code == 200, r.text
        assert r.json()["usersCount"] == len(r.json()["users"])
        return [u["username"] for u in r.json()["users"]]

    assert found("ali") == ["alice", "alicia", "bob"]
    assert found("ALI") == ["alice", "alicia", "bob"]  # case-insensitively
    assert found("under_") == ["under_score"]  # "_" is a letter here, not a wildcard
    assert found("%") == []
    assert found("nobody") == []


def test_get_one_user_with_role_status_and_counts(api: Api, admin: Account) -> None:
    jake, fan = api.register("jake"), api.register("fan")
    slug = api.article(jake)["slug"]
    api.favorite(jake, slug)
    api.comment(jake, slug)
    api.follow(fan, jake)
    api.follow(jake, fan)
    r = api.client.get("/api/admin/users/jake", headers=admin.headers)
    assert r.status_code == 200, r.text
    user = r.json()["user"]
    assert (user["role"], user["status"], user["suspensionReason"]) == ("user", "active", None)
    assert user["email"] == jake.email
    assert user["counts"] == {
        "articles": 1, "favorites": 1, "comments": 1, "followers": 1, "following": 1
    }  # fmt: skip


def test_unknown_user_is_404(api: Api, admin: Account) -> None:
    for r in (
        api.client.get("/api/admin/users/ghost", headers=admin.headers),
        api.client.put("/api/admin/users/ghost/role", json={"role": "user"}, headers=admin.headers),
        api.client.delete("/api/admin/users/ghost/suspension", headers=admin.headers),
    ):
        assert_problem(r, 404, "profile")


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/role", {"role": "root"}, "role"),
        ("/role", {}, "role"),
        ("/suspension", {"reason": ""}, "reason"),
        ("/suspension", {"reason": "x" * 501}, "reason"),
        ("/suspension", {}, "reason"),
    ],
)
def test_bad_admin_bodies_are_422(
    api: Api, admin: Account, path: str, body: dict[str, Any], field: str
) -> None:
    api.register("jake")
    r = api.client.put(f"/api/admin/users/jake{path}", json=body, headers=admin.headers)
    assert_problem(r, 422, field)


# --- roles --------------------------------------------------------------------------------


def test_promotion_takes_effect_and_revokes_old_tokens(api: Api, admin: Account) -> None:
    jake = api.register("jake")
    r = api.client.put(
        "/api/admin/users/jake/role", json={"role": "moderator"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["user"]["role"] == "moderator"
    old = api.client.get("/api/user", headers=jake.headers)
    assert_problem(old, 401, "token")
    assert old.json()["errors"]["token"] == ["has been revoked"]
    assert old.headers["WWW-Authenticate"]
    fresh = _login(api, jake).json()["user"]
    assert fresh["role"] == "moderator"
    assert api.client.get("/api/user", headers=authorization(fresh["token"])).status_code == 200
    entry = _audit(api, admin)[0]
    assert entry["action"] == "user.role"
    assert (entry["actor"], entry["target"], entry["subject"]) == (
        "boss",
        "jake",
        "user -> moderator",
    )


def test_demotion_takes_effect_on_the_next_request(api: Api, admin: Account) -> None:
    other = api.register("other")
    api.client.put("/api/admin/users/other/role", json={"role": "admin"}, headers=admin.headers)
    other_token = _login(api, other).json()["user"]["token"]
    assert api.client.get("/api/admin/users", headers=authorization(other_token)).status_code == 200
    r = api.client.put("/api/admin/users/other/role", json={"role": "user"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert_problem(api.client.get("/api/admin/users", headers=authorization(other_token)), 401)


def test_setting_the_same_role_changes_nothing(api: Api, admin: Account) -> None:
    jake = api.register("jake")
    r = api.client.put("/api/admin/users/jake/role", json={"role": "user"}, headers=admin.headers)
    assert r.status_code == 200, r.text
    assert api.client.get("/api/user", headers=jake.headers).status_code == 200
    assert _audit(api, admin) == []


def test_the_last_admin_cannot_be_demoted_or_suspended(api: Api, admin: Account) -> None:
    r = api.client.put("/api/admin/users/boss/role", json={"role": "user"}, headers=admin.headers)
    assert_problem(r, 409, "role")
    r = api.client.put(
        "/api/admin/users/boss/suspension", json={"reason": "oops"}, headers=admin.headers
    )
    assert_problem(r, 409, "role")
    assert (
        api.client.get("/api/admin/users/boss", headers=admin.headers).json()["user"]["role"]
        == "admin"
    )
    # with a second admin, the first may step down
    api.register("second")
    api.client.put("/api/admin/users/second/role", json={"role": "admin"}, headers=admin.headers)
    r = api.client.put("/api/admin/users/boss/role", json={"role": "user"}, headers=admin.headers)
    assert r.status_code == 200, r.text


# --- suspension -----------------------------------------------------------------------------


def test_suspension_locks_the_account_and_every_token_at_once(api: Api, admin: Account) -> None:
    jake = api.register("jake")
    slug = api.article(jake, title="Still readable")["slug"]
    r = api.client.put(
        "/api/admin/users/jake/suspension", json={"reason": "spam"}, headers=admin.headers
    )
    assert r.status_code == 200, r.text
    assert (r.json()["user"]["status"], r.json()["user"]["suspensionReason"]) == (
        "suspended",
        "spam",
    )
    # every authenticated operation, optional ones included, refuses the token
    for response in (
        api.client.get("/api/user", headers=jake.headers),
        api.client.get("/api/articles", headers=jake.headers),
        api.client.post(
            "/api/articles",
            json={"article": {"title": "t", "description": "d", "body": "b"}},
            headers=jake.headers,
        ),
        api.client.put("/api/user", json={"user": {"bio": "back"}}, headers=jake.headers),
        api.client.post("/api/user/logout-all", headers=jake.headers),
    ):
        body = assert_problem(response, 403, "account")
        assert body["errors"]["account"] == ["is suspended"]
    # the right password is told why; a wrong one gets the usual answer, telling nothing
    body = assert_problem(_login(api, jake), 403, "account")
    assert "suspended" in body["detail"]
    wrong = _login(api, jake, "not-the-password")
    unknown = api.client.post(
        "/api/users/login", json={"user": {"email": "nobody@example.com", "password": "x" * 9}}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    # the articles stay readable
    assert api.client.get(f"/api/articles/{slug}").status_code == 200
    assert api.client.get("/api/articles?author=jake").json()["articlesCount"] == 1
    assert [e["action"] for e in _audit(api, admin)] == ["user.suspend"]


def test_reinstating_lets_the_user_log_in_but_old_tokens_stay_revoked(
    api: Api, admin: Account
) -> None:
    jake = api.register("jake")
    api.client.put(
        "/api/admin/users/jake/suspension", json={"reason": "spam"}, headers=admin.headers
    )
    r = api.client.delete("/api/admin/users/jake/suspension", headers=admin.headers)
    assert r.status_code == 200, r.text
    assert (r.json()["user"]["status"], r.json()["user"]["suspensionReason"]) == ("active", None)
    assert_problem(api.client.get("/api/user", headers=jake.headers), 401, "token")
    assert _login(api, jake).status_code == 200
    assert [e["action"] for e in _audit(api, admin)] == ["user.reinstate", "user.suspend"]
    # reinstating an active user changes nothing and records nothing
    again = api.client.delete("/api/admin/users/jake/suspension", headers=admin.headers)
    assert again.status_code == 200
    assert len(_audit(api, admin)) == 2


def test_audit_log_pages_newest_first(api: Api, admin: Account) -> None:
    for i in range(3):
        api.register(f"m{i}")
        api.client.put(
            f"/api/admin/users/m{i}/role", json={"role": "moderator"}, headers=admin.headers
        )
    r = api.client.get("/api/admin/audit?limit=2", headers=admin.headers)
    assert r.json()["entriesCount"] == 3
    assert [e["target"] for e in r.json()["entries"]] == ["m2", "m1"]
    rest = api.client.get("/api/admin/audit?limit=2&offset=2", headers=admin.headers).json()
    assert [e["target"] for e in rest["entries"]] == ["m0"]


# --- revocation by the user -----------------------------------------------------------------


def test_password_change_revokes_other_tokens_and_returns_a_working_one(api: Api) -> None:
    jake = api.register("jake")
    other_device = _login(api, jake).json()["user"]["token"]
    r = api.client.put(
        "/api/user", json={"user": {"password": "brand-new-pw"}}, headers=jake.headers
    )
    assert r.status_code == 200, r.text
    new_token = r.json()["user"]["token"]
    for old in (jake.token, other_device):
        assert_problem(api.client.get("/api/user", headers=authorization(old)), 401, "token")
    assert api.client.get("/api/user", headers=authorization(new_token)).status_code == 200


def test_other_changes_keep_tokens(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.put("/api/user", json={"user": {"bio": "hi"}}, headers=jake.headers)
    assert r.status_code == 200
    assert api.client.get("/api/user", headers=jake.headers).status_code == 200


def test_logout_everywhere(api: Api) -> None:
    jake = api.register("jake")
    second = _login(api, jake).json()["user"]["token"]
    r = api.client.post("/api/user/logout-all", headers=jake.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""
    for token in (jake.token, second):
        r = api.client.get("/api/articles/feed", headers=authorization(token, "Bearer"))
        assert_problem(r, 401, "token")
        assert r.headers["WWW-Authenticate"]
    assert api.client.get("/api/articles", headers=jake.headers).status_code == 401
    assert _login(api, jake).status_code == 200


def test_logout_everywhere_needs_a_token(client: Any) -> None:
    assert_problem(client.post("/api/user/logout-all"), 401, "token")


def test_each_revocation_revokes_the_tokens_issued_since_the_last(api: Api) -> None:
    jake = api.register("jake")
    assert api.client.post("/api/user/logout-all", headers=jake.headers).status_code == 204
    second = _login(api, jake).json()["user"]["token"]
    r = api.client.post("/api/user/logout-all", headers=authorization(second))
    assert r.status_code == 204, r.text
    assert_problem(api.client.get("/api/user", headers=authorization(second)), 401, "token")
    third = _login(api, jake).json()["user"]["token"]
    assert api.client.get("/api/user", headers=authorization(third)).status_code == 200
