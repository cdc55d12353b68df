"""Authorization: who the caller is now and what they may do, settled once per request in one
statement, after authentication and before the body is validated (the pipeline's step).

Roles map to scopes in one table (`ROLE_SCOPES`). Each operation says in openapi/api.yaml what
it needs beyond a logged-in user: `x-required-scopes` (all of them, or 403) and
`x-moderator-scopes` (any of them lets the caller act on what others own, as a moderator).
The OAuth2 scheme lists the same scopes for Swagger UI and SDKs; OpenAPI 3.0 gives the Token
and Bearer schemes no scopes, hence the extensions, which hold for every scheme alike.

`Policy.settle` reads the token's user (role, status, token generation) in the request's own
session and leaves a `Caller` in the request's state for the handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from db import users
from db.errors import Forbidden
from shell.problems import Unauthorized

# what each scope allows is described on the OAuth2 scheme in openapi/api.yaml
_MODERATION = frozenset({"articles:moderate", "comments:moderate"})
ROLE_SCOPES: Mapping[str, frozenset[str]] = {
    "user": frozenset(),
    "moderator": _MODERATION,
    "admin": _MODERATION | {"users:admin", "audit:read"},
}
SCOPES: frozenset[str] = frozenset().union(*ROLE_SCOPES.values())


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
