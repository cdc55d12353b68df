"""The bridge from Connexion's ASGI stack to Flask: whole exchanges, one hand-off each."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from shell.middleware import BufferedWSGI


class _Body:
    """A WSGI response iterable that records whether the server closed it."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        return iter(self.chunks)

    def close(self) -> None:
        self.closed = True


def _exchange(app: Callable[..., Any], scope: dict[str, Any], messages: list[Any]) -> list[Any]:
    sent: list[Any] = []
    incoming = iter(messages)

    async def receive() -> Any:
        return next(incoming)

    async def send(message: Any) -> None:
        sent.append(message)

    asyncio.run(BufferedWSGI(app, ThreadPoolExecutor(max_workers=2))(scope, receive, send))
    return sent


def _scope(method: str = "POST") -> dict[str, Any]:
    return {
        "type": "http",
        "method": method,
        "path": "/api/echo",
        "query_string": b"q=1",
        "http_version": "1.1",
        "headers": [(b"content-type", b"text/plain"), (b"x-twice", b"a"), (b"x-twice", b"b")],
    }


def test_the_whole_request_body_reaches_the_app_and_the_whole_response_comes_back() -> None:
    seen: dict[str, Any] = {}
    body = _Body([b"second ", b"third"])

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> _Body:
        seen.update(environ, body=environ["wsgi.input"].read(), thread=threading.current_thread())
        write = start_response("201 Created", [("Content-Type", "text/plain"), ("X-A", "1")])
        write(b"first ")  # WSGI's legacy write(): its data goes before the iterable's
        return body

    sent = _exchange(
        app,
        _scope(),
        [
            {"type": "http.request", "body": b"chunk one, ", "more_body": True},
            {"type": "http.request", "body": b"chunk two", "more_body": False},
        ],
    )
    assert seen["body"] == b"chunk one, chunk two"
    assert seen["QUERY_STRING"] == "q=1"
    assert seen["HTTP_X_TWICE"] == "a,b"
    assert seen["thread"] is not threading.main_thread()  # never on the event loop
    assert sent == [
        {
            "type": "http.response.start",
            "status": 201,
            "headers": [(b"content-type", b"text/plain"), (b"x-a", b"1")],
        },
        {"type": "http.response.body", "body": b"first second third"},
    ]
    assert body.closed


def test_an_exception_in_the_app_reaches_the_asgi_stack() -> None:
    def app(_environ: dict[str, Any], _start_response: Callable[..., Any]) -> list[bytes]:
        raise LookupError("from the handler")

    with pytest.raises(LookupError, match="from the handler"):
        _exchange(app, _scope("GET"), [{"type": "http.request", "body": b""}])


def test_lifespan_is_answered() -> None:
    def app(_environ: dict[str, Any], _start_response: Callable[..., Any]) -> list[bytes]:
        raise AssertionError("lifespan must not reach Flask")  # pragma: no cover

    sent = _exchange(
        app, {"type": "lifespan"}, [{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}]
    )
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
