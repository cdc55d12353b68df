"""Where the counts live (Redis when REDIS_URL is set, else this process's memory), and what
happens when that cannot be reached: the limits fail open, counted and logged (`Outage`)."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

import redis
import redis.asyncio
from limits.aio.storage import Storage as AsyncStorage
from limits.errors import StorageError
from limits.storage import MemoryStorage, Storage, storage_from_string

from settings import Settings
from shell.metrics import RATE_LIMIT_STORAGE_ERRORS

log = logging.getLogger(__name__)

# a dead or hung Redis must not hold requests up: each check waits at most this long
STORAGE_TIMEOUT_SECONDS = 0.25
# after a failure the storage is left alone this long (requests go unchecked meanwhile)
RETRY_STORAGE_AFTER_SECONDS = 5.0
# while the storage stays unreachable, one warning per this many seconds
WARN_EVERY_SECONDS = 60.0


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


class Storages:
    """The two storages the limits count in: asynchronous for the per-request policies (on the
    event loop), synchronous for failed logins (on the handler threads)."""

    def __init__(self, settings: Settings) -> None:
        self._pools: tuple[redis.ConnectionPool, redis.asyncio.ConnectionPool] | None = None
        self.requests: AsyncStorage
        self.failures: Storage
        if not settings.redis_url:
            memory = storage_from_string("async+memory://")
            assert isinstance(memory, AsyncStorage)
            self.requests, self.failures, self.kind = memory, MemoryStorage(), "memory"
            return
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
        # the per-request checks run on the event loop, so their storage must not block it:
        # redis-py's asyncio client, which `limits[redis]` brings (coredis would be one more
        # dependency)
        requests = storage_from_string(
            "async+" + settings.redis_url,
            implementation="redispy",
            **{**common, "connection_pool": async_pool},
        )
        assert isinstance(requests, AsyncStorage)
        failures = storage_from_string(settings.redis_url, **{**common, "connection_pool": pool})
        assert isinstance(failures, Storage)
        # the URL may carry a password: the logs name the storage by its kind alone
        self.requests, self.failures, self.kind = requests, failures, "redis"

    async def close(self) -> None:
        """At shutdown, on the event loop the requests were served on."""
        if self._pools is not None:
            pool, async_pool = self._pools
            await async_pool.aclose()
            pool.disconnect()
