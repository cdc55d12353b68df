"""Rate limits, counted with the `limits` library, in Redis when REDIS_URL is set (shared by every
process and host) and in each process otherwise.

Three policies, named in the RateLimit headers and the metrics:

- `default`: every operation, per user, or per client address for anonymous callers and for
  callers whose token is not valid (a forged or expired token buys no budget of its own);
- `auth`: registering, logging in and the token endpoint, per client address, instead of
  `default`: each of them hashes a password, which costs far more than any other request;
- `login-failures`: wrong passwords per account and per client address, counted by the login
  handlers (api/users.py, api/auth.py) and checked before a password is verified, so that once
  it is exhausted guessing gets 429 without trying. An account is the email or username as
  sent, whether or not it exists: an unknown one counts and answers like a wrong password.

openapi/api.yaml says which operation counts against which of the first two: `x-rate-limit` at
the document's root for every operation, and on an operation for that one.

`RateLimitMiddleware` sits in Connexion's stack after routing (it needs the operation) and
before security: it must key a request by its user, so it decodes the token itself, and a
request whose token is refused is still counted, by address, before security answers 401. The
security handlers reuse the decoded token (api.security.decode_once). `RateLimitHeaders`
sits outside Connexion's exception handling, so that error responses (401s, 404s, validation
errors, the 429s themselves) carry the RateLimit fields too.

If the storage cannot be reached, requests are served unchecked (the limits fail open), the
`conduit_rate_limit_storage_errors` counter counts them, and a warning is logged at the start
of an outage and then once a minute; for a few seconds after a failure the storage is not
tried at all, so that a dead Redis costs one timeout per process, not one per request.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import redis
import redis.asyncio
from connexion.context import context as connexion_context
from connexion.middleware.abstract import RoutedAPI, RoutedMiddleware
from connexion.operations import AbstractOperation
from limits import RateLimitItem, parse
from limits.aio.storage import Storage as AsyncStorage
from limits.errors import StorageError
from limits.storage import MemoryStorage, MovingWindowSupport, Storage, storage_from_string
from limits.strategies import MovingWindowRateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.metrics import RATE_LIMIT_STORAGE_ERRORS, RATE_LIMITED
from api.problems import TooManyRequests, Unauthorized
from api.security import Tokens, decode_once, token_of
from settings import Settings

log = logging.getLogger(__name__)

DEFAULT, AUTH, LOGIN_FAILURES = "default", "auth", "login-failures"
# the spec extension naming an operation's policy (at the document's root: every operation's)
EXTENSION = "x-rate-limit"
# where a request's quotas are kept: the ASGI scope's state, and Connexion's context
QUOTAS_KEY = "rate_limits"
# a dead or hung Redis must not hold requests up: each check waits at most this long
STORAGE_TIMEOUT_SECONDS = 0.25
# after a failure the storage is left alone this long (requests go unchecked meanwhile)
RETRY_STORAGE_AFTER_SECONDS = 5.0
# while the storage stays unreachable, one warning per this many seconds
WARN_EVERY_SECONDS = 60.0
# windows (their leases) remembered per process, at most (see `Counters`)
_REMEMBERED_WINDOWS = 10_000
# a process claims this fraction of a quota at once, and at most this many slots (`Counters`)
_LEASE_FRACTION = 20
_LEASE_MAX = 100

T = TypeVar("T")


@dataclass(frozen=True)
class Policy:
    name: str
    item: RateLimitItem

    @classmethod
    def parse(cls, name: str, rate: str) -> Policy:
        return cls(name, parse(rate))  # settings.py has checked the rate

    @property
    def quota(self) -> int:
        return self.item.amount

    @property
    def window(self) -> int:
        """Seconds."""
        return self.item.get_expiry()

    @functools.cached_property
    def field(self) -> bytes:
        """This policy as an item of the RateLimit-Policy field."""
        return f'"{self.name}";q={self.quota};w={self.window}'.encode()


@dataclass(frozen=True, slots=True)
class Quota:
    """Where one policy stands for one request, as an item of the RateLimit field."""

    policy: Policy
    remaining: int
    reset_in: int  # seconds until the window ends and the whole quota is back
    exceeded: bool = False

    @property
    def field(self) -> bytes:
        return f'"{self.policy.name}";r={self.remaining};t={self.reset_in}'.encode()

    def refuse(self, detail: str) -> TooManyRequests:
        RATE_LIMITED.labels(policy=self.policy.name).inc()
        return TooManyRequests(max(1, self.reset_in), detail)


@dataclass(slots=True)
class Quotas:
    """A request's client address and the quotas counted for it, rendered as its headers."""

    address: str
    counted: list[Quota] = field(default_factory=list)

    def headers(self) -> list[tuple[bytes, bytes]]:
        if not self.counted:
            return []
        return [
            (b"ratelimit-policy", b", ".join(q.policy.field for q in self.counted)),
            (b"ratelimit", b", ".join(q.field for q in self.counted)),
        ]


