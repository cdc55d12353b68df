"""Configuration from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from settings import DEFAULT_DATABASE_URL, ConfigError, Settings

STRONG = "k" * 40


def test_defaults_for_a_production_run() -> None:
    s = Settings.from_env({"SECRET_KEY": STRONG})
    assert s.environment == "production"
    assert s.database_url == DEFAULT_DATABASE_URL
    assert s.cors_origins == ("*",)
    assert s.secret_key == STRONG


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
    ],
)
def test_bad_numbers_are_refused(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"SECRET_KEY": STRONG, name: value})
