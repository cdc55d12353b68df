"""The compatibility guard: openapi/api.yaml breaks nothing of the last released document.

A breaking change fails `test_nothing_released_is_broken` until it is released on purpose:
raise `info.version`, run `make spec-release` (`python -m openapi.release`), and commit the
new openapi/released/api.yaml with the change. The other tests check the guard itself on
edited copies of the document.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from openapi.release import (
    CHANGELOG,
    RELEASED,
    SPEC,
    breaking_changes,
    changelog_versions,
    load,
    main,
    resolve,
)

Edit = Callable[[dict[str, Any]], None]


@pytest.fixture(scope="module")
def current() -> dict[str, Any]:
    return load(SPEC)


def edited(spec: dict[str, Any], edit: Edit) -> dict[str, Any]:
    changed = copy.deepcopy(spec)
    edit(changed)
    return changed


def op(spec: dict[str, Any], method: str, path: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["paths"][path][method]
    return found


def schema(spec: dict[str, Any], name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["schemas"][name]
    return found


def inline_parameter(spec: dict[str, Any], method: str, path: str, name: str) -> dict[str, Any]:
    """The operation's parameter `name`, copied in place of its $ref so it can be edited alone."""
    params = op(spec, method, path)["parameters"]
    for i, param in enumerate(params):
        if resolve(spec, param)["name"] == name:
            params[i] = copy.deepcopy(resolve(spec, param))
            found: dict[str, Any] = params[i]
            return found
    raise AssertionError(name)


def test_nothing_released_is_broken(current: dict[str, Any]) -> None:
    released = load(RELEASED)
    assert breaking_changes(released, current) == [], (
        "openapi/api.yaml breaks clients of the released API; if that is intended, raise "
        "info.version and run `make spec-release` (docs/architecture.md: changing the API)"
    )


def _remove_operation(spec: dict[str, Any]) -> None:
    del spec["paths"]["/tags"]["get"]


def _remove_path(spec: dict[str, Any]) -> None:
    del spec["paths"]["/admin/audit"]


def _rename_operation(spec: dict[str, Any]) -> None:
    op(spec, "get", "/articles/{slug}")["operationId"] = "fetch_article"


def _require_parameter(spec: dict[str, Any]) -> None:
    inline_parameter(spec, "get", "/articles", "tag")["required"] = True


def _remove_parameter(spec: dict[str, Any]) -> None:
    params = op(spec, "get", "/articles")["parameters"]
    params[:] = [p for p in params if resolve(spec, p)["name"] != "author"]


def _move_parameter(spec: dict[str, Any]) -> None:
    inline_parameter(spec, "get", "/articles", "favorited")["in"] = "header"


def _new_required_parameter(spec: dict[str, Any]) -> None:
    op(spec, "get", "/tags").setdefault("parameters", []).append(
        {"name": "lang", "in": "query", "required": True, "schema": {"type": "string"}}
    )


def _lower_parameter_limit(spec: dict[str, Any]) -> None:
    spec["components"]["parameters"]["Limit"]["schema"]["maximum"] = 50


