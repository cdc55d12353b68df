"""OWASP API5:2023 broken function-level authorization: every operation, enumerated from the
spec, called by each kind of caller, is refused or served as its declaration says.

An operation whose `security` has no anonymous alternative refuses a caller without a token
with 401 (and `WWW-Authenticate`); one with `x-required-scopes` refuses every role that lacks
a scope with 403 naming it, and serves the roles that have them all (ROLE_SCOPES). Each call
is made on objects the caller owns, so that only the function, never the object, is decided
(objects are API1's, in tests/test_owasp_api1_object_level.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from shell.authorization import ROLE_SCOPES
from tests.conftest import Grant
from tests.helpers import Account, Api, example_body, spec_operations

OPERATIONS = [
    pytest.param(path, method, op, id=op["operationId"]) for path, method, op in spec_operations()
]
CALLERS = ["anonymous", *ROLE_SCOPES]  # anonymous, user, moderator, admin


def _needs_a_token(op: dict[str, Any]) -> bool:
    return {} not in op.get("security", []) and op.get("security") != []


def _call(api: Api, path: str, method: str, op: dict[str, Any], caller: Account | None) -> Any:
    """The operation on the caller's own article and comment and on another user's account."""
    owner = caller or api.register()
    other = api.register()
    slug = api.article(owner)["slug"]
    comment = api.comment(owner, slug)
    url = "/api" + (
        path.replace("{username}", other.username)
        .replace("{slug}", slug)
        .replace("{id}", str(comment["id"]))
    )
    headers = caller.headers if caller else {}
    return api.client.request(method.upper(), url, json=example_body(op), headers=headers)


@pytest.mark.parametrize("who", CALLERS)
@pytest.mark.parametrize(("path", "method", "op"), OPERATIONS)
def test_api5_each_operation_refuses_and_serves_callers_as_declared(
    api: Api, grant: Grant, path: str, method: str, op: dict[str, Any], who: str
) -> None:
    caller = None if who == "anonymous" else grant(api.register(), who)
    r = _call(api, path, method, op, caller)
    required = set(op.get("x-required-scopes", []))
    if caller is None and _needs_a_token(op):
        assert r.status_code == 401, r.text
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        return
    if caller is not None and not required <= ROLE_SCOPES[who]:
        assert r.status_code == 403, r.text
        missing = required - ROLE_SCOPES[who]
        assert any(scope in r.json()["detail"] for scope in missing), r.json()
        return
    # allowed to call it: whatever the answer, it is not a refusal of the caller
    assert r.status_code != 403, r.text
    if r.status_code == 401:  # logging in with the example's credentials; never the token
        assert "token" not in r.json()["errors"], r.text


def test_api5_the_enumeration_reaches_every_kind_of_operation() -> None:
    ops = [op for _p, _m, op in spec_operations()]
    assert len(ops) >= 27
    assert any(op.get("x-required-scopes") == ["users:admin"] for op in ops)
    assert any(op.get("x-required-scopes") == ["audit:read"] for op in ops)
    assert any(not _needs_a_token(op) for op in ops)
    assert sum(_needs_a_token(op) and not op.get("x-required-scopes") for op in ops) >= 10
