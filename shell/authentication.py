"""Passwords, tokens, and the security handlers that check a token (authentication only: what
the caller may do is decided in shell/authorization.py)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from shell.problems import Unauthorized

ALGORITHM = "HS256"
REQUIRED_CLAIMS = ["exp", "iat", "sub", "iss", "aud"]
SCHEMES = ("token", "bearer")


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


# --- the pipeline's step -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Requirement:
    """What an operation's `security` asks: nothing (public), or a token, or a token or none."""

    public: bool
    anonymous: bool  # `{}` is one of the alternatives

    @classmethod
    def of(cls, security: list[dict[str, Any]] | None) -> Requirement:
        alternatives = security or []
        return cls(public=not alternatives, anonymous=any(not a for a in alternatives))


def authenticate(
    requirement: Requirement, header: str | None, tokens: Tokens
) -> tuple[dict[str, Any] | None, Unauthorized | None]:
    """The verified claims of the request's token (None when it sent none or a bad one), and
    why the request is refused, if it is: no token where one is required, or a token that is
    not valid. A public operation refuses nothing; its token, if valid, still names the user
    the request counts against."""
    if header is None:
        if requirement.public or requirement.anonymous:
            return None, None
        return None, Unauthorized.on("token", "is missing", "No authorization token provided")
    try:
        return tokens.from_header(header), None
    except Unauthorized as refused:
        return None, None if requirement.public else refused
