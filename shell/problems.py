"""Every error leaves as RFC 9457 problem details carrying the RealWorld `errors` member
(`answer`, the pipeline's one place for it), and the errors that only HTTP has (the data
layer's own are in db/errors.py)."""

from __future__ import annotations

import logging
import threading
import time
from http import HTTPStatus

import orjson
from connexion.exceptions import ProblemException
from starlette.exceptions import HTTPException

from db.errors import DomainError, FieldErrors, unreachable
from shell.answers import Answer

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"
# the field an error without one is reported under, by status
_DEFAULT_FIELD = {
    401: "token",
    403: "permission",
    404: "resource",
    405: "method",
    413: "body",
    415: "body",
}
_WWW_AUTHENTICATE = 'Bearer realm="conduit", Token realm="conduit"'
# what a client is told to wait while the database cannot be reached: about what a restart takes
RETRY_UNAVAILABLE_SECONDS = 5
# while it stays unreachable, one warning per this many seconds (per process)
WARN_UNAVAILABLE_EVERY_SECONDS = 10.0


class BadRequest(DomainError):
    """The request cannot even be read: malformed JSON, a bad Content-Length."""

    status_code = 400


class Unauthorized(DomainError):
    """No usable credentials: missing, invalid, expired or revoked."""

    status_code = 401


class PayloadTooLarge(DomainError):
    status_code = 413


class UnsupportedMediaType(DomainError):
    """A body in a media type the operation does not take; the message names those it does."""

    status_code = 415


class RequestTimeout(DomainError):
    """The body did not arrive in time (shell/bodylimit.py); the connection is closed after
    the answer, as RFC 9110 (15.5.9) asks, since what is left of the body would follow."""

    status_code = 408


class TooManyRequests(DomainError):
    """A rate limit is exhausted (shell/ratelimit.py); `retry_after` seconds until it is not.
    The RateLimit fields that go with it are added to the response by the rate limiter."""

    status_code = 429

    def __init__(self, retry_after: int, detail: str) -> None:
        super().__init__({"rate limit": [f"exceeded, retry in {retry_after} s"]}, detail)
        self.retry_after = retry_after


class OAuthError(Exception):
    """A refused token request, answered as RFC 6749 section 5.2 says rather than as a problem:
    OAuth2 clients (Swagger UI's among them) read `error` and `error_description`."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class MethodNotAllowed(Exception):
    """The path is routed, but not for this method: 405 with `Allow` (RFC 9110 15.5.6)."""

    def __init__(self, allowed: list[str]) -> None:
        super().__init__("Method Not Allowed")
        self.allowed = allowed


class Redirect(Exception):
    """The path is routed only with (or without) a trailing slash: 307 to that one."""

    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location


def problem(
    status: int, errors: FieldErrors, detail: str, headers: dict[str, str] | None = None
) -> Answer:
    body = {
        "type": "about:blank",
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "errors": errors,
    }
    headers = dict(headers or {})
    if status == 401:
        headers["WWW-Authenticate"] = _WWW_AUTHENTICATE
    return Answer.json(status, orjson.dumps(body), headers, content_type=PROBLEM_JSON)


def answer(exc: Exception) -> Answer:
    """What the client is told of any exception the request raised."""
    if isinstance(exc, DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if isinstance(exc, TooManyRequests) else {}
        if isinstance(exc, RequestTimeout):
            headers["Connection"] = "close"
        return problem(exc.status_code, exc.errors, exc.detail, headers)
    if isinstance(exc, OAuthError):
        body = {"error": exc.error, "error_description": exc.description}
        return Answer.json(
            400, orjson.dumps(body), {"Cache-Control": "no-store"}, content_type="application/json"
        )
    if isinstance(exc, Redirect):
        return Answer(
            307, [(b"location", exc.location.encode("latin-1")), (b"content-length", b"0")], b""
        )
    if isinstance(exc, MethodNotAllowed):
        errors = {"method": ["method not allowed"]}
        return problem(405, errors, "Method Not Allowed", {"Allow": ", ".join(exc.allowed)})
    if isinstance(exc, ProblemException):
        return _http(exc.status, str(exc.detail or exc.title))
    if isinstance(exc, HTTPException):
        return _http(exc.status_code, str(exc.detail))
    return server_error(exc)


def _http(status: int, detail: str) -> Answer:
    message = _short(status)
    return problem(status, {_DEFAULT_FIELD.get(status, "request"): [message]}, detail)


def server_error(exc: Exception) -> Answer:
    if unreachable(exc):
        return unavailable(exc)
    log.error("unhandled error", exc_info=exc)
    return problem(500, {"server": ["internal error"]}, "The server failed; try again later.")


def unavailable(exc: Exception) -> Answer:
    """The database cannot be reached: nothing is wrong with the request, so 503 with when to
    try again, and a warning in the log rather than a traceback per request."""
    DATABASE_OUTAGE.count(exc)
    seconds = RETRY_UNAVAILABLE_SECONDS
    return problem(
        503,
        {"server": ["temporarily unavailable"]},
        f"The service is briefly unavailable; retry in {seconds} seconds.",
        {"Retry-After": str(seconds)},
    )


class DatabaseOutage:
    """Warns at the first 503 and then at most once per `every` seconds, with how many there
    were: an outage under load would otherwise write one line per request."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.warn_at = 0.0
        self.unwarned = 0
        self.lock = threading.Lock()  # handlers run on many threads

    def count(self, error: Exception) -> None:
        with self.lock:
            self.unwarned += 1
            now = time.monotonic()
            if now < self.warn_at:
                return
            self.warn_at, answered, self.unwarned = now + self.every, self.unwarned, 0
        # the driver's first line (what failed, where); never the statement or its parameters
        reason = (str(getattr(error, "orig", None) or error).strip().splitlines() or ["-"])[0]
        log.warning(
            "database unreachable (%s: %s); %d request(s) answered 503 since the last warning",
            error.__class__.__name__,
            reason,
            answered,
        )


DATABASE_OUTAGE = DatabaseOutage(WARN_UNAVAILABLE_EVERY_SECONDS)


def _short(status: int) -> str:
    return HTTPStatus(status).phrase.lower()
