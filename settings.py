"""Configuration from the environment, checked once at start-up."""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

import limits

ENVIRONMENTS = ("development", "test", "production")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_DATABASE_URL = "sqlite:///conduit.db"
_DEV_SECRET_FILE = Path(".secret_key")
_MIN_SECRET_LENGTH = 32
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "dev", "development", "test"}
_ON = ("1", "true", "yes", "on")
_OFF = ("0", "false", "no", "off")
_REDIS_SCHEMES = ("redis", "rediss", "redis+unix")
# The least production accepts: OWASP's Password Storage Cheat Sheet's minimum for argon2id
# (19 MiB, 2 iterations, 1 lane). More lanes than that only spread the same work over threads.
ARGON2_FLOOR = {"ARGON2_TIME_COST": 2, "ARGON2_MEMORY_KIB": 19 * 1024, "ARGON2_PARALLELISM": 1}
# uvicorn's and gunicorn's own default: a reverse proxy on the same host is trusted out of the
# box, so that every client behind it does not share one address (and one login-failure budget)
DEFAULT_TRUSTED_PROXIES = ("127.0.0.1", "::1")


class ConfigError(ValueError):
    """The environment asks for something the service refuses to run with."""


@dataclass(frozen=True)
class Settings:
    environment: str = "production"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = ""
    jwt_issuer: str = "conduit"
    jwt_audience: str = "conduit"
    jwt_ttl_seconds: int = 7 * 24 * 3600
    cors_origins: tuple[str, ...] = ("*",)
    max_body_bytes: int = 1024 * 1024
    # a body must have arrived whole this long after its request began, or the answer is 408
    body_timeout_seconds: int = 10
    # handler threads per process, each with at most one database connection: few threads keep
    # the tail latency low (less GIL contention), enough of them keep slow requests from
    # blocking the rest (see docs/performance.md)
    threads: int = 4
    # argon2id as RFC 9106 recommends where memory is scarce (argon2-cffi's default); production
    # refuses less than ARGON2_FLOOR, the test suite uses argon2's cheapest on purpose
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 64 * 1024
    argon2_parallelism: int = 4
    validate_responses: bool = False
    sql_echo: bool = False
    # JSON lines for machines; development prints plain text unless told otherwise
    log_format: str = "json"
    log_level: str = "INFO"
    access_log: bool = True
    metrics: bool = True
    # rate limits (shell/ratelimit/), each "N/period" as the `limits` library parses it
    rate_limits: bool = True
    rate_limit_default: str = "300/minute"
    rate_limit_auth: str = "30/minute"
    rate_limit_login_failures: str = "5/minute"
    # where the counters live: a Redis URL shares them between processes and hosts; empty keeps
    # them in each process
    redis_url: str = ""
    # what the keys in Redis start with: deployments (and test runs) sharing one Redis each
    # give their own, so that their counters never meet
    rate_limit_prefix: str = "conduit"
    # the peers whose X-Forwarded-For is believed, as IP addresses and networks
    trusted_proxies: tuple[str, ...] = DEFAULT_TRUSTED_PROXIES

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, signs: bool = True) -> Settings:
        """The settings from the environment. `signs=False` for what never signs or checks a
        token (migrating, seeding, the admin commands): no SECRET_KEY is asked of them."""
        env = os.environ if env is None else env
        environment = env.get("CONDUIT_ENV", "production")
        if environment not in ENVIRONMENTS:
            raise ConfigError(f"CONDUIT_ENV must be one of {', '.join(ENVIRONMENTS)}")
        settings = cls(
            environment=environment,
            database_url=env.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            secret_key=env.get("SECRET_KEY", ""),
            jwt_issuer=env.get("JWT_ISSUER", "conduit"),
            jwt_audience=env.get("JWT_AUDIENCE", "conduit"),
            jwt_ttl_seconds=_int(env, "JWT_TTL_SECONDS", cls.jwt_ttl_seconds, minimum=60),
            cors_origins=_origins(env.get("CORS_ORIGINS", "*")),
            max_body_bytes=_int(env, "MAX_BODY_BYTES", cls.max_body_bytes, minimum=1024),
            body_timeout_seconds=_int(
                env, "BODY_TIMEOUT_SECONDS", cls.body_timeout_seconds, minimum=1
            ),
            threads=_int(env, "THREADS", cls.threads, minimum=1),
            argon2_time_cost=_int(env, "ARGON2_TIME_COST", cls.argon2_time_cost, minimum=1),
            argon2_memory_kib=_int(env, "ARGON2_MEMORY_KIB", cls.argon2_memory_kib, minimum=8),
            argon2_parallelism=_int(env, "ARGON2_PARALLELISM", cls.argon2_parallelism, minimum=1),
            validate_responses=_flag(env, "VALIDATE_RESPONSES"),
            sql_echo=_flag(env, "SQL_ECHO"),
            log_format=_choice(
                env,
                "LOG_FORMAT",
                LOG_FORMATS,
                "text" if environment == "development" else "json",
            ),
            log_level=_choice(env, "LOG_LEVEL", LOG_LEVELS, "INFO", upper=True),
            access_log=_flag(env, "ACCESS_LOG", default=True),
            metrics=_flag(env, "METRICS", default=True),
            rate_limits=_flag(env, "RATE_LIMITS", default=True),
            rate_limit_default=_rate(env, "RATE_LIMIT_DEFAULT", cls.rate_limit_default),
            rate_limit_auth=_rate(env, "RATE_LIMIT_AUTH", cls.rate_limit_auth),
            rate_limit_login_failures=_rate(
                env, "RATE_LIMIT_LOGIN_FAILURES", cls.rate_limit_login_failures
            ),
            redis_url=_redis_url(env.get("REDIS_URL", "")),
            rate_limit_prefix=_key_prefix(env.get("RATE_LIMIT_PREFIX", cls.rate_limit_prefix)),
            trusted_proxies=_proxies(env.get("TRUSTED_PROXIES", "")),
        )
        settings.check_hashing()
        return settings.with_secret() if signs else settings

    def check_hashing(self) -> None:
        """Argon2's own bound everywhere; OWASP's floor in production."""
        if self.argon2_memory_kib < 8 * self.argon2_parallelism:
            raise ConfigError("ARGON2_MEMORY_KIB must be at least 8 per lane (ARGON2_PARALLELISM)")
        if self.environment != "production":
            return
        given = {
            "ARGON2_TIME_COST": self.argon2_time_cost,
            "ARGON2_MEMORY_KIB": self.argon2_memory_kib,
            "ARGON2_PARALLELISM": self.argon2_parallelism,
        }
        for name, floor in ARGON2_FLOOR.items():
            if given[name] < floor:
                raise ConfigError(f"{name} must be at least {floor} in production")

    def with_secret(self) -> Settings:
        """Refuse a missing or placeholder secret outside development; keep one for dev runs."""
        key = self.secret_key
        if not key and self.environment == "development":
            key = _dev_secret()
        if self.environment != "test":
            if not key:
                raise ConfigError("SECRET_KEY is required outside development")
            if key.lower() in _PLACEHOLDER_SECRETS or len(key) < _MIN_SECRET_LENGTH:
                raise ConfigError(
                    f"SECRET_KEY must be a random string of {_MIN_SECRET_LENGTH}+ characters"
                )
        return replace(self, secret_key=key or secrets.token_urlsafe(48))


