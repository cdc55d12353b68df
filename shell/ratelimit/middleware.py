"""The rate limits in Connexion's stack: counted after routing, before authentication, and
their fields added to every answer (see the package's docstring)."""

from __future__ import annotations

from typing import Any

from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from connexion.operations import AbstractOperation
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shell.authentication import Tokens, decode_once, token_of
from shell.problems import Unauthorized
from shell.ratelimit import QUOTAS_KEY, RateLimits
from shell.ratelimit.counters import Counters
from shell.ratelimit.policy import AUTH, DEFAULT, EXTENSION, Policy, Quotas, client_address


class RateLimitHeaders:
    """Adds the RateLimit-Policy and RateLimit fields of the request's quotas to its response,
    whichever part of the stack answered it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # created here, so that every copy of the scope further in shares this one dict
        state = scope.setdefault("state", {})

        async def send_with_quotas(message: Message) -> None:
            quotas: Quotas | None = state.get(QUOTAS_KEY)
            if message["type"] == "http.response.start" and quotas is not None:
                message["headers"] = [*message.get("headers", ()), *quotas.headers()]
            await send(message)

        await self.app(scope, receive, send_with_quotas)


class RateLimitOperation:
    """One operation's policy, counted for each of its requests."""

    def __init__(
        self, next_app: ASGIApp, *, policy: Policy, counters: Counters, tokens: Tokens
    ) -> None:
        self.next_app = next_app
        self.policy = policy
        self.counters = counters
        self.tokens = tokens
        self.per_user = policy.name == DEFAULT

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        state = scope.setdefault("state", {})
        quotas = Quotas(client_address(scope))
        state[QUOTAS_KEY] = quotas
        # for the login handlers, on their thread
        context = scope.setdefault("extensions", {}).setdefault("connexion_context", {})
        context[QUOTAS_KEY] = quotas
        key = (self.per_user and self._user(scope, state)) or f"address:{quotas.address}"
        quota = await self.counters.hit(self.policy, key)
        if quota is not None:
            quotas.counted.append(quota)
            if quota.exceeded:
                raise quota.refuse(
                    f"More than {self.policy.quota} requests in {self.policy.window} seconds"
                    f" ({self.policy.name} policy); retry in {max(1, quota.reset_in)} seconds."
                )
        await self.next_app(scope, receive, send)

    def _user(self, scope: Scope, state: dict[str, Any]) -> str | None:
        """The user of a valid token, if the request carries one."""
        for name, value in scope["headers"]:
            if name == b"authorization":
                try:
                    claims = decode_once(state, self.tokens, token_of(value.decode("latin-1")))
                except Unauthorized:
                    return None  # security refuses it next, and it counts by address
                return f"user:{claims['sub']}"
        return None


class RateLimitAPI(RoutedAPI[ASGIApp]):
    def __init__(self, *args: Any, limits: RateLimits, tokens: Tokens, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        assert limits.counters is not None  # the middleware is added only when limits are on
        self.limits = limits
        self.counters = limits.counters
        self.tokens = tokens
        self.default = self.specification.spec.get(EXTENSION)
        self.add_paths()

    def make_operation(self, operation: AbstractOperation) -> ASGIApp:
        declared = self.specification["paths"][operation.path][operation.method]
        name = declared.get(EXTENSION, self.default)
        if name is None:  # an API without limits: another document, not openapi/api.yaml
            unlimited: ASGIApp = self.next_app
            return unlimited
        if name not in (DEFAULT, AUTH):
            raise ValueError(
                f"{operation.method.upper()} {operation.path}: {EXTENSION} must be"
                f" {DEFAULT} or {AUTH}, not {name!r}"
            )
        return RateLimitOperation(
            self.next_app,
            policy=self.limits.policies[name],
            counters=self.counters,
            tokens=self.tokens,
        )


class RateLimitMiddleware(RoutedMiddleware[RateLimitAPI]):
    """Connexion's hook for per-operation middleware (see shell/authorization.py)."""

    api_cls = RateLimitAPI

    def __init__(self, app: ASGIApp, *, limits: RateLimits, tokens: Tokens) -> None:
        super().__init__(app)
        self.limits = limits
        self.tokens = tokens

    def add_api(self, specification: Any, **kwargs: Any) -> RateLimitAPI:
        api: RateLimitAPI = super().add_api(
            specification, limits=self.limits, tokens=self.tokens, **kwargs
        )
        return api
