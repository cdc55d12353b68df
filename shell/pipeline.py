"""The request path, from the socket to the handler and back, in the order it runs.

    every request   a RequestState (shell/state.py), its id, and on the way out the security
                    headers, the RateLimit fields, one access-log line and the metrics
    the platform    /healthz, /readyz, /metrics (shell/health.py), before anything else
    CORS            Starlette's, around everything below (shell/cors.py)
    the document    /api/openapi.json and .yaml (shell/document.py); Swagger UI (Connexion's)
    1. routing      the operation of openapi/api.yaml, or 404, 405, a redirect (shell/routing.py)
    2. rate limit   counted per user or client address, 429 past the quota (shell/ratelimit/)
    3. authentication  the token checked, 401 when missing or refused (shell/authentication.py)
       the body     read whole on the event loop, its limits' verdict kept (shell/bodylimit.py)
    -- one hand-off to a handler thread, in Flask's request context (shell/dispatch.py) --
    4. authorization  the caller as they are now, 401 or 403 (shell/authorization.py)
    5. body limit   413 or 408, as read above
    6. validation   parameters and body, 400, 415 or 422, bound by Connexion (shell/validation.py)
    7. the handler  and the request's one commit
    -- back on the event loop --
       in tests, the answer validated against the document (Connexion's response validation)

Every refusal, wherever it happens, is a problem answer (shell/problems.py), and the first
check that refuses decides the answer: tests/test_pipeline.py walks a request through the steps
in this order.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from typing import Any, cast

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from shell import bodylimit, headers, observability, problems, state
from shell.answers import Answer
from shell.authentication import authenticate
from shell.cors import cors
from shell.dispatch import Dispatch
from shell.document import SpecDocument
from shell.health import PATHS as PLATFORM_PATHS
from shell.health import Health
from shell.ratelimit.policy import Quotas, client_address
from shell.routing import Routes
from shell.validation import ResponseCheck

Lifespan = Callable[[], contextlib.AbstractAsyncContextManager[None]]


class Pipeline:
    """The ASGI app: the steps above, for every request."""

    def __init__(
        self,
        *,
        services: state.Services,
        routes: Routes,
        dispatch: Dispatch,
        document: SpecDocument,
        health: Health,
        swagger_ui: Callable[[ASGIApp], ASGIApp],
        ui_prefix: str,
        lifespan: Lifespan,
        response_check: ResponseCheck | None,
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.routes = routes
        self.dispatch = dispatch
        self.document = document
        self.health = health
        self.ui_prefix = ui_prefix
        # Connexion's Swagger UI, which hands what it does not serve on to the operations
        self.swagger_ui = swagger_ui(self._after_ui)
        self.lifespan = lifespan
        self.response_check = response_check
        self.api = cors(self._api, services.settings.cors_origins)
        self.entry: ASGIApp = self._serve
        if services.settings.trusted_proxies:
            # The client address (and scheme) a trusted proxy forwards, for everything further
            # in: uvicorn's own middleware, here rather than in the server, so that
            # TRUSTED_PROXIES is the one setting for it and the tests run it too; `python -m
            # cli run` and gunicorn.conf.py turn the servers' copy off.
            trusted = list(services.settings.trusted_proxies)
            proxied = ProxyHeadersMiddleware(cast(Any, self._serve), trusted_hosts=trusted)
            self.entry = cast(ASGIApp, proxied)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] == "http":  # no websockets here
            await self.entry(scope, receive, send)

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = state.RequestState(
            self.services,
            observability.new_request_id(scope["headers"]),
            Quotas(client_address(scope)),
        )
        token = state.begin(request)
        sent = _Sent(send, request)
        try:
            if scope["path"] in PLATFORM_PATHS:  # neither logged nor counted: not API traffic
                answer = await self.health.answer(scope["method"], scope["path"])
                await answer.send(sent, head=scope["method"] == "HEAD")
                return
            started = time.perf_counter()
            try:
                await self.api(scope, receive, sent)
            finally:
                self._record(scope, request, sent.status, time.perf_counter() - started)
        finally:
            state.end(token)

    async def _api(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Everything under CORS: the document, Swagger UI, and the operations."""
        answer = self.document.answer(scope)
        if answer is None and scope["path"].startswith(self.ui_prefix):
            try:
                await self.swagger_ui(scope, receive, send)  # its misses come to `_operations`
            except Exception as exc:  # its static files raise 404 for a missing one
                await problems.answer(exc).send(send)
            return
        if answer is None:
            answer = await self._operations(scope, receive)
        await self._answer(scope, answer, send)

    async def _after_ui(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Where Swagger UI sends what it does not serve."""
        await self._answer(scope, await self._operations(scope, receive), send)

    async def _operations(self, scope: Scope, receive: Receive) -> Answer:
        request = state.current()
        try:
            operation, path_params = self.routes.match(scope)  # 1. routing
            request.operation = operation
            given = Headers(scope=scope)
            # the token is read first, to count the request against its user, and refused after
            claims, refused = authenticate(
                operation.security, given.get("authorization"), self.services.tokens
            )
            if operation.rate_limit is not None:  # 2. rate limit
                user = str(claims["sub"]) if claims is not None else None
                await self.services.rate_limits.count(operation.rate_limit, request.quotas, user)
            if refused is not None:  # 3. authentication
                raise refused
            if not operation.security.public:
                request.claims = claims
            request.body, request.body_refused = await bodylimit.read(
                receive,
                length=given.get("content-length"),
                chunked="transfer-encoding" in given,
                max_bytes=self.settings.max_body_bytes,
                timeout=self.settings.body_timeout_seconds,
            )
            # 4 to 7 on a handler thread
            return await self.services.threads.run(self.dispatch, scope, path_params)
        except Exception as exc:
            return problems.answer(exc)

    async def _answer(self, scope: Scope, answer: Answer, send: Send) -> None:
        operation = state.current().operation
        head = scope["method"] == "HEAD"
        if self.response_check is not None and operation is not None and not head:
            await self.response_check(operation, answer, scope, send)
            return
        await answer.send(send, head=head)

    def _record(
        self, scope: Scope, request: state.RequestState, status: int, seconds: float
    ) -> None:
        operation = request.operation
        caller = request.caller
        claims = request.claims
        user_id = caller.id if caller is not None else (claims or {}).get("sub")
        client = scope.get("client")
        observability.record(
            method=scope["method"],
            path=scope["path"],
            status=status,
            seconds=seconds,
            request_id=request.request_id,
            operation=operation.id if operation is not None else None,
            template=operation.template if operation is not None else None,
            user_id=user_id,
            client=client[0] if client else None,
            log_line=self.settings.access_log,
            count=self.settings.metrics,
        )

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        message = await receive()
        assert message["type"] == "lifespan.startup"
        async with self.lifespan():
            await send({"type": "lifespan.startup.complete"})
            while (await receive())["type"] != "lifespan.shutdown":
                pass
        await send({"type": "lifespan.shutdown.complete"})

    @property
    def flask(self) -> Any:
        """The Flask app the handlers run in."""
        return self.dispatch.flask

    def test_client(self, **options: Any) -> Any:
        """Starlette's test client on this app, as Connexion's apps have it."""
        from starlette.testclient import TestClient

        return TestClient(self, **options)


class _Sent:
    """The server's `send`, with what every answer carries added to its start: the request id,
    the security headers, the RateLimit fields of what was counted. An HTML page (Swagger UI)
    is held until it is whole, so that its policy can name its inline blocks."""

    def __init__(self, send: Send, request: state.RequestState) -> None:
        self.send = send
        self.request = request
        self.rid = request.request_id.encode()
        self.status = 500  # unless an answer starts: the server answers a crash with 500
        self.held: Message | None = None
        self.page: list[bytes] = []

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            given = list(message.get("headers", ()))
            decorated = headers.decorate(given, self.rid) + self.request.quotas.headers()
            message = {**message, "headers": decorated}
            if headers.is_page(decorated):
                self.held = message
                return
        elif self.held is not None:
            self.page.append(message.get("body", b""))
            if message.get("more_body", False):
                return
            body = b"".join(self.page)
            held = self.held
            policy = headers.page_csp(body).encode()
            given = [h for h in held["headers"] if h[0] != b"content-security-policy"]
            await self.send({**held, "headers": [*given, (b"content-security-policy", policy)]})
            message = {"type": "http.response.body", "body": body}
        await self.send(message)


@contextlib.asynccontextmanager
async def no_lifespan() -> AsyncIterator[None]:
    yield
