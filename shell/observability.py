"""What operators see: request ids, one JSON log line per request, metrics, health, and the
headers every response carries.

`EdgeMiddleware` is the outermost of our middleware, so everything it adds (the request id,
the security headers, the log line, the counts) also covers errors and Swagger UI. It answers
`/healthz`, `/readyz` and `/metrics` itself, before routing: they are for the platform, not for
API clients, so they are outside `/api`, never rate-limited, and not in the OpenAPI document.
"""

from __future__ import annotations

import asyncio
import base64
import contextvars
import hashlib
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable
from typing import IO, Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from pythonjsonlogger.orjson import OrjsonFormatter
from redis import Redis
from sqlalchemy import Engine, event, text
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shell import metrics
from shell.authorization import CONTEXT_KEY

REQUEST_ID_HEADER = "X-Request-ID"
# an id from the client or a proxy is kept when it is visible ASCII and not too long, so it can
# go into logs and headers as it is; anything else is replaced by one of ours
_SANE_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")
_request_id: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)

# an API answer is data, never a page: nothing in it may load, run or be framed
API_CSP = "default-src 'none'; frame-ancestors 'none'"
SECURITY_HEADERS = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
)
_INLINE = re.compile(rb"<(script|style)>(.*?)</\1>", re.DOTALL)

HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
READY_TIMEOUT_SECONDS = 2.0

_HANDLER_NAME = "conduit"
access_log = logging.getLogger("conduit.access")
log = logging.getLogger("conduit")


def request_id() -> str | None:
    """The id of the request being served, for code that wants to mention it."""
    return _request_id.get()


