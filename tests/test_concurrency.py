"""Concurrent clients against a real server process: counts stay exact, nothing fails."""

from __future__ import annotations

import random
import threading
from typing import Any

from tests.live import call

CLIENTS = 20
ROUNDS = 15


def _register(server: str, n: int) -> str:
    user = {"username": f"fan{n}", "email": f"fan{n}@example.com", "password": "password1"}
    status, body = call(server, "POST", "/api/users", {"user": user})
    assert status == 201, body
    token: str = body["user"]["token"]
    return token


def test_favourite_counts_stay_exact_under_concurrent_clients(server: str) -> None:
    author = _register(server, 0)
    article = {"title": "Popular", "description": "d", "body": "b"}
    status, body = call(server, "POST", "/api/articles", {"article": article}, author)
    assert status == 201
    slug = body["article"]["slug"]
    tokens = [_register(server, n) for n in range(1, CLIENTS + 1)]
    final: dict[int, bool] = {}
    failures: list[Any] = []
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> None:
        rnd = random.Random(n)  # noqa: S311 - a reproducible mix of actions, not security
        start.wait()
        favourited = False
        for _ in range(ROUNDS):
            # favouriting twice in a row is part of the mix: it must stay harmless
            favourited = rnd.random() < 0.6
            status, body = call(
                server, "POST" if favourited else "DELETE", f"/api/articles/{slug}/favorite",
                token=tokens[n],
            )  # fmt: skip
            if status != 200 or body["article"]["favorited"] is not favourited:
                failures.append((n, status, body))
        final[n] = favourited

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert failures == []
    assert len(final) == CLIENTS
    status, body = call(server, "GET", f"/api/articles/{slug}")
    assert body["article"]["favoritesCount"] == sum(final.values())
    status, body = call(server, "GET", "/api/articles?favorited=fan1")
    assert body["articlesCount"] == int(final[0])


def test_concurrent_registrations_of_one_name_create_one_user(server: str) -> None:
    outcomes: list[int] = []
    start = threading.Barrier(CLIENTS)

    def client(n: int) -> None:
        user = {"username": "same", "email": f"same{n}@example.com", "password": "password1"}
        start.wait()
        outcomes.append(call(server, "POST", "/api/users", {"user": user})[0])

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(outcomes) == [201] + [422] * (CLIENTS - 1)
