"""No header or query parameter carries a value that a tool would fill in for the user.

Swagger UI's *Try it out* (and Postman's import, and some SDK generators' documentation)
copies a parameter's value from the document into the field when it opens: the first of the
parameter's `examples`, its `content` example, its `example`, its schema's `example`, then
the schema's or the parameter's `default`; a required parameter with an `enum` gets the
first value, and one whose schema is an object gets a generated sample. A header or query
parameter is optional to the server, so whatever is filled in changes the request: an example
ETag in `If-Match` makes every update a 412, an example `Idempotency-Key` makes every second
create a 422, an example `tag` empties the first list. The format of such a parameter is told
in words in its description instead (and in a `pattern`, where it has one).

A `default` is what the server does without the parameter (OpenAPI 3.0: "the value the server
will use if none is provided"), so a filled-in default changes nothing: the last test checks
that the server honours each one. Path parameters are outside this rule: they are required
and name the resource, so the user types their own anyway, and their examples show the form.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from openapi.release import SPEC, load, resolve
from tests.helpers import Api
from tests.test_spec_compat import inline_parameter

METHODS = ("get", "put", "post", "delete", "patch")
# where a value is optional and anything filled in is sent
OPTIONAL_PLACES = ("header", "query", "cookie")

Spec = dict[str, Any]


def _schemas(spec: Spec, schema: Any) -> Iterator[dict[str, Any]]:
    """The schema and every schema it is composed of, with references followed."""
    schema = resolve(spec, schema or {})
    yield schema
    for key in ("allOf", "oneOf", "anyOf"):
        for part in schema.get(key, []):
            yield from _schemas(spec, part)


def prefilled(spec: Spec, parameter: dict[str, Any]) -> list[str]:
    """Where a UI finds a value to fill into `parameter`'s field, other than a default."""
    found = []
    if "example" in parameter:
        found.append(f"example {parameter['example']!r}")
    if parameter.get("examples"):
        found.append(f"examples {sorted(parameter['examples'])}")
    for media_type, media in parameter.get("content", {}).items():
        if "example" in media or media.get("examples"):
            found.append(f"an example of its {media_type} content")
    schemas = list(_schemas(spec, parameter.get("schema")))
    for media in parameter.get("content", {}).values():
        schemas.extend(_schemas(spec, media.get("schema")))
    for schema in schemas:
        if "example" in schema or schema.get("examples"):
            found.append(f"its schema's example {schema.get('example', schema.get('examples'))!r}")
        if schema.get("type") == "object" or "properties" in schema:
            found.append("an object schema (a UI fills in a generated sample)")
        if parameter.get("required") and schema.get("enum"):
            found.append(f"required with an enum (a UI picks {schema['enum'][0]!r})")
    return found


def traps(spec: Spec) -> dict[str, dict[str, list[str]]]:
    """By operationId, each optional parameter that a UI would fill in, with where from."""
    found: dict[str, dict[str, list[str]]] = {}
    for item in spec["paths"].values():
        for method in METHODS:
            if method not in item:
                continue
            operation = item[method]
            for parameter in [*item.get("parameters", []), *operation.get("parameters", [])]:
                parameter = resolve(spec, parameter)
                if parameter["in"] not in OPTIONAL_PLACES:
                    continue
                sources = prefilled(spec, parameter)
                if sources:
                    mine = found.setdefault(operation["operationId"], {})
                    mine[f"{parameter['in']} {parameter['name']}"] = sources
    return found


@pytest.fixture(scope="module")
def spec() -> Spec:
    return load(SPEC)


def _operation_ids(spec: Spec) -> list[str]:
    return [item[m]["operationId"] for item in spec["paths"].values() for m in METHODS if m in item]


@pytest.mark.parametrize("operation_id", _operation_ids(load(SPEC)))
def test_no_optional_parameter_is_prefilled(spec: Spec, operation_id: str) -> None:
    found = traps(spec).get(operation_id, {})
    assert found == {}, "describe the format in words instead of giving a value a UI fills in"


def _parameter(spec: Spec, name: str) -> dict[str, Any]:
    found: dict[str, Any] = spec["components"]["parameters"][name]
    return found


