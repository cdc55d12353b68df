"""OWASP API8:2023 security misconfiguration: what an error may show, the headers every kind of
answer carries, debug off outside development. (The CORS policy is in tests/test_errors.py and
the refusal of weak secrets in tests/test_settings.py.)"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from sqlalchemy import Connection
from sqlalchemy.exc import OperationalError

from app import create_app
from db import articles
from settings import Settings
from tests.helpers import Api, assert_problem

LEAKS = ("Traceback", "SELECT", "sqlalchemy", "psycopg", "OperationalError", "File \"", ".py",
         "password=", "secret")  # fmt: skip


def _failing(*_args: Any) -> list[str]:
    raise OperationalError(
        "SELECT tags.name FROM tags WHERE secret = %(x)s",
        {"x": "password=hunter2"},
        Exception('connection to server at "10.0.0.5", port 5432 failed: File "/app/db.py"'),
    )


def test_api8_an_unexpected_error_is_a_500_problem_that_tells_nothing(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(articles, "tags_in_use", _failing)
    r = client.get("/api/tags")
    body = assert_problem(r, 500, "server")
    assert body["detail"] == "The server failed; try again later."
    assert not [leak for leak in LEAKS if leak in r.text], r.text
    assert r.headers["x-request-id"]  # what a user can quote instead


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/tags", 200),
        ("GET", "/api/nothing-here", 404),
        ("DELETE", "/api/tags", 405),
        ("GET", "/api/user", 401),
        ("GET", "/api/articles?limit=1000", 422),
        ("POST", "/api/users/login", 400),
        ("GET", "/api/openapi.json", 200),
        ("GET", "/api/ui/", 200),
        ("GET", "/healthz", 200),
        ("GET", "/metrics", 200),
    ],
)
def test_api8_every_kind_of_answer_carries_the_security_headers(
    client: Any, method: str, path: str, status: int
) -> None:
    r = client.request(method, path, content=b"x" if method == "POST" else None)
    assert r.status_code == status, r.text[:200]
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    policy = r.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in policy
    assert "'unsafe-inline'" not in policy
    assert "'unsafe-eval'" not in policy


def test_api8_a_500_carries_the_security_headers_too(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(articles, "tags_in_use", _failing)
    r = client.get("/api/tags")
    assert r.status_code == 500
    assert r.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in r.headers["content-security-policy"]


@pytest.mark.parametrize("environment", ["production", "test"])
def test_api8_debug_is_off_outside_development(
    settings: Settings, connection: Connection, environment: str
) -> None:
    app = create_app(dataclasses.replace(settings, environment=environment), bind=connection)
    assert app.flask.debug is False  # no Werkzeug debugger, no tracebacks in answers
    assert not app.flask.testing
    # (Connexion sets PROPAGATE_EXCEPTIONS so that an exception reaches its own handlers, which
    # answer with the problem above, not Flask's debugger)


def test_api8_tokens_are_never_cached(api: Api) -> None:
    jake = api.register()
    for r in (
        api.client.post("/api/users/login",
                        json={"user": {"email": jake.email, "password": jake.password}}),
        api.client.get("/api/user", headers=jake.headers),
        api.client.post("/api/auth/token", data={"grant_type": "password",
                        "username": jake.username, "password": jake.password}),
    ):  # fmt: skip
        assert r.status_code == 200, r.text
        assert "no-store" in r.headers["cache-control"]
