"""The two places where this app reaches into Connexion's private parts, and why.

Connexion 3 offers no option for either. tests/test_connexion_private.py fails loudly when an
upgrade moves what these rely on.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson
from connexion.spec import OpenAPISpecification

from shell.middleware import BufferedWSGI


def bridge_flask(app: Any, bridge: BufferedWSGI) -> None:
    """Serve Flask through our bridge (shell.middleware.BufferedWSGI) instead of Connexion's.

    The bridge is the attribute `asgi_app` of the app's innermost ASGI app."""
    app._middleware_app.asgi_app = bridge


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