# Each edit puts a trap back in a copy of the document; the check must name it.
def _etag_example(spec: Spec) -> None:
    _parameter(spec, "IfMatch")["example"] = '"q8KZ2V5b1lq3vK0m0Ah4Ew"'


def _key_examples(spec: Spec) -> None:
    _parameter(spec, "IdempotencyKey")["examples"] = {"uuid": {"value": "8e03978e"}}


def _schema_example(spec: Spec) -> None:
    _parameter(spec, "IfNoneMatch")["schema"]["example"] = '"abc"'


def _filter_example(spec: Spec) -> None:
    inline_parameter(spec, "get", "/articles", "tag")["example"] = "dragons"


def _filter_through_a_schema(spec: Spec) -> None:
    spec["components"]["schemas"]["Username"]["example"] = "jake"  # author and favorited


def _composed_example(spec: Spec) -> None:
    parameter = inline_parameter(spec, "get", "/articles", "author")
    parameter["schema"] = {"allOf": [parameter["schema"], {"example": "jake"}]}


def _content_example(spec: Spec) -> None:
    parameter = _parameter(spec, "Reason")
    schema = parameter.pop("schema")
    parameter["content"] = {"text/plain": {"schema": schema, "example": "spam"}}


def _required_enum(spec: Spec) -> None:
    parameter = inline_parameter(spec, "get", "/admin/users", "q")
    parameter["required"] = True
    parameter["schema"] = {"type": "string", "enum": ["jake", "anna"]}


def _object_schema(spec: Spec) -> None:
    inline_parameter(spec, "get", "/admin/users", "q")["schema"] = {
        "type": "object",
        "properties": {"name": {"type": "string"}},
    }


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (_etag_example, "update_current_user: header If-Match"),
        (_key_examples, "create_comment: header Idempotency-Key"),
        (_schema_example, "list_tags: header If-None-Match"),
        (_filter_example, "list_articles: query tag"),
        (_filter_through_a_schema, "list_articles: query favorited"),
        (_composed_example, "list_articles: query author"),
        (_content_example, "delete_article: query reason"),
        (_required_enum, "list_users: query q"),
        (_object_schema, "list_users: query q"),
    ],
)
def test_the_check_finds_a_trap_put_back(spec: Spec, edit: Any, where: str) -> None:
    changed = copy.deepcopy(spec)
    edit(changed)
    operation_id, parameter = where.split(": ")
    assert parameter in traps(changed).get(operation_id, {})


def test_path_parameters_keep_their_examples(spec: Spec) -> None:
    # they are required and name the resource: showing the form of a slug or a username helps
    assert _parameter(spec, "Slug")["example"]
    assert traps(spec) == {}


def _defaulted_queries(spec: Spec) -> list[tuple[str, dict[str, Any]]]:
    """(path, {name: default}) of every read whose query parameters have defaults."""
    found = []
    for path, item in spec["paths"].items():
        if "get" not in item:
            continue
        parameters = [resolve(spec, p) for p in item["get"].get("parameters", [])]
        defaults = {
            p["name"]: resolve(spec, p["schema"])["default"]
            for p in parameters
            if p["in"] == "query" and "default" in resolve(spec, p.get("schema", {}))
        }
        if defaults:
            found.append((path, defaults))
    return found


def test_every_default_a_ui_fills_in_is_what_the_server_does_anyway(
    spec: Spec, api: Api, client: Any, grant: Any
) -> None:
    defaulted = _defaulted_queries(spec)
    assert {path for path, _ in defaulted} >= {"/articles", "/articles/feed", "/admin/users"}
    admin = grant(api.register(), "admin")
    reader = api.register()
    for n in range(25):  # more than the default page, so that a different limit shows
        author = api.register()
        api.article(author, title=f"Defaults {n}")
        api.follow(reader, author)
    for path, defaults in defaulted:
        headers = admin.headers if path.startswith("/admin") else reader.headers
        bare = client.get(f"/api{path}", headers=headers)
        filled = client.get(f"/api{path}", params=defaults, headers=headers)
        assert bare.status_code == filled.status_code == 200, (path, bare.text)
        assert filled.json() == bare.json(), path
        for header in ("Link", "ETag"):
            assert filled.headers.get(header) == bare.headers.get(header), (path, header)