class Outage:
    """Fail-open bookkeeping for one storage: whether to try it now, and what to say and count
    when it cannot be reached."""

    def __init__(self, storage: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.storage = storage
        self.clock = clock
        self.failing = False
        self.retry_at = 0.0
        self.warned_at = -math.inf
        self.unchecked = 0  # requests let through since the last warning
        self.lock = threading.Lock()  # the login-failure counters are used from many threads

    def available(self) -> bool:
        if not self.failing or self.clock() >= self.retry_at:
            return True
        self._let_through(None)
        return False

    def failed(self, error: StorageError) -> None:
        with self.lock:
            self.failing = True
            self.retry_at = self.clock() + RETRY_STORAGE_AFTER_SECONDS
        self._let_through(error)

    def answered(self) -> None:
        if self.failing:
            with self.lock:
                self.failing, self.warned_at = False, -math.inf
            log.info("rate-limit storage (%s) answers again; limits apply again", self.storage)

    def _let_through(self, error: StorageError | None) -> None:
        RATE_LIMIT_STORAGE_ERRORS.inc()
        with self.lock:
            self.unchecked += 1
            now = self.clock()
            if now - self.warned_at < WARN_EVERY_SECONDS:
                return
            self.warned_at, unchecked, self.unchecked = now, self.unchecked, 0
        reason = f" ({error.storage_error})" if error is not None else ""
        log.warning(
            "rate-limit storage (%s) cannot be reached%s; %d request(s) served without a limit"
            " since the last warning, and more will be until it answers",
            self.storage,
            reason,
            unchecked,
        )


@dataclass(slots=True)
class Lease:
    """Slots of one window's count that this process has claimed: `next` to `last`."""

    next: int
    last: int
    end: float  # when the window ends, and the lease with it


def lease_size(policy: Policy) -> int:
    """How many slots of a quota a process claims at once: a twentieth of it, at most 100, so
    one at a time below 40 (the `auth` policy, and every limit the tests set, count exactly)."""
    return max(1, min(_LEASE_MAX, policy.quota // _LEASE_FRACTION))


class Counters:
    """The per-request policies: fixed windows on the asynchronous storage, counted in leases.

    `FixedWindowRateLimiter.hit` is an `incr` of the window's counter that only answers yes or
    no, and through redis-py's asyncio client each round trip costs 100 to 200 us of a worker's
    CPU, a fifth of a cheap read. So a process claims a block of the window's count at once
    (`incr` by the block's size, limits' own call) and numbers its requests from that block
    without asking again until it is used up: a request's number is its place in the window's
    count, and it is refused when that is past the quota. No client is ever let through more
    than its quota; with several processes, a client may be refused up to (processes - 1) x
    (block - 1) requests early, by slots other processes claimed and have not used yet (with
    the default 300 a minute and 2 workers, at most 14). Below 40 a block is one slot, which is
    exactly `hit`: a test checks that this agrees with `FixedWindowRateLimiter`
    (tests/test_rate_limits.py). When a window ends is asked of the storage once per key,
    window and process, and remembered: a window's end never moves once it started.

    A fixed window lets a client spend up to two quotas around a window's end. For the
    generous `default` and `auth` policies that is harmless; the strict `login-failures`
    policy uses a moving window (`Failures`).
    """

    def __init__(self, storage: AsyncStorage, name: str) -> None:
        self.storage = storage
        self.outage = Outage(name)
        self.leases: dict[str, Lease] = {}

    async def hit(self, policy: Policy, key: str) -> Quota | None:
        """Count a request; None when the storage cannot be reached (let it through)."""
        storage_key = policy.item.key_for(policy.name, key)
        now = time.time()
        lease = self.leases.get(storage_key)
        if lease is None or lease.next > lease.last or lease.end <= now:
            lease = await self._claim(policy, storage_key, lease, now)
            if lease is None:
                return None
        number = lease.next
        lease.next += 1
        return Quota(
            policy,
            remaining=max(0, policy.quota - number),
            reset_in=max(0, math.ceil(lease.end - now)),
            exceeded=number > policy.quota,
        )

    async def _claim(
        self, policy: Policy, key: str, spent: Lease | None, now: float
    ) -> Lease | None:
        if not self.outage.available():
            return None
        size = lease_size(policy)
        try:
            count = await self.storage.incr(key, policy.window, amount=size)
            if count == size:  # this claim started the window
                end = now + policy.window
            elif spent is not None and spent.end > now:  # the window of the last claim
                end = spent.end
            else:  # started by another process, or an earlier window
                end = await self.storage.get_expiry(key)
        except StorageError as e:
            self.outage.failed(e)
            return None
        self.outage.answered()
        return self._remember(key, Lease(count - size + 1, count, end))

    def _remember(self, key: str, lease: Lease) -> Lease:
        if len(self.leases) >= _REMEMBERED_WINDOWS:
            now = time.time()
            self.leases = {k: v for k, v in self.leases.items() if v.end > now}
            if len(self.leases) >= _REMEMBERED_WINDOWS:
                self.leases.clear()
        self.leases[key] = lease
        return lease


class Failures:
    """Failed logins: a moving window (exact, where a fixed one would allow twice the guesses
    around a window's end) on the synchronous storage, used from the handler threads."""

    def __init__(self, storage: Storage, name: str, policy: Policy) -> None:
        assert isinstance(storage, MovingWindowSupport)
        self.limiter = MovingWindowRateLimiter(storage)
        self.outage = Outage(name)
        self.policy = policy

    def exhausted(self, keys: Iterable[str]) -> Quota | None:
        """The quota of the first key with no failures left, if any."""
        item, name = self.policy.item, self.policy.name
        for key in keys:
            stats = self._try(functools.partial(self.limiter.get_window_stats, item, name, key))
            if stats is None:
                return None
            if stats.remaining <= 0:
                reset_in = max(0, math.ceil(stats.reset_time - time.time()))
                return Quota(self.policy, 0, reset_in, exceeded=True)
        return None

    def count(self, keys: Iterable[str]) -> None:
        for key in keys:
            self._try(functools.partial(self.limiter.hit, self.policy.item, self.policy.name, key))

    def _try(self, call: Callable[[], T]) -> T | None:
        if not self.outage.available():
            return None
        try:
            result = call()
        except StorageError as e:
            self.outage.failed(e)
            return None
        self.outage.answered()
        return result


class LoginFailures:
    """One login attempt's failure counting (see `RateLimits.login_failures`)."""

    def __init__(self, failures: Failures | None, keys: tuple[str, ...]) -> None:
        self.failures = failures
        self.keys = keys

    def count(self) -> None:
        """The password was wrong, or the account unknown."""
        if self.failures is not None:
            self.failures.count(self.keys)


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
        self._pools: tuple[redis.ConnectionPool, redis.asyncio.ConnectionPool] | None = None
        if not self.enabled:
            return
        if settings.redis_url:
            self._redis(settings)
        else:
            memory = storage_from_string("async+memory://")
            assert isinstance(memory, AsyncStorage)
            self.counters = Counters(memory, "memory, requests")
            self.failures = Failures(MemoryStorage(), "memory", self.policies[LOGIN_FAILURES])

    def _redis(self, settings: Settings) -> None:
        # Connection pools of our own (the storages take them as they are) so that `close` can
        # close them: `limits` has no way to. Short timeouts: a hung Redis holds a request up
        # for at most that long, and then not again for a while (`Outage`).
        url = settings.redis_url.replace("redis+unix://", "unix://")  # redis-py's name for it
        timeouts = {
            "socket_timeout": STORAGE_TIMEOUT_SECONDS,
            "socket_connect_timeout": STORAGE_TIMEOUT_SECONDS,
        }
        pool = redis.ConnectionPool.from_url(url, **timeouts)
        async_pool = redis.asyncio.ConnectionPool.from_url(url, **timeouts)
        self._pools = (pool, async_pool)
        common: dict[str, Any] = {"wrap_exceptions": True, "key_prefix": settings.rate_limit_prefix}
        # the middleware runs on the event loop, so its storage must not block it: redis-py's
        # asyncio client, which `limits[redis]` brings (coredis would be one more dependency)
        requests = storage_from_string(
            "async+" + settings.redis_url,
            implementation="redispy",
            **{**common, "connection_pool": async_pool},
        )
        assert isinstance(requests, AsyncStorage)
        # the URL may carry a password: the logs name the storage by its kind alone
        self.counters = Counters(requests, "redis, requests")
        failures = storage_from_string(settings.redis_url, **{**common, "connection_pool": pool})
        assert isinstance(failures, Storage)
        self.failures = Failures(failures, "redis, failed logins", self.policies[LOGIN_FAILURES])

    async def close(self) -> None:
        """At shutdown, on the event loop the requests were served on."""
        if self._pools is not None:
            pool, async_pool = self._pools
            await async_pool.aclose()
            pool.disconnect()

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


# --- the client's address ---------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def address_key(host: str) -> str:
    """What a client address is counted as: an IPv6 client by its /64, the smallest network
    a home or a server is given, so that one client cannot count as billions of addresses."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host[:64]  # not an IP: a unix socket, or the test client's "testclient"
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return str(ip)


def client_address(scope: Scope) -> str:
    """The peer, or the client a trusted proxy says it forwards for: uvicorn's
    ProxyHeadersMiddleware, configured with TRUSTED_PROXIES, has put it there (app.py)."""
    client = scope.get("client")
    return address_key(client[0]) if client else "-"


# --- the middleware ---------------------------------------------------------------------------


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
    """Connexion's hook for per-operation middleware (see api/authorization.py)."""

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
