"""Who the caller is and what they may do: settled once per request, before the handler, and
before validation for the operations that need a scope.

Roles map to scopes in one table (`ROLE_SCOPES`). Each operation says in openapi/api.yaml what
it needs beyond a logged-in user: `x-required-scopes` (all of them, or 403) and
`x-moderator-scopes` (any of them lets the caller act on what others own, as a moderator).
The OAuth2 scheme lists the same scopes for Swagger UI and SDKs; OpenAPI 3.0 gives the Token
and Bearer schemes no scopes, hence the extensions, which hold for every scheme alike.

`AuthorizationMiddleware` sits in Connexion's stack after authentication (the security
handlers in shell/authentication.py, which only check the token) and before request validation, so a
caller without a scope learns nothing from validation errors. Every request's caller is
settled by `Policy.settle`: the role, status and token generation in one statement, and a
`Caller` left in the request's context for the handlers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from connexion.context import context as connexion_context
from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from connexion.operations import AbstractOperation
from sqlalchemy.orm import Session, sessionmaker
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from db import users
from db.errors import Forbidden
from db.session import open_session
from shell.problems import Unauthorized

# what each scope allows is described on the OAuth2 scheme in openapi/api.yaml
_MODERATION = frozenset({"articles:moderate", "comments:moderate"})
ROLE_SCOPES: Mapping[str, frozenset[str]] = {
    "user": frozenset(),
    "moderator": _MODERATION,
    "admin": _MODERATION | {"users:admin", "audit:read"},
}
SCOPES: frozenset[str] = frozenset().union(*ROLE_SCOPES.values())
# what the middleware leaves in Connexion's request context
CONTEXT_KEY = "caller"
CLAIMS_KEY = "claims"
POLICY_KEY = "policy"


@dataclass(frozen=True, slots=True)
class Caller:
    id: int
    role: str
    scopes: frozenset[str]
    # whether this operation lets the caller act on what others own (x-moderator-scopes)
    moderates: bool = False
    # the caller's profile as it is now, for the replies that show their author
    username: str = ""
    bio: str | None = None
    image: str | None = None


def granted(role: str, token_scope: str | None) -> frozenset[str]:
    """The role's scopes, narrowed to those the token was issued for, if it names any."""
    scopes = ROLE_SCOPES[role]
    return scopes if token_scope is None else scopes & frozenset(token_scope.split())


@dataclass(frozen=True, slots=True)
class Policy:
    """What one operation asks of its caller, as openapi/api.yaml declares it."""

    required: frozenset[str] = frozenset()
    moderator: frozenset[str] = frozenset()

    def settle(self, s: Session, claims: Mapping[str, Any]) -> Caller:
        """The token's user as they are now, and whether they may call this operation: gone or
        revoked is 401, suspended or lacking a required scope is 403. One statement."""
        row = users.caller(s, int(claims["sub"]))
        if row is None:
            raise Unauthorized.on("token", "is invalid", "The token's user no longer exists.")
        # suspension first: until reinstated, every token of the account says why it fails
        if row.status != "active":
            raise users.account_suspended()
        if row.token_generation != claims.get("gen", 0):
            raise Unauthorized.on(
                "token", "has been revoked", "The token was revoked; log in again."
            )
        scopes = granted(row.role, claims.get("scope"))
        missing = sorted(self.required - scopes)
        if missing:
            raise Forbidden(
                {"scope": [f"{name} is required" for name in missing]},
                f"This operation needs the scope {', '.join(missing)}, which the caller's role"
                f" ({row.role}) or token does not grant.",
            )
        return Caller(
            row.id,
            row.role,
            scopes,
            moderates=bool(self.moderator & scopes),
            username=row.username,
            bio=row.bio,
            image=row.image,
        )


def settle_in_request(session: Callable[[], Session]) -> None:
    """Settle the caller of the request being handled with the request's own session, unless
    the middleware did already (see `AuthorizationOperation`); None when anonymous."""
    context = connexion_context
    if CONTEXT_KEY not in context:
        claims = context.get(CLAIMS_KEY)  # none on a public operation
        context[CONTEXT_KEY] = context[POLICY_KEY].settle(session(), claims) if claims else None


class AuthorizationOperation:
    """Where the caller is settled depends on the operation. One that requires a scope is
    decided here, before validation, on a handler thread with a session of its own. Every
    other one is settled on the handler's thread with the request's session, just before the
    handler: a second thread hand-off and a second session on every authenticated request cut
    the authenticated list from about 1,100 to 430 requests per second in the round measured
    (README, Architecture), and such an operation has no scope to refuse before validation."""

    def __init__(self, next_app: ASGIApp, *, policy: Policy, public: bool) -> None:
        self.next_app = next_app
        self.policy = policy
        self.public = public  # `security: []`: no caller to settle, nothing to decide

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.public:
            await self.next_app(scope, receive, send)
            return
        context = scope.setdefault("extensions", {}).setdefault("connexion_context", {})
        claims = context.get("token_info")
        services = scope["state"]["conduit"]
        if claims == {} and "authorization" in Headers(scope=scope):
            # an optional-auth operation let the request through as anonymous although it
            # carried credentials, so they were refused: say why instead of answering anonymously
            services.tokens.from_header(Headers(scope=scope)["authorization"])
            raise Unauthorized.on("token", "is invalid")  # pragma: no cover - from_header raised
        context[CLAIMS_KEY] = claims or None
        context[POLICY_KEY] = self.policy
        if claims and self.policy.required:
            loop = asyncio.get_running_loop()
            context[CONTEXT_KEY] = await loop.run_in_executor(
                services.executor, self._settle, services.sessionmaker, claims
            )
        await self.next_app(scope, receive, send)

    def _settle(self, maker: sessionmaker[Session], claims: Mapping[str, Any]) -> Caller:
        with open_session(maker, writes=False) as s:
            return self.policy.settle(s, claims)


class AuthorizationAPI(RoutedAPI[AuthorizationOperation]):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_paths()

    def make_operation(self, operation: AbstractOperation) -> AuthorizationOperation:
        declared = self.specification["paths"][operation.path][operation.method]
        policy = Policy(
            required=frozenset(declared.get("x-required-scopes", ())),
            moderator=frozenset(declared.get("x-moderator-scopes", ())),
        )
        return AuthorizationOperation(self.next_app, policy=policy, public=not operation.security)


class AuthorizationMiddleware(RoutedMiddleware[AuthorizationAPI]):
    """Connexion's hook for per-operation middleware: operations are registered from the spec
    at start-up and found by the routing middleware's operation id at request time."""

    api_cls = AuthorizationAPI
