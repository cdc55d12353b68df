"""ASGI middleware of our own, inserted into Connexion's stack by app.py."""

from __future__ import annotations

import asyncio
import contextvars
import functools
import io
import json
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from a2wsgi.wsgi import build_environ
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shell.problems import PayloadTooLarge, RequestTimeout


class ServicesMiddleware:
    """Hands the app's services to code that runs before Flask (the security handlers)."""

    def __init__(self, app: ASGIApp, services: Any) -> None:
        self.app = app
        self.services = services

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope.setdefault("state", {})["conduit"] = self.services
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    """Refuses bodies over the limit, by Content-Length or as they stream in, and bodies that
    have not all arrived `timeout` seconds after the request began: a client trickling bytes
    (or sending fewer than it announced) would hold a connection and its buffer for ever, and
    no server in front of the app is guaranteed to stop it (uvicorn has no body timeout)."""

    def __init__(self, app: ASGIApp, max_bytes: int, timeout: float) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.timeout = timeout

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise self._too_large()
        if not (length.isdigit() and int(length)) and "transfer-encoding" not in headers:
            await self.app(scope, receive, send)  # no body to wait for
            return
        seen = 0
        deadline = asyncio.get_running_loop().time() + self.timeout

        async def limited() -> Message:
            nonlocal seen
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise RequestTimeout.on(
                    "body",
                    "took too long to arrive",
                    f"The request body did not arrive within {self.timeout:g} seconds.",
                ) from None
            seen += len(message.get("body", b""))
            if seen > self.max_bytes:
                raise self._too_large()
            return message

        await self.app(scope, limited, send)

    def _too_large(self) -> PayloadTooLarge:
        return PayloadTooLarge.on(
            "body", "is too large", f"The request body is larger than {self.max_bytes} bytes."
        )


class ProblemCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, with refused preflights answered in JSON like every other error."""

    def preflight_response(self, request_headers: Headers) -> Response:
        response = super().preflight_response(request_headers)
        if response.status_code < 400:
            return response
        detail = bytes(response.body).decode()
        problem = {
            "type": "about:blank",
            "title": "Bad Request",
            "status": response.status_code,
            "detail": detail + ".",
            "errors": {"cors": [detail.removeprefix("Disallowed CORS ") + " not allowed"]},
        }
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(
            json.dumps(problem),
            status_code=response.status_code,
            headers={**headers, "content-type": "application/problem+json"},
        )


class BufferedWSGI:
    """Runs the Flask app on a worker thread with the whole exchange in one hand-off.

    Connexion's FlaskApp bridges to Flask with a2wsgi, which streams: every response message
    (start, each chunk, the end) is a blocking round trip from the worker thread back to the
    event loop. Our bodies are small JSON documents already capped by `BodyLimitMiddleware`,
    so the request body is read on the loop, the response is collected on the thread, and the
    loop sends it. That is one thread switch each way instead of four, worth about half again
    the throughput of a trivial endpoint (see README, Performance).
    """

    def __init__(self, app: Callable[..., Iterable[bytes]], executor: ThreadPoolExecutor) -> None:
        self.app = app  # Connexion's add_wsgi_middleware wraps this attribute
        self.executor = executor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":  # Flask has no start-up or shutdown work
            await self._lifespan(receive, send)
            return
        chunks = []
        more = True
        while more:
            message = await receive()
            chunks.append(message.get("body", b""))
            more = message.get("more_body", False)
        request = io.BytesIO(b"".join(chunks))
        # a2wsgi types the body as its own streaming reader and the environ as a TypedDict; a
        # BytesIO reads the same, and the environ is only handed on to Flask
        environ: dict[str, Any] = build_environ(scope, request)  # type: ignore[arg-type, assignment]
        run = functools.partial(contextvars.copy_context().run, self._exchange, environ)
        status, headers, body = await asyncio.get_running_loop().run_in_executor(self.executor, run)
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})

    def _exchange(self, environ: dict[str, Any]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        started: list[Any] = []
        written: list[bytes] = []

        def start_response(status: str, headers: list[tuple[str, str]], _exc: Any = None) -> Any:
            encoded = [(k.lower().encode("latin1"), v.encode("latin1")) for k, v in headers]
            started[:] = [int(status.split(" ", 1)[0]), encoded]
            return written.append  # WSGI's legacy write(), whose data comes first

        iterable = self.app(environ, start_response)
        try:
            body = b"".join([*written, *iterable])
        finally:
            if hasattr(iterable, "close"):
                iterable.close()
        return started[0], started[1], body
