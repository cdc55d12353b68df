"""The smallest app on each server stack `python -m bench.stack` compares, each answering
GET /api/ping with the same small JSON body and doing nothing else: no database, no token, no
middleware of ours. gunicorn loads them by name (`bench.stack_apps:connexion_flask()`)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import connexion
import flask
import orjson
from connexion.resolver import Resolver
from starlette.types import Receive, Scope, Send

from app import build_pipeline, build_services
from settings import Settings
from shell import observability

BODY = b'{"tags":["ping","pong"]}'
SPEC: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "the floor of a stack", "version": "1"},
    "servers": [{"url": "/api"}],
    "paths": {
        "/ping": {
            "get": {
                "operationId": "bench.stack_apps.ping",
                "responses": {
                    "200": {
                        "description": "a fixed body",
                        "content": {"application/json": {"schema": {"type": "object"}}},
                    }
                },
            }
        }
    },
}


def ping() -> dict[str, list[str]]:
    """The one operation: a sync function, as every handler of this service is."""
    return {"tags": ["ping", "pong"]}


async def raw(scope: Scope, receive: Receive, send: Send) -> None:
    """A bare ASGI app: what uvicorn and the event loop cost on their own."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": BODY})


def connexion_async() -> Any:
    """Connexion's AsyncApp: its middleware (routing, security, validation) with no Flask."""
    app = connexion.AsyncApp(__name__)
    app.add_api(SPEC)
    return app


def connexion_flask() -> Any:
    """Connexion's FlaskApp as it comes: Flask behind Connexion's bridge (a2wsgi)."""
    app = connexion.FlaskApp(__name__)
    app.add_api(SPEC)
    return app


def pipeline() -> Any:
    """This service's pipeline (shell/pipeline.py) with production defaults, on the same one
    operation, public and rate-limited like GET /api/tags: a request id, the security headers,
    CORS, routing, the rate limit, the hand-off to a handler thread in Flask's request context,
    validation, the access log and the metrics."""
    database = Path(tempfile.gettempdir()) / "conduit-bench-floor.db"  # never opened
    # counted, but never refused: one client sends far more than 300 a minute
    settings = Settings(
        secret_key="k" * 40,
        database_url=f"sqlite:///{database}",
        rate_limit_default="100000000/minute",
    )
    observability.configure_logging(settings.log_format, settings.log_level)
    spec = {**SPEC, "x-rate-limit": "default"}
    spec["paths"] = {"/ping": {"get": {**SPEC["paths"]["/ping"]["get"], "security": []}}}
    return build_pipeline(
        build_services(settings, None), spec, orjson.dumps(spec).decode(), Resolver()
    )


def plain_flask() -> flask.Flask:
    """Flask alone, for gunicorn's sync workers: the plain-Flask peer's stack."""
    app = flask.Flask(__name__)
    app.add_url_rule("/api/ping", "ping", ping)
    return app