def _new_required_body(spec: dict[str, Any]) -> None:
    op(spec, "post", "/user/logout-all")["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }


def _require_body_field(spec: dict[str, Any]) -> None:
    schema(spec, "NewUser")["required"].append("bio")
    schema(spec, "NewUser")["properties"]["bio"] = {"type": "string"}


def _lower_body_limit(spec: dict[str, Any]) -> None:
    schema(spec, "NewArticle")["properties"]["title"]["maxLength"] = 100


def _drop_body_media_type(spec: dict[str, Any]) -> None:
    content = op(spec, "post", "/auth/token")["requestBody"]["content"]
    content["application/json"] = content.pop("application/x-www-form-urlencoded")


def _drop_required_response_field(spec: dict[str, Any]) -> None:
    schema(spec, "ArticlePreview")["required"].remove("favoritesCount")


def _nullable_response_field(spec: dict[str, Any]) -> None:
    schema(spec, "Profile")["properties"]["username"]["nullable"] = True


def _remove_response_code(spec: dict[str, Any]) -> None:
    del op(spec, "get", "/articles/{slug}")["responses"]["404"]


def _drop_anonymous_access(spec: dict[str, Any]) -> None:
    op(spec, "get", "/profiles/{username}")["security"].remove({})


def _add_scope(spec: dict[str, Any]) -> None:
    security = op(spec, "get", "/user")["security"]
    security[:] = [{"Bearer": []}, {"Token": []}, {"OAuth2": ["users:admin"]}]


def _secure_open_operation(spec: dict[str, Any]) -> None:
    op(spec, "get", "/tags")["security"] = [{"Bearer": []}]


def _change_scheme(spec: dict[str, Any]) -> None:
    spec["components"]["securitySchemes"]["Token"]["name"] = "X-Token"


BREAKING: dict[str, tuple[Edit, str]] = {
    "operation removed": (_remove_operation, "GET /tags (list_tags): operation removed"),
    "path removed": (_remove_path, "GET /admin/audit (list_audit_log): operation removed"),
    "operationId renamed": (
        _rename_operation,
        "GET /articles/{slug} (get_article): operationId renamed to fetch_article",
    ),
    "parameter made required": (
        _require_parameter,
        "GET /articles (list_articles): parameter tag in query made required",
    ),
    "parameter removed": (
        _remove_parameter,
        "GET /articles (list_articles): parameter author in query removed",
    ),
    "parameter moved": (
        _move_parameter,
        "GET /articles (list_articles): parameter favorited in query removed",
    ),
    "new required parameter": (
        _new_required_parameter,
        "GET /tags (list_tags): new required parameter lang in query",
    ),
    "parameter limit lowered": (
        _lower_parameter_limit,
        "GET /articles (list_articles): parameter limit in query: maximum 100 -> 50",
    ),
    "new required body": (
        _new_required_body,
        "POST /user/logout-all (logout_everywhere): new required request body",
    ),
    "body field made required": (
        _require_body_field,
        "POST /users (register_user): request application/json: field user.bio now required",
    ),
    "body limit lowered": (
        _lower_body_limit,
        "POST /articles (create_article): request application/json: field article.title: "
        "maxLength 200 -> 100",
    ),
    "body media type dropped": (
        _drop_body_media_type,
        "POST /auth/token (issue_token): request application/x-www-form-urlencoded no longer "
        "accepted",
    ),
    "required response field dropped": (
        _drop_required_response_field,
        "GET /articles (list_articles): response 200 application/json: required field "
        "articles[].favoritesCount no longer required",
    ),
    "response field made nullable": (
        _nullable_response_field,
        "GET /profiles/{username} (get_profile): response 200 application/json: required field "
        "profile.username may now be null",
    ),
    "response code removed": (
        _remove_response_code,
        "GET /articles/{slug} (get_article): response 404 removed",
    ),
    "anonymous access removed": (
        _drop_anonymous_access,
        "GET /profiles/{username} (get_profile): security anonymous no longer accepted",
    ),
    "scope added": (
        _add_scope,
        "GET /user (get_current_user): security {'OAuth2': []} no longer accepted",
    ),
    "open operation secured": (
        _secure_open_operation,
        "GET /tags (list_tags): security added to an open operation",
    ),
    "security scheme changed": (
        _change_scheme,
        "GET /user (get_current_user): security scheme Token changed or removed",
    ),
}


@pytest.mark.parametrize("case", BREAKING)
def test_a_breaking_change_is_reported(current: dict[str, Any], case: str) -> None:
    edit, expected = BREAKING[case]
    assert expected in breaking_changes(current, edited(current, edit))


def _new_optional_parameter(spec: dict[str, Any]) -> None:
    op(spec, "get", "/tags").setdefault("parameters", []).append(
        {"name": "lang", "in": "query", "schema": {"type": "string", "maxLength": 8}}
    )


def _new_operation(spec: dict[str, Any]) -> None:
    # a path and operationId no real change will add (docs/architecture.md adds /tags/{tag})
    spec["paths"]["/compat-check/new"] = {
        "get": {**copy.deepcopy(op(spec, "get", "/tags")), "operationId": "compat_check_new"}
    }


def _new_response_code(spec: dict[str, Any]) -> None:
    op(spec, "get", "/tags")["responses"]["504"] = {"description": "A gateway timed out"}


def _new_response_field(spec: dict[str, Any]) -> None:
    schema(spec, "Profile")["properties"]["followers"] = {"type": "integer"}
    schema(spec, "Profile")["required"].append("followers")


def _raise_body_limit(spec: dict[str, Any]) -> None:
    schema(spec, "NewArticle")["properties"]["title"]["maxLength"] = 300
    spec["components"]["parameters"]["Limit"]["schema"]["maximum"] = 200


def _loosen_security(spec: dict[str, Any]) -> None:
    op(spec, "get", "/user")["security"].append({})
    op(spec, "get", "/tags")["security"] = []


def _new_optional_body_field(spec: dict[str, Any]) -> None:
    schema(spec, "NewArticle")["properties"]["draft"] = {"type": "boolean"}


def _documentation_only(spec: dict[str, Any]) -> None:
    """What 3.0.1 changed, undone: the example ETags and key that Swagger UI filled in, and the
    descriptions that now tell their form in words instead."""
    parameters = spec["components"]["parameters"]
    for name in ("IfMatch", "IfNoneMatch"):
        parameters[name]["example"] = '"q8KZ2V5b1lq3vK0m0Ah4Ew"'
        parameters[name]["description"] = "The ETag of a version."
    parameters["IdempotencyKey"]["example"] = "8e03978e-40d5-43e8-bc93-6894a57f9324"


ADDITIVE: dict[str, Edit] = {
    "new optional parameter": _new_optional_parameter,
    "new operation": _new_operation,
    "new response code": _new_response_code,
    "new required response field": _new_response_field,
    "limits raised": _raise_body_limit,
    "security loosened": _loosen_security,
    "new optional body field": _new_optional_body_field,
    "examples and descriptions": _documentation_only,
}


@pytest.mark.parametrize("case", ADDITIVE)
def test_an_additive_change_is_allowed(current: dict[str, Any], case: str) -> None:
    assert breaking_changes(current, edited(current, ADDITIVE[case])) == []


def test_documentation_is_not_breaking_either_way(current: dict[str, Any]) -> None:
    with_examples = edited(current, _documentation_only)
    assert with_examples != current
    assert breaking_changes(with_examples, current) == []


def test_the_changelog_tells_clients_of_every_released_version() -> None:
    released = str(load(RELEASED)["info"]["version"])
    current = str(load(SPEC)["info"]["version"])
    assert {released, current} <= set(changelog_versions(CHANGELOG))


def test_release_needs_a_new_version_and_then_snapshots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec, released = tmp_path / "api.yaml", tmp_path / "released" / "api.yaml"
    changelog = tmp_path / "CHANGELOG.md"
    text = SPEC.read_text()
    spec.write_text(text)
    version = yaml.safe_load(text)["info"]["version"]
    changelog.write_text(f"# Changelog\n\n## [{version}] - 2026-12-07\n\n- The first.\n")
    argv = ["--spec", str(spec), "--released", str(released), "--changelog", str(changelog)]
    assert main(argv) == 0  # the first release
    assert released.read_text() == text
    assert main(argv) == 0
    assert "nothing to release" in capsys.readouterr().out

    # an operation removed, the version kept: refused, the snapshot untouched
    broken = text.replace("operationId: list_tags", "operationId: list_all_tags")
    spec.write_text(broken)
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert "breaking: GET /tags (list_tags): operationId renamed to list_all_tags" in out
    assert released.read_text() == text

    # a minor version for a breaking change: refused too
    major = int(version.split(".")[0])
    minor, next_major = f"{major}.99.0", f"{major + 1}.0.0"
    spec.write_text(broken.replace(f"\n  version: {version}\n", f"\n  version: {minor}\n", 1))
    assert main(argv) == 1
    assert f"{version} -> {minor} keeps the major version" in capsys.readouterr().out
    assert released.read_text() == text

    spec.write_text(broken.replace(f"\n  version: {version}\n", f"\n  version: {next_major}\n", 1))
    # a new version with nothing in the changelog for its clients: refused
    assert main(argv) == 1
    assert f"CHANGELOG.md has no entry for {next_major}" in capsys.readouterr().out
    assert released.read_text() == text
    entry = f"## [{next_major}] - 2026-12-08\n\n### Removed\n\n- `list_tags`.\n\n"
    old = f"## [{version}]"
    changelog.write_text(changelog.read_text().replace(old, entry + old))
    assert main(argv) == 0
    assert f"{version} -> {next_major} with 1 breaking change(s)" in capsys.readouterr().out
    assert released.read_text() == spec.read_text()
