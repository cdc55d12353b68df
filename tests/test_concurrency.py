"""Concurrent clients against a real server process: counts stay exact, nothing fails."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

import cli
from tests.live import call

CLIENTS = 20
ROUNDS = 15


def _run_clients(client: Callable[[int], None]) -> None:
    """CLIENTS threads running client(n) at once; returns when all are done."""
    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


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

    _run_clients(client)
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

    _run_clients(client)
    assert sorted(outcomes) == [201] + [422] * (CLIENTS - 1)


TAGS = ["red", "green", "blue", "cyan"]


def _listed(server: str, query: str) -> tuple[int, int]:
    """(articlesCount, articles actually listed) over every page of a list request."""
    seen, offset, total = 0, 0, -1
    while True:
        status, body = call(server, "GET", f"/api/articles?limit=100&offset={offset}&{query}")
        assert status == 200, body
        total = body["articlesCount"]
        seen += len(body["articles"])
        offset += 100
        if not body["articles"]:
            return total, seen


def test_counts_stay_exact_while_clients_create_retag_favourite_and_delete(server: str) -> None:
    """Every path that changes a counter at once; the lock order keeps them from deadlocking."""
    tokens = [_register(server, n) for n in range(CLIENTS)]
    failures: list[Any] = []
    start = threading.Barrier(CLIENTS)

    def act(n: int, rnd: random.Random, mine: list[str], i: int) -> tuple[int, set[int]]:
        roll = rnd.random()
        if roll < 0.4 or not mine:
            fields = {"title": f"t{n}-{i}", "description": "d", "body": "b",
                      "tagList": rnd.sample(TAGS, 2)}  # fmt: skip
            status, body = call(server, "POST", "/api/articles", {"article": fields}, tokens[n])
            if status == 201:
                mine.append(body["article"]["slug"])
            return status, {201}
        if roll < 0.6:
            slug = mine.pop(rnd.randrange(len(mine)))
            return call(server, "DELETE", f"/api/articles/{slug}", token=tokens[n])[0], {204}
        if roll < 0.8:
            retag = {"article": {"tagList": rnd.sample(TAGS, rnd.randint(0, 3))}}
            slug = rnd.choice(mine)
            return call(server, "PUT", f"/api/articles/{slug}", retag, tokens[n])[0], {200}
        _, page = call(server, "GET", "/api/articles?limit=10")
        if not page["articles"]:
            return 200, {200}
        slug = rnd.choice(page["articles"])["slug"]
        # the article may be deleted since it was listed, or while this request runs
        if rnd.random() < 0.3:
            comment = {"comment": {"body": "hello"}}
            status = call(server, "POST", f"/api/articles/{slug}/comments", comment, tokens[n])[0]
            return status, {201, 404}
        method = "POST" if rnd.random() < 0.7 else "DELETE"
        status = call(server, method, f"/api/articles/{slug}/favorite", token=tokens[n])[0]
        return status, {200, 404}

    def client(n: int) -> None:
        rnd = random.Random(n)  # noqa: S311 - a reproducible mix of actions, not security
        mine: list[str] = []
        start.wait()
        for i in range(ROUNDS):
            status, expected = act(n, rnd, mine, i)
            if status not in expected:
                failures.append((n, i, status))

    _run_clients(client)
    assert failures == []
    everything = _listed(server, "")
    assert everything[0] == everything[1] > 0
    queries = [f"tag={t}" for t in TAGS]
    queries += [f"{f}=fan{n}" for f in ("author", "favorited") for n in range(CLIENTS)]
    counted = {q: _listed(server, q) for q in queries}
    assert {q: total for q, (total, _) in counted.items()} == {
        q: seen for q, (_, seen) in counted.items()
    }


def test_concurrent_demotions_never_leave_no_admin(
    server: str, fresh_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Admins demoting and suspending each other all at once: whatever order the database
    puts them in, one active admin is always left, and nothing fails."""
    admins = 6
    tokens = [_register(server, n) for n in range(admins)]
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("CONDUIT_ENV", "development")
    for n in range(admins):
        assert cli.main(["admin", f"fan{n}"]) == 0
    login = [{"email": f"fan{n}@example.com", "password": "password1"} for n in range(admins)]
    tokens = [call(server, "POST", "/api/users/login", {"user": u})[1]["user"]["token"]
              for u in login]  # fmt: skip
    outcomes: list[int] = []
    start = threading.Barrier(admins)

    def admin(n: int) -> None:
        start.wait()
        for other in [*range(n + 1, admins), *range(n)]:
            if other % 2:
                r = call(server, "PUT", f"/api/admin/users/fan{other}/role", {"role": "user"},
                         tokens[n])  # fmt: skip
            else:
                r = call(server, "PUT", f"/api/admin/users/fan{other}/suspension",
                         {"reason": "race"}, tokens[n])  # fmt: skip
            outcomes.append(r[0])

    threads = [threading.Thread(target=admin, args=(n,)) for n in range(admins)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    # done: succeeded, the last admin kept (409), or the caller lost the role first (401/403)
    assert set(outcomes) <= {200, 401, 403, 409}, outcomes
    assert 200 in outcomes
    left = []
    for n in range(admins):
        status, body = call(server, "POST", "/api/users/login", {"user": login[n]})
        if status == 200 and body["user"]["role"] == "admin":
            left.append(n)
    assert len(left) >= 1, left
