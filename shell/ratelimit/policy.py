"""The policies, where one request stands against them, and what a client is counted as."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass, field

from limits import RateLimitItem, parse
from starlette.types import Scope

from shell.metrics import RATE_LIMITED
from shell.problems import TooManyRequests

DEFAULT, AUTH, LOGIN_FAILURES = "default", "auth", "login-failures"
# the spec extension naming an operation's policy (at the document's root: every operation's)
EXTENSION = "x-rate-limit"


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
