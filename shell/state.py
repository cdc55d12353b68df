"""One request's state, shared by every step of the pipeline and the handler, and the app's
services it reaches them through.

The pipeline (shell/pipeline.py) makes one `RequestState` when a request arrives and every step
fills in what it settles: the operation (routing), the rate-limit decision, the token's claims
(authentication), the caller (authorization), the body (body limit), the arguments
(validation). It is reached one way, `current()`, on the event loop and on the handler's
thread alike (a context variable, copied across the hop). The request's database session
belongs to it too, and so does its one commit (`commit`), which the pipeline makes after the
handler returns.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from db.session import open_session
from settings import Settings
from shell.authentication import Passwords, Tokens
from shell.authorization import Caller
from shell.problems import Unauthorized
from shell.ratelimit import RateLimits
from shell.ratelimit.policy import Quotas
from shell.threads import HandlerThreads

if TYPE_CHECKING:  # the operation's plan is built by the router, which needs this module
    from shell.routing import Operation


@dataclass(frozen=True)
class Services:
    """What the app is built with, once; every request reaches it through its state."""

    settings: Settings
    engine: Engine
    sessionmaker: sessionmaker[Session]
    tokens: Tokens
    passwords: Passwords
    # everything after authentication runs on one of them
    threads: HandlerThreads
    rate_limits: RateLimits


@dataclass(slots=True, eq=False)
class RequestState:
    """Everything the steps of one request share, in the order they settle it."""

    services: Services
    request_id: str
    # the rate-limit decision: the client's address as counted, and the quotas it was counted
    # against (the RateLimit fields of the answer)
    quotas: Quotas
    operation: Operation | None = None
    # authentication: the claims of the token, verified; None when it sent none
    claims: dict[str, Any] | None = None
    # why the token sent is refused, kept until the rate limit has counted the request
    refused: Unauthorized | None = None
    # authorization: who calls, as they are now (None when anonymous)
    caller: Caller | None = None
    # the body limit: the whole body as it arrived, or why it is refused
    body: bytes = b""
    body_refused: Exception | None = None
    # validation: read-only fields the body sent back, by name (see `refuse_read_only`)
    read_only_sent: dict[str, Any] = field(default_factory=dict)
    idempotency_key: str | None = None
    _session: Session | None = None
    _on_rollback: list[Callable[[], None]] = field(default_factory=list)

    @property
    def writes(self) -> bool:
        """Whether the operation may write: any method but GET, HEAD and OPTIONS."""
        return self.operation is not None and self.operation.writes

    def session(self) -> Session:
        """The request's session, opened on first use for what the operation does."""
        if self._session is None:
            self._session = open_session(self.services.sessionmaker, writes=self.writes)
        return self._session

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Run `undo` if the request's transaction is rolled back instead of committed."""
        self._on_rollback.append(undo)

    def commit(self) -> None:
        """The one commit path: the request's transaction, after its handler returned."""
        if self._session is not None and self.writes:
            self._session.commit()

    def rollback(self) -> None:
        if self._session is not None:
            self._session.rollback()
        undo, self._on_rollback = self._on_rollback, []
        for step in undo:
            step()

    def close(self) -> None:
        if self._session is not None:
            self._session.close()  # anything not committed is rolled back
            self._session = None


_current: contextvars.ContextVar[RequestState] = contextvars.ContextVar("request_state")


def current() -> RequestState:
    """The state of the request being served."""
    return _current.get()


def current_or_none() -> RequestState | None:
    """The state of the request being served, if a request is being served."""
    return _current.get(None)


def begin(state: RequestState) -> contextvars.Token[RequestState]:
    return _current.set(state)


def end(token: contextvars.Token[RequestState]) -> None:
    _current.reset(token)
