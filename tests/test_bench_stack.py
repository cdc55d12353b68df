"""The floor apps `python -m bench.stack` measures: each answers the one operation alike, so the
comparison in docs/performance.md is between stacks, not between different work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from starlette.testclient import TestClient

from bench import stack_apps

ASGI_APPS: dict[str, Callable[[], Any]] = {
    "raw": lambda: stack_apps.raw,
    "connexion_async": stack_apps.connexion_async,
    "connexion_flask": stack_apps.connexion_flask,
    "pipeline": stack_apps.pipeline,
}


@pytest.mark.parametrize("name", sorted(ASGI_APPS))
def test_each_asgi_floor_app_answers_the_ping(name: str) -> None:
    with TestClient(ASGI_APPS[name]()) as client:
        r = client.get("/api/ping")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/json")
    assert r.json() == {"tags": ["ping", "pong"]}


def test_plain_flask_answers_the_same_body() -> None:
    r = stack_apps.plain_flask().test_client().get("/api/ping")
    assert r.status_code == 200
    assert orjson.loads(r.data) == orjson.loads(stack_apps.BODY)


def test_the_pipeline_floor_app_routes_only_the_spec_and_counts() -> None:
    """A path outside the one-path spec is not served, and the one operation is rate-limited:
    the pipeline's floor does route and count."""
    with TestClient(stack_apps.pipeline()) as client:
        assert client.get("/api/pong").status_code == 404
        assert client.get("/api/ping").headers["ratelimit-policy"].startswith('"default";q=')
