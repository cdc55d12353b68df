"""CORS (`CORS_ORIGINS`): Starlette's middleware, with refused preflights answered as problems
like every other error, and the headers browsers may send and read."""

from __future__ import annotations

import json

from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.responses import Response
from starlette.types import ASGIApp

from shell import internals

METHODS = ["GET", "POST", "PUT", "DELETE", "OPTIONS"]
REQUEST_HEADERS = [
    "Authorization",
    "Content-Type",
    "X-Requested-With",
    "X-Request-ID",
    "Idempotency-Key",
    "If-Match",
    "If-None-Match",
]
# for browser clients: paging links, the request id to quote in a bug report, which answers are
# replays, the entity tags to send back, and the rate limits
EXPOSED_HEADERS = [
    "Link",
    "X-Request-ID",
    "Idempotent-Replayed",
    "ETag",
    "RateLimit",
    "RateLimit-Policy",
    "Retry-After",
]


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
            "errors": {"cors": [internals.refused_cors_part(detail) + " not allowed"]},
        }
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        return Response(
            json.dumps(problem),
            status_code=response.status_code,
            headers={**headers, "content-type": "application/problem+json"},
        )


def cors(app: ASGIApp, origins: tuple[str, ...]) -> ProblemCORSMiddleware:
    return ProblemCORSMiddleware(
        app,
        allow_origins=list(origins),
        allow_methods=METHODS,
        allow_headers=REQUEST_HEADERS,
        expose_headers=EXPOSED_HEADERS,
        max_age=600,
    )
