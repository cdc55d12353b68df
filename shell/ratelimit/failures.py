"""Failed logins: a moving window per account and per client address (`Failures`)."""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable, Iterable
from typing import TypeVar

from limits.errors import StorageError
from limits.storage import MovingWindowSupport, Storage
from limits.strategies import MovingWindowRateLimiter

from shell.ratelimit.policy import Policy, Quota
from shell.ratelimit.storage import Outage

T = TypeVar("T")


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
