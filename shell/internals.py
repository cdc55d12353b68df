"""Every place where this service relies on a library's private parts or on the wording of its
messages, and why; nothing else of ours does (tests/test_internals.py fails by name when an
upgrade moves one of them).

- Connexion checks the whole document against the OpenAPI metaschema each time a
  `Specification` is made (`OpenAPISpecification._validate_spec`), with no option to check it
  once: `validate_each_document_once`.
- Starlette's CORS middleware says which part of a preflight it refuses only in the text of
  its plain-text answer ("Disallowed CORS origin, method, headers"): `refused_cors_part`.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from connexion.spec import OpenAPISpecification


def validate_each_document_once() -> None:
    """Connexion checks the whole document against the OpenAPI metaschema each time an app is
    built (`Specification._validate_spec`): nine tenths of building one, 0.1 s of every test
    that makes an app and of every worker that starts. The document is the same file every
    time, so each distinct document is checked once per process; a different one (or a changed
    file) is checked in full, and an invalid one is refused as before."""
    if getattr(OpenAPISpecification._validate_spec, "validates_once", False):
        return
    validate = OpenAPISpecification._validate_spec  # bound to the class: validate(spec)
    valid: set[bytes] = set()

    def validate_once(_cls: type, spec: dict[str, Any]) -> None:
        options = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS
        digest = hashlib.sha256(orjson.dumps(spec, option=options)).digest()
        if digest not in valid:
            validate(spec)  # raises InvalidSpecification, and nothing is remembered
            valid.add(digest)

    validate_once.validates_once = True  # type: ignore[attr-defined]  # marks it installed
    OpenAPISpecification._validate_spec = classmethod(validate_once)


CORS_REFUSAL = "Disallowed CORS "


def refused_cors_part(detail: str) -> str:
    """ "Disallowed CORS method, headers" -> "method, headers": what Starlette refused."""
    return detail.removeprefix(CORS_REFUSAL)
