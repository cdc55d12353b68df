"""Configuration from the environment, checked once at start-up."""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

ENVIRONMENTS = ("development", "test", "production")
LOG_FORMATS = ("json", "text")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
DEFAULT_DATABASE_URL = "sqlite:///conduit.db"
_DEV_SECRET_FILE = Path(".secret_key")
_MIN_SECRET_LENGTH = 32
_PLACEHOLDER_SECRETS = {"changeme", "change-me", "secret", "dev", "development", "test"}


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
    # handler threads per process, each with at most one database connection: few threads keep
    # the tail latency low (less GIL contention), enough of them keep slow requests from
    # blocking the rest (see README, Performance)
    threads: int = 4
    # "cheapest" exists only for the test suite, where hashing dominates the run time
    argon2_profile: str = "default"
    validate_responses: bool = False
    sql_echo: bool = False
    # JSON lines for machines; development prints plain text unless told otherwise
    log_format: str = "json"
    log_level: str = "INFO"
    access_log: bool = True
    metrics: bool = True

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
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
            threads=_int(env, "THREADS", cls.threads, minimum=1),
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
        )
        return settings.with_secret()

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
    raw = env.get(name, "").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    if raw == "":
        return default
    raise ConfigError(f"{name} must be on or off")


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


def _origins(raw: str) -> tuple[str, ...]:
    origins = tuple(o.strip() for o in raw.split(",") if o.strip())
    return origins or ("*",)
