"""OWASP API3:2023 broken object property level authorization: no response can carry a password
or its hash, an internal user id, or another user's email (every response schema of the spec
walked, then the answers themselves); fields only the server sets cannot be assigned
(tests/test_read_only_fields.py holds the mass-assignment cases)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from app import load_spec
from tests.helpers import Api

SECRET_NAMES = {"password", "passwordhash", "password_hash", "hash", "salt", "secret", "gen"}
# the account's own view and the administrators' view of a user: nowhere else
EMAIL_SCHEMAS = {"User", "ManagedUser"}


def _walk(
    spec: dict[str, Any], node: Any, owner: str, seen: frozenset[str]
) -> Iterator[tuple[str, str]]:
    """(component that holds it, property name) for every property reachable from `node`."""
    if not isinstance(node, dict):
        return
    if "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            target = spec["components"]["schemas"][name]
            yield from _walk(spec, target, name, seen | {name})
        return
    for part in node.get("allOf", []) + node.get("oneOf", []) + node.get("anyOf", []):
        yield from _walk(spec, part, owner, seen)
    for prop, schema in node.get("properties", {}).items():
        yield owner, prop
        yield from _walk(spec, schema, owner, seen)
    for key in ("items", "additionalProperties"):
        yield from _walk(spec, node.get(key), owner, seen)


def _response_properties() -> set[tuple[str, str, str]]:
    """(operationId, component, property) over every response body of every operation."""
    spec = load_spec()
    found = set()
    for item in spec["paths"].values():
        for op in item.values():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            for response in op["responses"].values():
                if "$ref" in response:
                    response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
                for media in response.get("content", {}).values():
                    for owner, prop in _walk(spec, media.get("schema"), "(inline)", frozenset()):
                        found.add((op["operationId"], owner, prop))
    return found


def test_api3_no_response_schema_has_a_password_hash_or_token_generation() -> None:
    properties = _response_properties()
    assert len({op for op, _, _ in properties}) == 27  # the walk reached every operation
    assert not {p for p in properties if p[2].lower() in SECRET_NAMES}


def test_api3_emails_appear_only_in_the_own_and_the_admin_view() -> None:
    holders = {(op, owner) for op, owner, prop in _response_properties() if prop == "email"}
    assert {owner for _, owner in holders} == EMAIL_SCHEMAS
    admin_ops = {op for op, owner in holders if owner == "ManagedUser"}
    assert all(op in {"list_users", "get_user", "change_role", "suspend_user", "reinstate_user"}
               for op in admin_ops), admin_ops  # fmt: skip


def test_api3_users_are_known_by_name_never_by_internal_id() -> None:
    ids = {(owner, prop) for _, owner, prop in _response_properties() if prop.lower() == "id"}
    # the RealWorld contract's comment ids, and the audit log's own entry numbers (admins only)
    assert ids == {("Comment", "id"), ("AuditEntry", "id")}


def test_api3_no_answer_a_user_can_get_carries_another_users_email_or_hash(api: Api) -> None:
    author, reader = api.register(), api.register()
    api.follow(reader, author)
    article = api.article(author, tagList=["api3"])
    api.comment(author, article["slug"])
    api.favorite(reader, article["slug"])
    slug = article["slug"]
    answers = [
        api.client.get(path, headers=reader.headers)
        for path in (
            f"/api/profiles/{author.username}",
            f"/api/articles/{slug}",
            "/api/articles",
            "/api/articles?tag=api3",
            f"/api/articles?author={author.username}",
            f"/api/articles?favorited={reader.username}",
            "/api/articles/feed",
            f"/api/articles/{slug}/comments",
            "/api/tags",
            "/api/user",
        )
    ]
    for r in answers:
        assert r.status_code == 200, r.text
        assert author.email not in r.text
        assert "$argon2" not in r.text
        assert author.password not in r.text
    assert reader.email in answers[-1].text  # the reader's own account does show its email
