"""OWASP API9:2023 improper inventory management: every route the app answers is in the spec,
and nothing undeclared answers anything but 404 or 405."""

from __future__ import annotations

import re
from typing import Any

import pytest

from app import load_spec

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# what the app answers outside the document, on purpose: the document itself, Swagger UI, and
# the platform's probes and metrics (docs/operations.md)
PLATFORM = ("/healthz", "/readyz", "/metrics")


def _declared() -> set[tuple[str, str]]:
    spec = load_spec()
    base = spec["servers"][0]["url"].rstrip("/")
    return {
        (method.upper(), base + path)
        for path, item in spec["paths"].items()
        for method in item
        if method in METHODS
    }


def _template(path: str) -> str:
    """`/api/articles/{slug}/comments/{id:int}` -> `/api/articles/{slug}/comments/{id}`"""
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def test_api9_every_route_the_router_has_is_declared(app: Any) -> None:
    routed = {
        (method, _template(route.path))
        for route, _ in app.routes.routes
        for method in route.methods - {"HEAD"}
    }
    assert routed == _declared()
    # and Flask routes nothing of its own: the handlers run in its request context only
    assert list(app.flask.url_map.iter_rules()) == []


@pytest.mark.parametrize(
    "path",
    [
        "/static/app.py",  # Flask's default static route, which the app does not have
        "/api",
        "/api/",
        "/api/v1/articles",
        "/api/debug",
        "/api/console",
        "/api/admin",
        "/api/users/1",
        "/api/articles/a/b/c",
        "/api/openapi.json/",
        "/.env",
        "/.git/config",
        "/app.py",
        "/settings.py",
        "/openapi/api.yaml",
        "/metrics/extra",
    ],
)
def test_api9_undeclared_paths_are_404_problems(client: Any, path: str) -> None:
    r = client.get(path)
    assert r.status_code == 404, (path, r.status_code, r.text[:200])
    assert r.headers["content-type"].startswith("application/problem+json")


def _matches(template: str, path: str) -> bool:
    return re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), path) is not None


def test_api9_undeclared_methods_on_declared_paths_are_405(client: Any) -> None:
    declared = _declared()
    checked = 0
    for path in sorted({p for _, p in declared}):
        concrete = path.replace("{slug}", "some-slug").replace("{username}", "someone")
        concrete = concrete.replace("{id}", "1")
        for method in ("GET", "PUT", "POST", "DELETE", "PATCH"):
            # `PUT /api/articles/feed` is an article's, whose slug is "feed"
            if any(m == method and _matches(t, concrete) for m, t in declared):
                continue
            r = client.request(method, concrete)
            assert r.status_code == 405, (method, path, r.status_code)
            allowed = set(r.headers["allow"].replace(" ", "").split(","))
            assert allowed >= {m for m, p in declared if p == path}
            checked += 1
    assert checked > 40


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_api9_unusual_methods_answer_nothing_but_405_or_404(client: Any, method: str) -> None:
    for path in ("/api/tags", "/api/articles", "/api/nothing"):
        assert client.request(method, path).status_code in (404, 405), (method, path)


def test_api9_the_platform_routes_are_the_only_ones_outside_the_spec(client: Any) -> None:
    for path in PLATFORM:
        assert client.get(path).status_code in (200, 503), path
    assert client.get("/api/openapi.json").status_code == 200
    assert client.get("/api/ui/").status_code == 200