def _dev_secret() -> str:
    """A development run generates one secret and keeps it, so tokens survive restarts."""
    if _DEV_SECRET_FILE.exists():
        return _DEV_SECRET_FILE.read_text().strip()
    key = secrets.token_urlsafe(48)
    _DEV_SECRET_FILE.write_text(key + "\n")
    _DEV_SECRET_FILE.chmod(0o600)
    return key


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be an integer") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}")
    return value


def _flag(env: Mapping[str, str], name: str, *, default: bool = False) -> bool:
    """On or off, and nothing else: a typo such as `RATE_LIMITS=of` must not leave a switch
    on (or off) without a word."""
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw not in _ON + _OFF:
        raise ConfigError(f"{name} must be on or off")
    return raw in _ON


def _choice(
    env: Mapping[str, str],
    name: str,
    allowed: tuple[str, ...],
    default: str,
    *,
    upper: bool = False,
) -> str:
    raw = env.get(name, "")
    value = (raw.upper() if upper else raw.lower()) or default
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}")
    return value


def _rate(env: Mapping[str, str], name: str, default: str) -> str:
    """One limit as the `limits` library writes it: "300/minute", "5 per 10 seconds"."""
    raw = env.get(name, "").strip() or default
    try:
        items = limits.parse_many(raw)
    except ValueError:
        items = []
    # one rate per policy: the RateLimit header gives each policy one quota and one window
    if len(items) != 1:
        raise ConfigError(f"{name} must be one rate such as 300/minute, not {raw!r}")
    if items[0].amount < 1:
        raise ConfigError(f"{name} must allow at least one request")
    return raw


def _redis_url(raw: str) -> str:
    raw = raw.strip()
    if raw and urlsplit(raw).scheme not in _REDIS_SCHEMES:
        raise ConfigError("REDIS_URL must be a redis://, rediss:// or redis+unix:// URL")
    return raw


def _key_prefix(raw: str) -> str:
    """1 to 64 letters, digits and `_-.:`, so that a key's parts stay apart."""
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", raw.strip()):
        raise ConfigError("RATE_LIMIT_PREFIX must be 1 to 64 of letters, digits and _ - . :")
    return raw.strip()


def _proxies(raw: str) -> tuple[str, ...]:
    """Comma-separated addresses and networks; `none` trusts no proxy at all."""
    if not raw.strip():
        return DEFAULT_TRUSTED_PROXIES
    if raw.strip().lower() == "none":
        return ()
    found = []
    for item in (p.strip() for p in raw.split(",") if p.strip()):
        try:
            ipaddress.ip_network(item)  # strict: 10.0.0.1/8 is a mistake, 10.0.0.0/8 is meant
        except ValueError:
            raise ConfigError(
                f"TRUSTED_PROXIES must list IP addresses or networks, not {item!r}"
            ) from None
        found.append(item)
    return tuple(found)


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip() for o in raw.split(",") if o.strip())
    return origins or ("*",)
