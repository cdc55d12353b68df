"""What operators see of each request: its id, one JSON log line, and its count and duration
in the metrics; the pipeline records every answer, errors and Swagger UI included."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from typing import IO

from pythonjsonlogger.orjson import OrjsonFormatter
from sqlalchemy import Engine, event

from shell import metrics, state

REQUEST_ID_HEADER = "X-Request-ID"
# an id from the client or a proxy is kept when it is visible ASCII and not too long, so it can
# go into logs and headers as it is; anything else is replaced by one of ours
_SANE_REQUEST_ID = re.compile(rb"[\x21-\x7e]{1,128}")

_HANDLER_NAME = "conduit"
access_log = logging.getLogger("conduit.access")
log = logging.getLogger("conduit")


def new_request_id(headers: list[tuple[bytes, bytes]]) -> str:
    """The client's (or a proxy's) X-Request-ID when it is sane, else a new one."""
    for name, value in headers:
        if name == b"x-request-id" and _SANE_REQUEST_ID.fullmatch(value):
            sane: str = value.decode("ascii")
            return sane
    return uuid.uuid4().hex


def request_id() -> str | None:
    """The id of the request being served, for code that wants to mention it."""
    served = state.current_or_none()
    return None if served is None else served.request_id


class RequestIdFilter(logging.Filter):
    """Puts the request id on every log record made while a request is served."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id()
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


def record(
    *,
    method: str,
    path: str,
    status: int,
    seconds: float,
    request_id: str,
    operation: str | None,
    template: str | None,
    user_id: object,
    client: str | None,
    log_line: bool,
    count: bool,
) -> None:
    """One answered request: its log line and its metrics."""
    if count:
        label = operation or "none"
        metrics.REQUESTS.labels(label, str(status)).inc()
        metrics.LATENCY.labels(label).observe(seconds)
    if not log_line:
        return
    access_log.info(
        "%s %s %s",
        method,
        path,
        status,
        extra={
            "request_id": request_id,
            "method": method,
            # the template keeps user data (usernames, slugs) out of what logs index on
            "path": template,
            "operation": operation,
            "status": status,
            "duration_ms": round(seconds * 1000, 3),
            "user_id": user_id,
            "client": client,
        },
    )
