"""Passwords, tokens, and the security handlers that check a token (authentication only: what
the caller may do is decided in shell/authorization.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from connexion.lifecycle import ConnexionRequest

from shell.problems import Unauthorized

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
SCHEMES = ("token", "bearer")
# where a request's decoded token is kept (in the ASGI scope's state), so that the rate limiter,
# which runs before authentication to key the request by its user, and the security handlers
# decode it once between them: a decode costs about 75 us, a tenth of a cheap request
DECODED_KEY = "decoded_token"


@dataclass(frozen=True)
class Tokens:
    secret: str
    issuer: str
    audience: str
    ttl_seconds: int

    def issue(self, user_id: int, generation: int, scope: str | None = None) -> str:
        """A token for the user in its current token generation; `scope`, when given, narrows
        what it may do to those scopes (an OAuth2 client asked for less than the role grants)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "sub": str(user_id),
            "iat": now,
            "exp": now + self.ttl_seconds,
            "iss": self.issuer,
            "aud": self.audience,
            "gen": generation,
        }
        if scope is not None:
            claims["scope"] = scope
        return jwt.encode(claims, self.secret, algorithm=ALGORITHM)

    def decode(self, token: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],  # pinned: never trust the token's own "alg"
                audience=self.audience,
                issuer=self.issuer,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise _refused("has expired", "The token has expired; log in again.") from None
        except jwt.PyJWTError:
            raise _refused("is invalid", "The token is not valid.") from None
        if not str(claims["sub"]).isdigit() or type(claims.get("gen", 0)) is not int:
            raise _refused("is invalid", "The token is not valid.")
        return claims

    def from_header(self, value: str) -> dict[str, Any]:
        """Claims of an `Authorization: Token <jwt>` or `Bearer <jwt>` header."""
        return self.decode(token_of(value))


def token_of(header: str) -> str:
    """The token of an `Authorization: Token <jwt>` or `Bearer <jwt>` header."""
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() not in SCHEMES or not token.strip():
        raise _refused("is invalid", "Send the token as 'Token <jwt>' or 'Bearer <jwt>'.")
    return token.strip()


def decode_once(state: dict[str, Any], tokens: Tokens, token: str) -> dict[str, Any]:
    """The token's claims, decoded at most once per request (`state` is the request's): only
    a valid token is kept, so a refused one is refused again, with its reason, wherever it is
    decoded next."""
    seen = state.get(DECODED_KEY)
    if seen is not None and seen[0] == token:
        claims: dict[str, Any] = seen[1]
        return claims
    claims = tokens.decode(token)
    state[DECODED_KEY] = (token, claims)
    return claims


def credentials(header: str) -> tuple[str, str]:
    """`Authorization: <scheme> <token>` as its scheme and token, unchecked."""
    scheme, _, token = header.strip().partition(" ")
    return scheme, token.strip()


def _refused(message: str, detail: str) -> Unauthorized:
    return Unauthorized({"token": [message]}, detail)


@dataclass(frozen=True)
class Passwords:
    """argon2id with the given cost; hashes made with other parameters still verify, and
    `needs_rehash` tells when to store a new one."""

    time_cost: int
    memory_kib: int
    parallelism: int
    _hasher: PasswordHasher = field(init=False, repr=False)
    _dummy: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        hasher = PasswordHasher(
            time_cost=self.time_cost, memory_cost=self.memory_kib, parallelism=self.parallelism
        )
        object.__setattr__(self, "_hasher", hasher)
        # verified against when the email is unknown, so both answers take as long
        object.__setattr__(self, "_dummy", hasher.hash("not a real password"))

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and bool(
                password_hash
            )
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


# --- security handlers named in openapi/api.yaml --------------------------------------------


def _tokens(request: ConnexionRequest) -> Tokens:
    tokens: Tokens = request.scope["state"]["conduit"].tokens
    return tokens


def bearer_info(token: str, request: ConnexionRequest) -> dict[str, Any]:
    """`Authorization: Bearer <jwt>` (the http bearer scheme)."""
    return decode_once(request.scope.setdefault("state", {}), _tokens(request), token)


def token_info(header: str, request: ConnexionRequest) -> dict[str, Any]:
    """`Authorization: Token <jwt>` (the RealWorld apiKey scheme); Bearer works here too."""
    return bearer_info(token_of(header), request)


def oauth2_info(token: str, request: ConnexionRequest) -> dict[str, Any]:
    """`Authorization: Bearer <jwt>` from the OAuth2 password flow: the same tokens."""
    return bearer_info(token, request)


def scopes_granted_later(_required: list[str], _token_scopes: Any) -> bool:
    """Connexion's scope check would trust the token's own list; a role changes without the
    token changing, so scopes are decided from the database after authentication, for every
    scheme alike (shell/authorization.py)."""
    return True
