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
`storage` (Redis or memory, and failing open); `RateLimits` here puts them together.

The pipeline counts a request after routing (it needs the operation) and before it refuses a
token (authentication decodes the token first, to key the request by its user, but a request
whose token is refused still counts, by address, before it is answered 401). Every answer
carries the RateLimit fields of what was counted, errors and the 429s themselves included.

If the storage cannot be reached, requests are served unchecked (the limits fail open), the
`conduit_rate_limit_storage_errors` counter counts them, and a warning is logged at the start
of an outage and then once a minute; for a few seconds after a failure the storage is not
tried at all, so that a dead Redis costs one timeout per process, not one per request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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

    def policy_of(
        self, name: str, declared: Mapping[str, Any], default: str | None
    ) -> Policy | None:
        """The policy an operation counts against (`x-rate-limit` on it, else the document's);
        None without limits, or in a document that names none. An unknown name stops the app
        starting."""
        chosen = declared.get(EXTENSION, default)
        if chosen is None:
            return None
        if chosen not in (DEFAULT, AUTH):
            raise ValueError(f"{name}: {EXTENSION} must be {DEFAULT} or {AUTH}, not {chosen!r}")
        return self.policies[chosen] if self.enabled else None

    async def count(self, policy: Policy, quotas: Quotas, user: str | None) -> None:
        """Count one request against the operation's policy: per user (the `default` policy,
        for a caller with a valid token), else per client address. 429 past the quota."""
        assert self.counters is not None  # a policy is given only when limits are on
        per_user = policy.name == DEFAULT and user is not None
        key = f"user:{user}" if per_user else f"address:{quotas.address}"
        quota = await self.counters.hit(policy, key)
        if quota is None:  # the storage cannot be reached: served unchecked
            return
        quotas.counted.append(quota)
        if quota.exceeded:
            raise quota.refuse(
                f"More than {policy.quota} requests in {policy.window} seconds"
                f" ({policy.name} policy); retry in {max(1, quota.reset_in)} seconds."
            )

    def login_failures(self, login: str, quotas: Quotas) -> LoginFailures:
        """For a login attempt, before its password is checked: 429 once the account or the
        client address has no failed logins left, else what to call when this one fails."""
        if self.failures is None:
            return LoginFailures(None, ())
        keys = (f"account:{login.strip().lower()}", f"address:{quotas.address}")
        exhausted = self.failures.exhausted(keys)
        if exhausted is not None:
            quotas.counted.append(exhausted)
            raise exhausted.refuse(
                f"Too many failed logins; retry in {max(1, exhausted.reset_in)} seconds."
            )
        return LoginFailures(self.failures, keys)
