"""A thin client for the tests: the requests a RealWorld frontend makes, nothing more."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import yaml

from settings import Settings

ROOT = Path(__file__).parent.parent
SPEC: dict[str, Any] = yaml.safe_load((ROOT / "openapi" / "api.yaml").read_text())
METHODS = ("get", "post", "put", "delete", "patch")


def spec_operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(path, method, operation) for every operation the spec declares."""
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def example_body(operation: dict[str, Any]) -> Any:
    """The example the spec gives for the operation's JSON body, if it takes one."""
    content = operation.get("requestBody", {}).get("content", {})
    if "application/json" not in content:
        return None
    ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
    return SPEC["components"]["schemas"][ref]["example"]


SECRET = "test-secret-" + "x" * 40
OTHER_SECRET = "another-secret-" + "y" * 40
_counter = itertools.count(1)


def app_settings(database_url: str) -> Settings:
    """The settings the tests run the app with: the test secret, cheap hashing, checked answers."""
    return Settings(
        environment="test",
        database_url=database_url,
        secret_key=SECRET,
        # argon2's cheapest (hashing would dominate the run time); test_settings.py checks
        # that production refuses it
        argon2_time_cost=1,
        argon2_memory_kib=8,
        argon2_parallelism=1,
        validate_responses=True,  # every response of the suite is checked against the spec
        # Limits on, as everywhere, with the per-request policies out of reach of the suite's
        # bursts from its one address (schemathesis makes thousands of requests a minute);
        # failed logins keep the production limit, so the fuzzer meets its 429s.
        # tests/test_rate_limits.py sets its own.
        rate_limit_default="100000/minute",
        rate_limit_auth="100000/minute",
    )


def authorization(token: str, scheme: str = "Token") -> dict[str, str]:
    return {"Authorization": f"{scheme} {token}"}


@dataclass
class Account:
    username: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return authorization(self.token)


class Api:
    def __init__(self, client: Any) -> None:
        self.client = client

    def register(self, username: str | None = None, **extra: str) -> Account:
        n = next(_counter)
        username = username or f"user{n}"
        email = extra.get("email", f"{username}@example.com")
        password = extra.get("password", "password1")
        r = self.client.post(
            "/api/users",
            json={"user": {"username": username, "email": email, "password": password}},
        )
        assert r.status_code == 201, r.text
        return Account(username, email, password, r.json()["user"]["token"])

    def article(self, author: Account, **fields: Any) -> dict[str, Any]:
        n = next(_counter)
        body = {
            "title": f"Article {n}",
            "description": f"About {n}",
            "body": f"Body of article {n}",
            **fields,
        }
        r = self.client.post("/api/articles", json={"article": body}, headers=author.headers)
        assert r.status_code == 201, r.text
        article: dict[str, Any] = r.json()["article"]
        return article

    def comment(self, author: Account, slug: str, body: str = "Nice!") -> dict[str, Any]:
        r = self.client.post(
            f"/api/articles/{slug}/comments",
            json={"comment": {"body": body}},
            headers=author.headers,
        )
        assert r.status_code == 201, r.text
        comment: dict[str, Any] = r.json()["comment"]
        return comment

    def follow(self, who: Account, whom: Account) -> None:
        r = self.client.post(f"/api/profiles/{whom.username}/follow", headers=who.headers)
        assert r.status_code == 200, r.text

    def favorite(self, who: Account, slug: str) -> None:
        r = self.client.post(f"/api/articles/{slug}/favorite", headers=who.headers)
        assert r.status_code == 200, r.text


def assert_problem(response: Any, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is an RFC 9457 problem with the RealWorld errors member."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert {"type", "title", "detail", "errors"} <= body.keys()
    assert isinstance(body["errors"], dict)
    assert body["errors"]
    for messages in body["errors"].values():
        assert messages
        assert all(isinstance(m, str) and len(m) < 80 for m in messages)
    if field is not None:
        assert field in body["errors"], body
    return body


# --- tokens: the app's are HS256 with sub (the user id), iat, exp, iss and aud --------------


def subject(account: Account) -> str:
    """The `sub` claim of the account's token: its user id, as a string."""
    payload: dict[str, Any] = jwt.decode(account.token, options={"verify_signature": False})
    return str(payload["sub"])


def claims(sub: str, /, *, lifetime: int = 3600, **changes: Any) -> dict[str, Any]:
    """The claims the app puts in its tokens, valid for `lifetime` seconds from now;
    `changes` replace or add claims, and a change to None drops that claim."""
    now = int(time.time())
    made: dict[str, Any] = {
        "sub": sub,
        "iat": now,
        "exp": now + lifetime,
        "iss": "conduit",
        "aud": "conduit",
        **changes,
    }
    return {k: v for k, v in made.items() if v is not None}


def token(
    sub: str,
    /,
    *,
    secret: str = SECRET,
    algorithm: str = "HS256",
    lifetime: int = 3600,
    **changes: Any,
) -> str:
    """A token made the way the app makes them (by default: HS256, the test secret)."""
    return jwt.encode(claims(sub, lifetime=lifetime, **changes), secret, algorithm=algorithm)


def expired_token(account: Account) -> str:
    """A correctly signed token for the account whose lifetime ended an hour ago."""
    now = int(time.time())
    return token(subject(account), iat=now - 7200, exp=now - 3600)