class RequestIdFilter(logging.Filter):
    """Puts the request id on every log record made while a request is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _request_id.get()
        return True


def configure_logging(log_format: str, level: str, stream: IO[str] | None = None) -> None:
    """One handler on the root logger, JSON lines (or plain text for a developer's terminal),
    to stdout unless told otherwise; idempotent, since tests build many apps in one process."""
    handler = logging.StreamHandler(stream or sys.stdout)
    if log_format == "json":
        handler.setFormatter(
            OrjsonFormatter(
                "%(levelname)s %(name)s %(message)s",
                rename_fields={"levelname": "level", "name": "logger"},
                timestamp="time",
            )
        )
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    handler.addFilter(RequestIdFilter())
    handler.set_name(_HANDLER_NAME)
    root = logging.getLogger()
    # replace our own handler only: others (pytest's, an embedding program's) stay
    root.handlers = [h for h in root.handlers if h.get_name() != _HANDLER_NAME] + [handler]
    root.setLevel(level.upper())
    # our access line replaces the server's, which knows neither the operation nor the user
    logging.getLogger("uvicorn.access").disabled = True


def count_pool_checkouts(engine: Engine) -> None:
    """Keeps the pool-in-use gauge by the pool's own events, so every worker reports its own
    and the multiprocess collector sums them."""
    event.listen(engine, "checkout", lambda *_: metrics.DB_POOL_IN_USE.inc())
    event.listen(engine, "checkin", lambda *_: metrics.DB_POOL_IN_USE.dec())


class EdgeMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        templates: dict[str, str],
        ready_checks: Iterable[Callable[[], None]],
        run: Callable[[Callable[[], Any]], Awaitable[Any]],
        client_address: Callable[[Scope], str | None],
        access_log_enabled: bool = True,
        metrics_enabled: bool = True,
    ) -> None:
        self.app = app
        self.templates = templates  # operationId -> "/api/articles/{slug}"
        self.ready_checks = tuple(ready_checks)
        self.run = run  # on a handler thread: the checks and the metrics files block
        self.client_address = client_address
        self.access_log_enabled = access_log_enabled
        self.metrics_enabled = metrics_enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = self._request_id(scope)
        token = _request_id.set(rid)
        # Connexion's router works on a copy of the scope: a dict made here is shared by the
        # copy, so what routing and authentication leave in it is seen here afterwards
        scope.setdefault("extensions", {})
        try:
            if scope["path"] in HEALTH_PATHS:
                await self._platform(scope, send, rid)
                return
            await self._serve(scope, receive, send, rid)
        finally:
            _request_id.reset(token)

    async def _serve(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        started = time.perf_counter()
        status = 500  # unless an answer starts: the server answers a crash with 500
        held: Message | None = None
        page: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = MutableHeaders(scope=message)
                _decorate(headers, rid)
                if headers.get("content-type", "").startswith("text/html"):
                    held = message  # the policy hashes the page's inline blocks: wait for it
                    return
            elif held is not None:
                page.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(page)
                MutableHeaders(scope=held)["content-security-policy"] = page_csp(body)
                await send(held)
                message = {"type": "http.response.body", "body": body}
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        finally:
            self._record(scope, status, time.perf_counter() - started, rid)

    def _record(self, scope: Scope, status: int, seconds: float, rid: str) -> None:
        extensions = scope.get("extensions", {})
        # Connexion routes by the resolved handler name, `handlers.articles.get_article`
        resolved = extensions.get("connexion_routing", {}).get("operation_id")
        operation = resolved.rsplit(".", 1)[-1] if resolved else None
        if self.metrics_enabled:
            label = operation or "none"
            metrics.REQUESTS.labels(label, str(status)).inc()
            metrics.LATENCY.labels(label).observe(seconds)
        if not self.access_log_enabled:
            return
        context = extensions.get("connexion_context", {})
        caller = context.get(CONTEXT_KEY)
        # the caller is settled unless the request was refused before that (bad input, say)
        user_id = caller.id if caller is not None else (context.get("token_info") or {}).get("sub")
        access_log.info(
            "%s %s %s",
            scope["method"],
            scope["path"],
            status,
            extra={
                "request_id": rid,
                "method": scope["method"],
                # the template keeps user data (usernames, slugs) out of what logs index on
                "path": self.templates.get(operation, "") if operation else None,
                "operation": operation,
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "user_id": user_id,
                "client": self.client_address(scope),
            },
        )

    async def _platform(self, scope: Scope, send: Send, rid: str) -> None:
        path = scope["path"]
        if scope["method"] not in ("GET", "HEAD"):
            refused = {"method": [f"{scope['method']} is not allowed"]}
            status, body, kind = (
                405,
                _problem(405, "Method Not Allowed", "Use GET.", refused),
                PROBLEM,
            )
        elif path == "/healthz":
            status, body, kind = 200, b'{"status":"ok"}', JSON
        elif path == "/readyz":
            status, body, kind = await self._readiness()
        else:
            status, body, kind = 200, await self.run(metrics_page), CONTENT_TYPE_LATEST
        headers = MutableHeaders({"content-type": kind, "cache-control": "no-store"})
        if status == 405:
            headers["allow"] = "GET, HEAD"
        _decorate(headers, rid)
        if status == 503:
            headers["retry-after"] = "5"
        await send({"type": "http.response.start", "status": status, "headers": headers.raw})
        if scope["method"] == "HEAD":
            body = b""
        await send({"type": "http.response.body", "body": body})

    async def _readiness(self) -> tuple[int, bytes, str]:
        failed = []
        for check in self.ready_checks:
            try:
                await asyncio.wait_for(self.run(check), READY_TIMEOUT_SECONDS)
            except Exception as e:  # any failure means not ready, and the answer says which
                name = getattr(check, "__name__", "check")
                log.warning("readiness check %s failed: %s", name, e.__class__.__name__)
                failed.append(name)
        if not failed:
            return 200, b'{"status":"ready"}', JSON
        detail = f"Not ready: {', '.join(failed)} unreachable."
        errors = {name: ["is unreachable"] for name in failed}
        return 503, _problem(503, "Service Unavailable", detail, errors), PROBLEM

    @staticmethod
    def _request_id(scope: Scope) -> str:
        for name, value in scope["headers"]:
            if name == b"x-request-id" and _SANE_REQUEST_ID.fullmatch(value):
                sane: str = value.decode("ascii")
                return sane
        return uuid.uuid4().hex


JSON = "application/json; charset=utf-8"
PROBLEM = "application/problem+json"


def _decorate(headers: MutableHeaders, rid: str) -> None:
    headers["x-request-id"] = rid
    for name, value in SECURITY_HEADERS:
        headers.raw.append((name, value))
    if "content-security-policy" not in headers:
        headers["content-security-policy"] = API_CSP


def page_csp(page: bytes) -> str:
    """The policy for an HTML page we serve (Swagger UI): its own origin for everything it
    loads and calls, `data:` images (its icons), and exactly the inline script and style
    blocks the page has, by hash, so nothing injected runs."""
    hashes: dict[bytes, list[str]] = {b"script": [], b"style": []}
    for kind, content in _INLINE.findall(page):
        digest = base64.b64encode(hashlib.sha256(content).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    return "; ".join(
        [
            "default-src 'self'",
            " ".join(["script-src 'self'", *hashes[b"script"]]),
            " ".join(["style-src 'self'", *hashes[b"style"]]),
            "img-src 'self' data:",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )


def _problem(status: int, title: str, detail: str, errors: dict[str, list[str]]) -> bytes:
    problem = {"type": "about:blank", "title": title, "status": status, "detail": detail}
    return orjson.dumps({**problem, "errors": errors})


def metrics_page() -> bytes:
    """Every worker's metrics when gunicorn runs several (the multiprocess files), else this
    process's."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        # prometheus-client ships this constructor without annotations
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry)
    return generate_latest(REGISTRY)


def redis_check(url: str) -> Callable[[], None]:
    """Whether the Redis that keeps the rate limits answers (they fail open without it, so the
    service is up, but a platform should know)."""

    def redis() -> None:
        client = Redis.from_url(url, socket_timeout=READY_TIMEOUT_SECONDS)
        try:
            client.ping()
        finally:
            client.close()

    return redis


def database_check(maker: sessionmaker[Session]) -> Callable[[], None]:
    """Whether the database the requests use answers, through the same sessions they use."""

    def database() -> None:
        with maker() as s:
            s.execute(text("SELECT 1"))

    return database
