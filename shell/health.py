"""What the platform asks: `/healthz` (the process answers), `/readyz` (and so do the database
and Redis) and `/metrics` (Prometheus). They are for the orchestrator and the monitoring, not
for API clients, so they are outside `/api`, never rate-limited, and not in the OpenAPI
document; the pipeline answers them before routing."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import orjson
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from redis import Redis
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from shell.answers import JSON, Answer

PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
READY_TIMEOUT_SECONDS = 2.0
PROBLEM = "application/problem+json"

log = logging.getLogger("conduit")


class Health:
    def __init__(
        self,
        checks: Iterable[Callable[[], None]],
        run: Callable[[Callable[[], Any]], Awaitable[Any]],
    ) -> None:
        self.checks = tuple(checks)
        self.run = run  # on a handler thread: the checks and the metrics files block

    async def answer(self, method: str, path: str) -> Answer:
        if method not in ("GET", "HEAD"):
            refused = {"method": [f"{method} is not allowed"]}
            body = _problem(405, "Method Not Allowed", "Use GET.", refused)
            return _answer(405, body, PROBLEM, allow=b"GET, HEAD")
        if path == "/healthz":
            return _answer(200, b'{"status":"ok"}', JSON)
        if path == "/readyz":
            return await self._readiness()
        return _answer(200, await self.run(metrics_page), CONTENT_TYPE_LATEST)

    async def _readiness(self) -> Answer:
        failed = []
        for check in self.checks:
            try:
                await asyncio.wait_for(self.run(check), READY_TIMEOUT_SECONDS)
            except Exception as e:  # any failure means not ready, and the answer says which
                name = getattr(check, "__name__", "check")
                log.warning("readiness check %s failed: %s", name, e.__class__.__name__)
                failed.append(name)
        if not failed:
            return _answer(200, b'{"status":"ready"}', JSON)
        detail = f"Not ready: {', '.join(failed)} unreachable."
        errors = {name: ["is unreachable"] for name in failed}
        body = _problem(503, "Service Unavailable", detail, errors)
        return _answer(503, body, PROBLEM, retry_after=b"5")


def _answer(
    status: int,
    body: bytes,
    kind: str,
    *,
    allow: bytes | None = None,
    retry_after: bytes | None = None,
) -> Answer:
    headers = [(b"content-type", kind.encode()), (b"cache-control", b"no-store")]
    if allow is not None:
        headers.append((b"allow", allow))
    if retry_after is not None:
        headers.append((b"retry-after", retry_after))
    return Answer(status, headers, body)


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
