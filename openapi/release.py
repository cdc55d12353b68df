"""The compatibility guard of openapi/api.yaml, and the command that releases it.

`breaking_changes(released, current)` compares the public surface of two OpenAPI documents:
operations (method and path) and their operationIds, parameters (where, and whether required),
request bodies, the request fields and limits clients must meet, response status codes, the
required fields of each response, and security. It reports what would break a client written
against `released` and allows additions.

`python -m openapi.release` (`make spec-release`) acknowledges the current document: it lists
what breaks, refuses unless `info.version` was raised and CHANGELOG.md has an entry for it
(what changed for clients), and copies openapi/api.yaml to
openapi/released/api.yaml, the snapshot that tests/test_spec_compat.py compares against.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).parent
SPEC = HERE / "api.yaml"
RELEASED = HERE / "released" / "api.yaml"
CHANGELOG = HERE.parent / "CHANGELOG.md"
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
# a limit a request must meet: the higher the value, the more a client may send
UPPER = ("maxLength", "maxItems", "maximum", "maxProperties")
LOWER = ("minLength", "minItems", "minimum", "minProperties")

Spec = Mapping[str, Any]


def load(path: Path) -> dict[str, Any]:
    """The document at `path`, with libyaml's loader where it is installed (four times faster)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    loaded: dict[str, Any] = yaml.load(path.read_text(), Loader=loader)  # noqa: S506  # a safe loader, C or Python
    return loaded


