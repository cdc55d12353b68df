"""GET /api/openapi.json and /api/openapi.yaml: openapi/api.yaml itself, as written.

Connexion's own copy of these routes serves the specification it has resolved for routing,
every `$ref` inlined, so a generator pointed at the URL names its models after operations and
status codes (`CreateArticle201Response`) instead of the document's components (`Article`).
This serves the document with its components and `$ref`s intact; only `servers` follows the
prefix a path-altering proxy mounts the app under (the ASGI `root_path`), as Connexion's does.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable
from typing import Any

import orjson
import yaml
from starlette.types import Scope

from shell.answers import Answer

JSON = b"application/json"
YAML = b"application/yaml; charset=utf-8"


class SpecDocument:
    """Answers GET and HEAD for the two document URLs under the spec's base path, with an
    entity tag so that a generator or Swagger UI revalidating it gets a 304."""

    def __init__(self, *, spec: dict[str, Any], text: str) -> None:
        self.spec = spec
        self.text = text  # the file as written, comments and order kept, for the YAML
        base = spec["servers"][0]["url"].rstrip("/")
        self.renderers: dict[str, tuple[bytes, Callable[[str], bytes]]] = {
            f"{base}/openapi.json": (JSON, self._json),
            f"{base}/openapi.yaml": (YAML, self._yaml),
        }
        self.cache: dict[tuple[str, str], tuple[bytes, bytes]] = {}

    def answer(self, scope: Scope) -> Answer | None:
        """The document, if the request is for it; None for any other request."""
        route = self.renderers.get(scope["path"])
        if route is None or scope["method"] not in ("GET", "HEAD"):
            return None
        media_type, render = route
        prefix = scope.get("root_path", "").rstrip("/")
        key = (scope["path"], prefix)
        if key not in self.cache:
            body = render(prefix)
            self.cache[key] = (body, b'"%s"' % hashlib.sha256(body).hexdigest()[:32].encode())
        body, etag = self.cache[key]
        fresh = etag in _if_none_match(scope)
        headers = [
            (b"content-type", media_type),
            (b"etag", etag),
            (b"cache-control", b"no-cache"),  # revalidate: a deploy may change it any time
        ]
        if fresh:
            return Answer(304, headers, b"")
        headers.append((b"content-length", str(len(body)).encode()))
        return Answer(200, headers, body)

    def _servers(self, prefix: str) -> dict[str, Any]:
        if not prefix:
            return self.spec
        spec = copy.copy(self.spec)
        spec["servers"] = [{**server, "url": prefix + server["url"]} for server in spec["servers"]]
        return spec

    def _json(self, prefix: str) -> bytes:
        return orjson.dumps(self._servers(prefix))

    def _yaml(self, prefix: str) -> bytes:
        if not prefix:
            return self.text.encode()
        dumped: str = yaml.safe_dump(self._servers(prefix), sort_keys=False, allow_unicode=True)
        return dumped.encode()


def _if_none_match(scope: Scope) -> list[bytes]:
    tags: list[bytes] = []
    for name, value in scope["headers"]:
        if name == b"if-none-match":
            tags.extend(tag.strip().removeprefix(b"W/") for tag in value.split(b","))
    return tags
