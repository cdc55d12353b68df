"""Configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import DEFAULT_DATABASE_URL, DEFAULT_TRUSTED_PROXIES, ConfigError, Settings

STRONG = "k" * 40


def test_defaults_for_a_production_run() -> None:
    s = Settings.from_env({"SECRET_KEY": STRONG})
    assert s.environment == "production"
    assert s.database_url == DEFAULT_DATABASE_URL
    assert s.cors_origins == ("*",)
    assert s.secret_key == STRONG
    # rate limits are on everywhere, counted in the process, behind a proxy on this host
    assert s.rate_limits is True
    assert s.redis_url == ""
    assert s.trusted_proxies == DEFAULT_TRUSTED_PROXIES == ("127.0.0.1", "::1")


def test_production_refuses_a_missing_secret() -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY is required"):
        Settings.from_env({})


@pytest.mark.parametrize("secret", ["changeme", "secret", "short-but-not-placeholder"])
def test_production_refuses_placeholder_or_short_secrets(secret: str) -> None:
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        Settings.from_env({"SECRET_KEY": secret})


def test_development_generates_one_secret_and_keeps_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = Settings.from_env({"CONDUIT_ENV": "development"})
    second = Settings.from_env({"CONDUIT_ENV": "development"})
    assert len(first.secret_key) >= 32
    assert first.secret_key == second.secret_key
    assert (tmp_path / ".secret_key").stat().st_mode & 0o077 == 0


def test_unknown_environment_is_refused() -> None:
    with pytest.raises(ConfigError, match="CONDUIT_ENV"):
        Settings.from_env({"CONDUIT_ENV": "staging", "SECRET_KEY": STRONG})


def test_variables_are_read() -> None:
    s = Settings.from_env(
        {
            "SECRET_KEY": STRONG,
            "DATABASE_URL": "postgresql+psycopg://db/conduit",
            "CORS_ORIGINS": "https://a.example, https://b.example",
            "JWT_TTL_SECONDS": "3600",
            "JWT_ISSUER": "me",
            "JWT_AUDIENCE": "you",
            "MAX_BODY_BYTES": "2048",
            "VALIDATE_RESPONSES": "true",
            "THREADS": "7",
        }
    )
    assert s.database_url == "postgresql+psycopg://db/conduit"
    assert s.cors_origins == ("https://a.example", "https://b.example")
    assert (s.jwt_ttl_seconds, s.jwt_issuer, s.jwt_audience) == (3600, "me", "you")
    assert s.max_body_bytes == 2048
    assert s.threads == 7
    assert s.validate_responses is True


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("JWT_TTL_SECONDS", "soon"),
        ("JWT_TTL_SECONDS", "5"),
        ("MAX_BODY_BYTES", "1"),
        ("THREADS", "0"),
        ("ARGON2_TIME_COST", "0"),
        ("BODY_TIMEOUT_SECONDS", "0"),
        ("BODY_TIMEOUT_SECONDS", "1.5"),
        ("ARGON2_MEMORY_KIB", "lots"),
        ("ARGON2_PARALLELISM", "0"),
    ],
)
def test_bad_numbers_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"SECRET_KEY": STRONG, name: value})


def test_rate_limit_variables_are_read() -> None:
    s = Settings.from_env(
        {
            "SECRET_KEY": STRONG,
            "RATE_LIMITS": "on",
            "RATE_LIMIT_DEFAULT": "1000/hour",
            "RATE_LIMIT_AUTH": "10 per minute",
            "RATE_LIMIT_LOGIN_FAILURES": "3/minute",
            "REDIS_URL": "redis://:pw@cache.internal:6379/2",
            "TRUSTED_PROXIES": "10.0.0.0/8, 2001:db8::1 ,192.168.1.7",
        }
    )
    assert s.rate_limits is True
    assert (s.rate_limit_default, s.rate_limit_auth, s.rate_limit_login_failures) == (
        "1000/hour",
        "10 per minute",
        "3/minute",
    )
    assert s.redis_url == "redis://:pw@cache.internal:6379/2"
    assert s.trusted_proxies == ("10.0.0.0/8", "2001:db8::1", "192.168.1.7")


def test_the_rate_limit_key_prefix_is_read_and_defaults_to_conduit() -> None:
    assert Settings.from_env({"SECRET_KEY": STRONG}).rate_limit_prefix == "conduit"
    shared = Settings.from_env({"SECRET_KEY": STRONG, "RATE_LIMIT_PREFIX": " staging:eu-1 "})
    assert shared.rate_limit_prefix == "staging:eu-1"


@pytest.mark.parametrize("value", ["", "  ", "two words", "a/b", "x" * 65, "caf\u00e9"])
def test_a_rate_limit_key_prefix_that_could_blur_keys_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="RATE_LIMIT_PREFIX"):
        Settings.from_env({"SECRET_KEY": STRONG, "RATE_LIMIT_PREFIX": value})


@pytest.mark.parametrize("value", ["off", "OFF", "0", "false", "no"])
def test_rate_limits_can_be_switched_off(value: str) -> None:
    assert Settings.from_env({"SECRET_KEY": STRONG, "RATE_LIMITS": value}).rate_limits is False


@pytest.mark.parametrize("url", ["rediss://cache:6380/0", "redis+unix:///run/redis.sock?db=1"])
def test_every_redis_scheme_is_taken(url: str) -> None:
    assert Settings.from_env({"SECRET_KEY": STRONG, "REDIS_URL": url}).redis_url == url


def test_trusting_no_proxy_at_all() -> None:
    assert (
        Settings.from_env({"SECRET_KEY": STRONG, "TRUSTED_PROXIES": "none"}).trusted_proxies == ()
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RATE_LIMITS", "of"),
        ("RATE_LIMITS", "sometimes"),
        ("RATE_LIMIT_DEFAULT", "lots"),
        ("RATE_LIMIT_DEFAULT", "300"),
        ("RATE_LIMIT_DEFAULT", "0/minute"),
        ("RATE_LIMIT_AUTH", "10/fortnight"),
        ("RATE_LIMIT_AUTH", "1/second;20/minute"),  # one rate per policy
        ("RATE_LIMIT_LOGIN_FAILURES", "five a minute"),
        ("REDIS_URL", "http://cache:6379"),
        ("REDIS_URL", "cache:6379"),
        ("TRUSTED_PROXIES", "proxy.internal"),
        ("TRUSTED_PROXIES", "10.0.0.1/8"),  # host bits set: 10.0.0.0/8 is meant
        ("TRUSTED_PROXIES", "*"),
    ],
)
def test_nonsense_rate_limit_settings_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"SECRET_KEY": STRONG, name: value})


def test_argon2_defaults_to_rfc_9106s_low_memory_choice_and_reads_its_variables() -> None:
    s = Settings.from_env({"SECRET_KEY": STRONG})
    assert (s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism) == (3, 65536, 4)
    s = Settings.from_env(
        {
            "SECRET_KEY": STRONG,
            "ARGON2_TIME_COST": "4",
            "ARGON2_MEMORY_KIB": "131072",
            "ARGON2_PARALLELISM": "2",
        }
    )
    assert (s.argon2_time_cost, s.argon2_memory_kib, s.argon2_parallelism) == (4, 131072, 2)


@pytest.mark.parametrize(
    ("name", "below", "floor"),
    [("ARGON2_TIME_COST", "1", "2"), ("ARGON2_MEMORY_KIB", "19455", "19456")],
)
def test_production_refuses_argon2_below_owasps_floor(name: str, below: str, floor: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} must be at least {floor} in production"):
        Settings.from_env({"SECRET_KEY": STRONG, name: below})
    at_floor = Settings.from_env({"SECRET_KEY": STRONG, "ARGON2_PARALLELISM": "1", name: floor})
    assert floor in (str(at_floor.argon2_time_cost), str(at_floor.argon2_memory_kib))


def test_development_may_hash_cheaply_but_not_below_what_argon2_allows() -> None:
    env = {"CONDUIT_ENV": "development", "SECRET_KEY": STRONG}
    cheap = Settings.from_env(
        {**env, "ARGON2_TIME_COST": "1", "ARGON2_MEMORY_KIB": "8", "ARGON2_PARALLELISM": "1"}
    )
    assert (cheap.argon2_time_cost, cheap.argon2_memory_kib) == (1, 8)
    with pytest.raises(ConfigError, match="8 per lane"):
        Settings.from_env({**env, "ARGON2_MEMORY_KIB": "16", "ARGON2_PARALLELISM": "4"})


def test_the_body_timeout_is_read_and_defaults_to_ten_seconds() -> None:
    assert Settings.from_env({"SECRET_KEY": STRONG}).body_timeout_seconds == 10
    s = Settings.from_env({"SECRET_KEY": STRONG, "BODY_TIMEOUT_SECONDS": "30"})
    assert s.body_timeout_seconds == 30
