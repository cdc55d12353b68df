"""The smallest app on each server stack `python -m bench.stack` compares, each answering
GET /api/ping with the same small JSON body and doing nothing else: no database, no token, no
middleware of ours. gunicorn loads them by name (`bench.stack_apps:connexion_flask()`)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import connexion
import flask
from starlette.types import Receive, Scope, Send

from shell import internals as connexion_private
from shell.middleware import BufferedWSGI

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


def connexion_flask_buffered() -> Any:
    """FlaskApp behind this service's bridge (shell.middleware.BufferedWSGI), as app.py runs it."""
    app = connexion_flask()
    executor = ThreadPoolExecutor(thread_name_prefix="handler", max_workers=4)
    connexion_private.bridge_flask(app, BufferedWSGI(app.app.wsgi_app, executor))
    return app


def plain_flask() -> flask.Flask:
    """Flask alone, for gunicorn's sync workers: the plain-Flask peer's stack."""
    app = flask.Flask(__name__)
    app.add_url_rule("/api/ping", "ping", ping)
    return app
