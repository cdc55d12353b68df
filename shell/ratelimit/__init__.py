"""Rate limits, counted with the `limits` library, in Redis when REDIS_URL is set (shared by every
process and host) and in each process otherwise.

Three policies, named in the RateLimit headers and the metrics:

- `default`: every operation, per user, or per client address for anonymous callers and for
  callers whose token is not valid (a forged or expired token buys no budget of its own);
- `auth`: registering, logging in and the token endpoint, per client address, instead of
  `default`: each of them hashes a password, which costs far more than any other request;
- `login-failures`: wrong passwords per account and per client address, counted by the login
  handlers (handlers/users.py, handlers/auth.py) and checked before a password is verified,
  so that once it is exhausted guessing gets 429 without trying. An account is the email or
  username as sent, whether or not it exists: an unknown one counts and answers like a wrong
  password.

openapi/api.yaml says which operation counts against which of the first two: `x-rate-limit` at
the document's root for every operation, and on an operation for that one.

The package: `policy` (the policies, the RateLimit fields, what a client is counted as),
`counters` (the per-request policies, counted in leases), `failures` (failed logins),
`storage` (Redis or memory, and failing open); `middleware` puts them in the request path.

`RateLimitMiddleware` sits in Connexion's stack after routing (it needs the operation) and
before security: it must key a request by its user, so it decodes the token itself, and a
request whose token is refused is still counted, by address, before security answers 401. The
security handlers reuse the decoded token (shell.authentication.decode_once). `RateLimitHeaders`
sits outside Connexion's exception handling, so that error responses (401s, 404s, validation
errors, the 429s themselves) carry the RateLimit fields too.

If the storage cannot be reached, requests are served unchecked (the limits fail open), the
`conduit_rate_limit_storage_errors` counter counts them, and a warning is logged at the start
of an outage and then once a minute; for a few seconds after a failure the storage is not
tried at all, so that a dead Redis costs one timeout per process, not one per request.
"""

from __future__ import annotations

from connexion.context import context as connexion_context

from settings import Settings
from shell.ratelimit.counters import Counters, lease_size
from shell.ratelimit.failures import Failures, LoginFailures
from shell.ratelimit.policy import (
    AUTH,
    DEFAULT,
    EXTENSION,
    LOGIN_FAILURES,
    Policy,
    Quota,
    Quotas,
    address_key,
    client_address,
)
from shell.ratelimit.storage import (
    RETRY_STORAGE_AFTER_SECONDS,
    STORAGE_TIMEOUT_SECONDS,
    WARN_EVERY_SECONDS,
    Outage,
    Storages,
)

# where a request's quotas are kept: the ASGI scope's state, and Connexion's context
QUOTAS_KEY = "rate_limits"

__all__ = [
    "AUTH",
    "DEFAULT",
    "EXTENSION",
    "LOGIN_FAILURES",
    "RETRY_STORAGE_AFTER_SECONDS",
    "STORAGE_TIMEOUT_SECONDS",
    "WARN_EVERY_SECONDS",
    "Counters",
    "Outage",
    "Policy",
    "Quota",
    "Quotas",
    "RateLimits",
    "address_key",
    "client_address",
    "lease_size",
]


class RateLimits:
    """The policies and their storages, built once per app from the settings."""

    def __init__(self, settings: Settings) -> None:
        self.enabled = settings.rate_limits
        self.policies = {
            DEFAULT: Policy.parse(DEFAULT, settings.rate_limit_default),
            AUTH: Policy.parse(AUTH, settings.rate_limit_auth),
            LOGIN_FAILURES: Policy.parse(LOGIN_FAILURES, settings.rate_limit_login_failures),
        }
        self.counters: Counters | None = None
        self.failures: Failures | None = None
        self.storages: Storages | None = None
        if not self.enabled:
            return
        self.storages = storages = Storages(settings)
        self.counters = Counters(storages.requests, f"{storages.kind}, requests")
        name = "memory" if storages.kind == "memory" else "redis, failed logins"
        self.failures = Failures(storages.failures, name, self.policies[LOGIN_FAILURES])

    async def close(self) -> None:
        """At shutdown, on the event loop the requests were served on."""
        if self.storages is not None:
            await self.storages.close()

    def login_failures(self, login: str) -> LoginFailures:
        """For a login attempt, before its password is checked: 429 once the account or the
        client address has no failed logins left, else what to call when this one fails."""
        if self.failures is None:
            return LoginFailures(None, ())
        quotas: Quotas | None = connexion_context.get(QUOTAS_KEY)
        address = quotas.address if quotas is not None else "-"
        keys = (f"account:{login.strip().lower()}", f"address:{address}")
        exhausted = self.failures.exhausted(keys)
        if exhausted is not None:
            if quotas is not None:
                quotas.counted.append(exhausted)
            raise exhausted.refuse(
                f"Too many failed logins; retry in {max(1, exhausted.reset_in)} seconds."
            )
        return LoginFailures(self.failures, keys)
