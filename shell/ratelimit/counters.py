"""The per-request policies' counts: fixed windows, claimed in leases (`Counters`)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits.aio.storage import Storage as AsyncStorage
from limits.errors import StorageError

from shell.ratelimit.policy import Policy, Quota
from shell.ratelimit.storage import Outage

# windows (their leases) remembered per process, at most (see `Counters`)
_REMEMBERED_WINDOWS = 10_000
# a process claims this fraction of a quota at once, and at most this many slots (`Counters`)
_LEASE_FRACTION = 20
_LEASE_MAX = 100


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
