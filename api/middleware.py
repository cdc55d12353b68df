"""ASGI middleware of our own, inserted into Connexion's stack by app.py."""

from __future__ import annotations

import json
from typing import Any

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from db.errors import PayloadTooLarge


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
    """Refuses bodies over the limit, by Content-Length or as they stream in."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise self._too_large()
        seen = 0

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
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
