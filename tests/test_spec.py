"""The OpenAPI document itself: valid, complete, and shaped for SDKs and Swagger UI."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

METHODS = ("get", "post", "put", "delete", "patch")
OAUTH2_TOKEN = "issue_token"
CONTRACT = {
    ("post", "/users/login"),
    ("post", "/users"),
    ("get", "/user"),
    ("put", "/user"),
    ("get", "/profiles/{username}"),
    ("post", "/profiles/{username}/follow"),
    ("delete", "/profiles/{username}/follow"),
    ("get", "/articles"),
    ("get", "/articles/feed"),
    ("post", "/articles"),
    ("get", "/articles/{slug}"),
    ("put", "/articles/{slug}"),
    ("delete", "/articles/{slug}"),
    ("post", "/articles/{slug}/comments"),
    ("get", "/articles/{slug}/comments"),
    ("delete", "/articles/{slug}/comments/{id}"),
    ("post", "/articles/{slug}/favorite"),
    ("delete", "/articles/{slug}/favorite"),
    ("get", "/tags"),
}
# beyond the RealWorld contract: the OAuth2 token endpoint, revocation, administration
EXTENDED = {
    ("post", "/auth/token"),
    ("post", "/user/logout-all"),
    ("get", "/admin/users"),
    ("get", "/admin/users/{username}"),
    ("put", "/admin/users/{username}/role"),
    ("put", "/admin/users/{username}/suspension"),
    ("delete", "/admin/users/{username}/suspension"),
    ("get", "/admin/audit"),
}


@pytest.fixture(scope="module")
def spec(spec_path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(spec_path.read_text())
    return loaded


@pytest.fixture(scope="module")
def spec_path() -> Path:
    return Path(__file__).parent.parent / "openapi" / "api.yaml"


def operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any], list[Any]]]:
    found = []
    for path, item in spec["paths"].items():
        for method in METHODS:
            if method in item:
                found.append((method, path, item[method], item.get("parameters", [])))
    return found


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part]
        node = target
    return node


def test_document_is_valid_openapi_3_0_3(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.0.3"  # Connexion 3.3 refuses 3.1
    validate(spec)


def test_every_contract_operation_is_declared_and_nothing_else(spec: dict[str, Any]) -> None:
    declared = {(method, path) for method, path, _, _ in operations(spec)}
    assert declared == CONTRACT | EXTENDED
    assert spec["servers"] == [{"url": "/api", "x-internal": False}]  # public (OWASP API9)


def test_operations_have_clean_ids_one_tag_and_a_summary(spec: dict[str, Any]) -> None:
    ids = []
    tags = {t["name"] for t in spec["tags"]}
    for method, path, op, _ in operations(spec):
        assert re.fullmatch(r"[a-z]+(_[a-z]+)+", op["operationId"]), (method, path)
        assert len(op["tags"]) == 1, (method, path)
        assert op["tags"][0] in tags
        assert op["summary"]
        ids.append(op["operationId"])
    assert len(ids) == len(set(ids))


def test_every_parameter_is_typed_and_bounded(spec: dict[str, Any]) -> None:
    for method, path, op, shared in operations(spec):
        for param in [resolve(spec, p) for p in shared + op.get("parameters", [])]:
            schema = resolve(spec, param["schema"])
            where = (method, path, param["name"])
            assert schema["type"] in ("string", "integer"), where
            if schema["type"] == "string":
                assert "maxLength" in schema, where
            else:
                assert "minimum" in schema, where
                assert "maximum" in schema, where


def test_paging_parameters(spec: dict[str, Any]) -> None:
    limit = spec["components"]["parameters"]["Limit"]["schema"]
    offset = spec["components"]["parameters"]["Offset"]["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 100, 20)
    assert offset["minimum"] == 0
    assert offset["default"] == 0
    assert offset["maximum"] >= 1000


def test_request_strings_and_lists_are_capped(spec: dict[str, Any]) -> None:
    def walk(node: dict[str, Any], where: str) -> None:
        node = resolve(spec, node)
        if node.get("type") == "string":
            assert "maxLength" in node, where
        if node.get("type") == "array":
            assert "maxItems" in node, where
            walk(node["items"], where + "[]")
        for name, sub in node.get("properties", {}).items():
            walk(sub, f"{where}.{name}")

    for method, path, op, _ in operations(spec):
        for media in op.get("requestBody", {}).get("content", {}).values():
            walk(media["schema"], f"{method} {path}")


def test_every_response_an_operation_can_give_is_declared(spec: dict[str, Any]) -> None:
    for method, path, op, shared in operations(spec):
        codes = set(op["responses"])
        where = (method, path)
        assert codes & {"200", "201", "204"}, where
        secured = op.get("security", spec.get("security", [])) != []
        if secured:
            assert "401" in codes, where
        if "requestBody" in op:
            # the OAuth2 token endpoint answers every unusable form with 400 (RFC 6749)
            invalid = "400" if op["operationId"] == OAUTH2_TOKEN else "422"
            assert {"400", "413", "415", invalid} <= codes, where
        if shared or op.get("parameters"):
            assert "422" in codes, where
        if "{" in path:
            assert "404" in codes, where
        if op["operationId"] in ("update_article", "delete_article", "delete_comment"):
            assert "403" in codes, where


def test_every_operation_may_be_rate_limited(spec: dict[str, Any]) -> None:
    too_many = {"$ref": "#/components/responses/TooManyRequests"}
    policies = {}
    for method, path, op, _ in operations(spec):
        assert op["responses"].get("429") == too_many, (method, path)
        policies[op["operationId"]] = op.get("x-rate-limit", spec["x-rate-limit"])
    assert spec["x-rate-limit"] == "default"
    # the operations that hash a password count per client address, and more strictly
    assert {op for op, policy in policies.items() if policy != "default"} == {
        "login_user",
        "register_user",
        "issue_token",
    }
    assert set(policies.values()) == {"default", "auth"}


def test_every_operation_may_answer_503_with_retry_after(spec: dict[str, Any]) -> None:
    """While the database cannot be reached (shell/problems.py, tests/test_faults.py)."""
    unavailable = {"$ref": "#/components/responses/ServiceUnavailable"}
    for method, path, op, _ in operations(spec):
        assert op["responses"].get("503") == unavailable, (method, path)
    declared = spec["components"]["responses"]["ServiceUnavailable"]
    assert declared["headers"]["Retry-After"] == {"$ref": "#/components/headers/RetryAfter"}


def test_the_rate_limit_fields_are_declared_for_reuse(spec: dict[str, Any]) -> None:
    headers = spec["components"]["headers"]
    for name in ("RateLimit", "RateLimitPolicy"):
        assert headers[name]["schema"]["type"] == "string"
        assert not headers[name].get("required"), name  # absent when limits are off
    refusal = spec["components"]["responses"]["TooManyRequests"]
    assert refusal["headers"] == {
        "Retry-After": {"$ref": "#/components/headers/RetryAfter"},
        "RateLimit-Policy": {"$ref": "#/components/headers/RateLimitPolicy"},
        "RateLimit": {"$ref": "#/components/headers/RateLimit"},
        "X-Request-ID": {"$ref": "#/components/headers/RequestId"},
        "Access-Control-Allow-Origin": {"$ref": "#/components/headers/Access-Control-Allow-Origin"},
    }
    assert headers["RetryAfter"]["required"] is True
    assert headers["RetryAfter"]["schema"]["type"] == "integer"


def test_errors_are_problem_documents(spec: dict[str, Any]) -> None:
    for method, path, op, _ in operations(spec):
        for code, response in op["responses"].items():
            if op["operationId"] == OAUTH2_TOKEN and code == "400":
                # RFC 6749 section 5.2 fixes this one: {"error", "error_description"}
                schema = resolve(spec, response)["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/OAuthError"}
                continue
            if code.startswith(("4", "5")):
                content = resolve(spec, response)["content"]
                assert list(content) == ["application/problem+json"], (method, path, code)
                assert content["application/problem+json"]["schema"] == {
                    "$ref": "#/components/schemas/Problem"
                }
    problem = spec["components"]["schemas"]["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "detail", "errors"}


def test_bodies_are_named_components_with_examples(spec: dict[str, Any]) -> None:
    for method, path, op, _ in operations(spec):
        for media in op.get("requestBody", {}).get("content", {}).values():
            ref = media["schema"]["$ref"]
            assert "example" in resolve(spec, {"$ref": ref}), (method, path)
        for code, response in op["responses"].items():
            content = resolve(spec, response).get("content", {})
            if code.startswith("2") and content:
                ref = content["application/json"]["schema"]["$ref"]
                assert ref.startswith("#/components/schemas/"), (method, path)
                assert "example" in resolve(spec, {"$ref": ref}), (method, path)


def test_auth_schemes_accept_token_and_bearer(spec: dict[str, Any]) -> None:
    schemes = spec["components"]["securitySchemes"]
    assert schemes["Bearer"]["type"] == "http"
    assert schemes["Bearer"]["scheme"] == "bearer"
    assert schemes["Token"] == {**schemes["Token"], "type": "apiKey", "in": "header"}
    assert schemes["Token"]["name"] == "Authorization"
    for method, path, op, _ in operations(spec):
        security = op.get("security")
        assert security is not None, (method, path)
        if security:
            # then the OAuth2 token, with the scopes the operation needs; the anonymous
            # alternative, where there is one, must come last
            scopes = op.get("x-required-scopes", [])
            assert security[:3] == [{"Bearer": []}, {"Token": []}, {"OAuth2": scopes}], (
                method,
                path,
            )
            assert security[3:] in ([], [{}]), (method, path)


def test_links_lead_from_created_article_to_its_operations(spec: dict[str, Any]) -> None:
    created = spec["paths"]["/articles"]["post"]["responses"]["201"]["links"]
    targets = {link["operationId"] for link in created.values()}
    assert {"get_article", "update_article", "delete_article", "create_comment"} <= targets
    assert {"favorite_article", "unfavorite_article", "list_comments"} <= targets
    commented = spec["paths"]["/articles/{slug}/comments"]["post"]["responses"]["201"]["links"]
    assert commented["DeleteComment"]["operationId"] == "delete_comment"


def test_swagger_ui_is_served_offline(client: Any) -> None:
    page = client.get("/api/ui/")
    assert page.status_code == 200
    assert "swagger-ui" in page.text
    # the bundle comes from the installed package, not a CDN
    assert "cdn" not in page.text.lower()
    assert client.get("/api/ui/swagger-ui-bundle.js").status_code == 200


def test_every_response_declares_the_request_id(spec: dict[str, Any]) -> None:
    """The middleware sends X-Request-ID on every answer; the spec says so on every one."""
    for method, path, op, _ in operations(spec):
        for code, response in op["responses"].items():
            headers = resolve(spec, response).get("headers", {})
            assert headers.get("X-Request-ID") == {"$ref": "#/components/headers/RequestId"}, (
                method,
                path,
                code,
            )
