"""A thin client for the tests: the requests a RealWorld frontend makes, nothing more."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import jwt

_counter = itertools.count(1)


@dataclass
class Account:
    username: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Token {self.token}"}


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


def forge(claims: dict[str, Any], secret: str, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, secret, algorithm=algorithm)