def resolve(spec: Spec, node: Any) -> Any:
    """`node` with local `$ref`s followed."""
    while isinstance(node, Mapping) and "$ref" in node:
        target: Any = spec
        for part in node["$ref"].removeprefix("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


@dataclass(frozen=True)
class Field:
    """One property (or array item) somewhere in a schema."""

    required: bool  # by its own parent object
    chain: bool  # by every object above it too: present in every valid document
    nullable: bool
    schema: Mapping[str, Any]


def fields(spec: Spec, schema: Any, *, reading: bool) -> dict[str, Field]:
    """Every field of `schema` by dotted path (`""` the root, `[]` array items, `{}` map values).

    `reading` is the response side; on the request side `readOnly` fields are left out, since
    clients do not write them."""
    found: dict[str, Field] = {}

    def walk(node: Any, path: str, required: bool, chain: bool, seen: frozenset[str]) -> None:
        ref = node.get("$ref") if isinstance(node, Mapping) else None
        if ref in seen:
            return  # a recursive schema: its fields are already listed once
        node = resolve(spec, node)
        seen = seen | {ref} if ref else seen
        parts = [node, *(resolve(spec, part) for part in node.get("allOf", []))]
        merged = {k: v for part in parts for k, v in part.items() if k not in ("allOf", "$ref")}
        found[path] = Field(required, chain, bool(merged.get("nullable")), merged)
        needed = {name for part in parts for name in part.get("required", [])}
        for part in [node, *node.get("allOf", [])]:
            for name, sub in resolve(spec, part).get("properties", {}).items():
                if not reading and resolve(spec, sub).get("readOnly"):
                    continue
                is_required = name in needed
                walk(sub, f"{path}.{name}".lstrip("."), is_required, chain and is_required, seen)
        if "items" in merged:
            walk(merged["items"], f"{path}[]", True, chain, seen)
        if isinstance(merged.get("additionalProperties"), Mapping):
            walk(merged["additionalProperties"], f"{path}{{}}", False, False, seen)

    walk(schema, "", True, True, frozenset())
    return found


def tightened(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """How `new` refuses values that `old` accepted, for the request side."""
    found = []
    for key in UPPER:
        if key in new and (key not in old or new[key] < old[key]):
            found.append(f"{key} {old.get(key, 'none')} -> {new[key]}")
    for key in LOWER:
        if key in new and (key not in old or new[key] > old[key]):
            found.append(f"{key} {old.get(key, 'none')} -> {new[key]}")
    for key in ("pattern", "type"):
        if key in new and new[key] != old.get(key):
            found.append(f"{key} {old.get(key, 'none')!r} -> {new[key]!r}")
    if new.get("type") == "string" and "format" in new and new["format"] != old.get("format"):
        found.append(f"format {old.get('format', 'none')!r} -> {new['format']!r}")
    if "enum" in new and not set(old.get("enum", [object()])) <= set(new["enum"]):
        found.append(f"enum {old.get('enum', 'any')} -> {new['enum']}")
    if old.get("nullable") and not new.get("nullable"):
        found.append("no longer nullable")
    return found


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    node: Mapping[str, Any]
    parameters: dict[tuple[str, str], Mapping[str, Any]]  # (in, name), header names lowercased
    security: list[dict[str, frozenset[str]]]

    @property
    def name(self) -> str:
        return f"{self.method.upper()} {self.path} ({self.node.get('operationId', '?')})"


def operations(spec: Spec) -> dict[tuple[str, str], Operation]:
    """Every operation by (method, path), its parameters merged with those of its path."""
    found = {}
    for path, item in spec.get("paths", {}).items():
        item = resolve(spec, item)
        for method in METHODS:
            if method not in item:
                continue
            op = item[method]
            params = {}
            for param in [*item.get("parameters", []), *op.get("parameters", [])]:
                param = resolve(spec, param)
                name = param["name"].lower() if param["in"] == "header" else param["name"]
                params[(param["in"], name)] = param
            alternatives = op.get("security", spec.get("security", []))
            security = [{k: frozenset(v) for k, v in alt.items()} for alt in alternatives]
            found[(method, path)] = Operation(method, path, op, params, security)
    return found


def _accepts(old: Mapping[str, frozenset[str]], new: Mapping[str, frozenset[str]]) -> bool:
    """Whether credentials that met requirement `old` also meet `new`."""
    return all(scheme in old and scopes <= old[scheme] for scheme, scopes in new.items())


def _scheme(spec: Spec, name: str) -> Any:
    node = resolve(spec, spec.get("components", {}).get("securitySchemes", {}).get(name))
    if node is None:
        return None
    flows = {flow: body.get("tokenUrl") for flow, body in node.get("flows", {}).items()}
    return (node.get("type"), node.get("in"), node.get("name"), node.get("scheme"), flows)


def _media(spec: Spec, holder: Any) -> dict[str, Any]:
    return {
        mt: body.get("schema", {}) for mt, body in resolve(spec, holder).get("content", {}).items()
    }


def _request_changes(
    old_spec: Spec, new_spec: Spec, old: Operation, new: Operation
) -> Iterator[str]:
    for key, param in old.parameters.items():
        where = f"{new.name}: parameter {key[1]} in {key[0]}"
        if key not in new.parameters:
            yield f"{where} removed"
            continue
        if new.parameters[key].get("required") and not param.get("required"):
            yield f"{where} made required"
        old_fields = fields(old_spec, param.get("schema", {}), reading=False)
        new_fields = fields(new_spec, new.parameters[key].get("schema", {}), reading=False)
        for change in tightened(old_fields[""].schema, new_fields[""].schema):
            yield f"{where}: {change}"
    for key, param in new.parameters.items():
        if key not in old.parameters and param.get("required"):
            yield f"{new.name}: new required parameter {key[1]} in {key[0]}"

    old_body = resolve(old_spec, old.node.get("requestBody", {}))
    new_body = resolve(new_spec, new.node.get("requestBody", {}))
    if new_body.get("required") and not old_body.get("required"):
        yield (
            f"{new.name}: request body made required"
            if old_body
            else f"{new.name}: new required request body"
        )
    new_media = _media(new_spec, new_body)
    for media_type, old_schema in _media(old_spec, old_body).items():
        where = f"{new.name}: request {media_type}"
        if media_type not in new_media:
            yield f"{where} no longer accepted"
            continue
        was = fields(old_spec, old_schema, reading=False)
        now = fields(new_spec, new_media[media_type], reading=False)
        for path, field in now.items():
            if field.chain and not (path in was and was[path].chain):
                yield f"{where}: field {path or '(body)'} now required"
            if path in was:
                for change in tightened(was[path].schema, field.schema):
                    yield f"{where}: field {path or '(body)'}: {change}"


def _response_changes(
    old_spec: Spec, new_spec: Spec, old: Operation, new: Operation
) -> Iterator[str]:
    new_responses = new.node.get("responses", {})
    for code, old_response in old.node.get("responses", {}).items():
        where = f"{new.name}: response {code}"
        if code not in new_responses:
            yield f"{where} removed"
            continue
        new_media = _media(new_spec, new_responses[code])
        for media_type, old_schema in _media(old_spec, old_response).items():
            if media_type not in new_media:
                yield f"{where} {media_type} no longer sent"
                continue
            now = fields(new_spec, new_media[media_type], reading=True)
            for path, field in fields(old_spec, old_schema, reading=True).items():
                if not field.required:
                    continue
                label = f"{where} {media_type}: required field {path or '(body)'}"
                if path not in now or not now[path].required:
                    yield f"{label} no longer required"
                elif now[path].nullable and not field.nullable:
                    yield f"{label} may now be null"


def breaking_changes(old_spec: Spec, new_spec: Spec) -> list[str]:
    """What in `new_spec` breaks a client written against `old_spec`, one line each."""
    found: list[str] = []
    new_ops = operations(new_spec)
    for key, old in operations(old_spec).items():
        if key not in new_ops:
            found.append(f"{old.name}: operation removed")
            continue
        new = new_ops[key]
        if new.node.get("operationId") != old.node.get("operationId"):
            found.append(f"{old.name}: operationId renamed to {new.node.get('operationId')}")
        found.extend(_request_changes(old_spec, new_spec, old, new))
        found.extend(_response_changes(old_spec, new_spec, old, new))
        if not old.security and new.security:
            found.append(f"{new.name}: security added to an open operation")
        for alternative in old.security if new.security else []:  # [] is open to all
            if not any(_accepts(alternative, alt) for alt in new.security):
                shown = {k: sorted(v) for k, v in alternative.items()} or "anonymous"
                found.append(f"{new.name}: security {shown} no longer accepted")
        for scheme in {name for alt in old.security for name in alt}:
            if _scheme(old_spec, scheme) != _scheme(new_spec, scheme):
                found.append(f"{new.name}: security scheme {scheme} changed or removed")
    return sorted(set(found))


def changelog_versions(path: Path) -> list[str]:
    """The versions a Keep a Changelog file has entries for (`## [1.2.3] - 2026-12-07`)."""
    text = path.read_text() if path.exists() else ""
    return re.findall(r"^## \[(\d+\.\d+\.\d+)\]", text, re.MULTILINE)


def main(argv: list[str] | None = None) -> int:
    """Release the current document: list what breaks, insist on a new version, snapshot it."""
    parser = argparse.ArgumentParser(prog="python -m openapi.release", description=__doc__)
    parser.add_argument("--spec", type=Path, default=SPEC)
    parser.add_argument("--released", type=Path, default=RELEASED)
    parser.add_argument("--changelog", type=Path, default=CHANGELOG)
    args = parser.parse_args(argv)
    current = load(args.spec)
    version = str(current["info"]["version"])
    if args.released.exists():
        if args.released.read_bytes() == args.spec.read_bytes():
            print(f"{args.released} is already {args.spec}; nothing to release")
            return 0
        released = load(args.released)
        breaking = breaking_changes(released, current)
        for line in breaking:
            print(f"breaking: {line}")
        was, now = released["info"]["version"], current["info"]["version"]
        if now == was:
            print(f"info.version is still {was}: raise it (the major part for a breaking change)")
            return 1
        if breaking and str(now).split(".")[0] == str(was).split(".")[0]:
            print(f"{was} -> {now} keeps the major version: a breaking change needs a new one")
            return 1
        print(f"releasing {was} -> {now} with {len(breaking)} breaking change(s)")
    if version not in changelog_versions(args.changelog):
        print(f"{args.changelog.name} has no entry for {version}: say what changed for clients")
        return 1
    args.released.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.spec, args.released)
    print(f"wrote {args.released}; commit it with the change")
    return 0


if __name__ == "__main__":
    sys.exit(main())
