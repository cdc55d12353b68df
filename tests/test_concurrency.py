"""Many clients at once against the service as `make serve` runs it: two gunicorn workers, so
two processes and their threads race on one database. Counts stay exact, unique names stay
unique, one conditional write wins, and every answer is a success or a documented refusal."""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import secrets
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from sqlalchemy import create_engine, text

import cli
from settings import ARGON2_FLOOR
from tests.conftest import fresh_database_url
from tests.live import ROOT, serving

T = TypeVar("T")


def _documented() -> list[tuple[str, re.Pattern[str], set[int]]]:
    """(method, path pattern, the statuses the spec gives it) for every operation, the paths
    with fewer parameters first, so that /articles/feed is not taken for /articles/{slug}."""
    spec = yaml.safe_load((ROOT / "openapi" / "api.yaml").read_text())
    found = []
    for path, operations in spec["paths"].items():
        pattern = re.compile("/api" + re.sub(r"\{[^}]+\}", "[^/]+", path) + "$")
        for method, operation in operations.items():
            if isinstance(operation, dict) and "responses" in operation:
                statuses = {int(s) for s in operation["responses"] if s.isdigit()}
                found.append((method.upper(), pattern, statuses, path.count("{")))
    found.sort(key=lambda f: f[3])
    return [(method, pattern, statuses) for method, pattern, statuses, _ in found]


DOCUMENTED = _documented()


def documented(method: str, path: str, status: int) -> bool:
    """A success, or a refusal (4xx) the spec lists for this operation; never a 5xx."""
    path = path.split("?", 1)[0]
    for m, pattern, statuses in DOCUMENTED:
        if m == method and pattern.match(path):
            return status in statuses and 200 <= status < 500
    raise AssertionError(f"{method} {path} is no operation of the spec")


@dataclass
class Served:
    """A running `make serve`, the database it uses, and every answer it gave a test."""

    base: str
    database_url: str
    log: Path
    answers: list[tuple[str, str, int]] = field(default_factory=list)

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        token: str = "",
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        sent = {"Content-Type": "application/json", **(headers or {})}
        if token:
            sent["Authorization"] = f"Token {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data, sent, method=method)
        try:
            with urllib.request.urlopen(request, timeout=60) as r:
                status, raw, got = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, raw, got = e.code, e.read(), e.headers
        self.answers.append((method, path, status))
        return status, json.loads(raw) if raw else None, {k.lower(): v for k, v in got.items()}

    def undocumented(self) -> list[tuple[str, str, int]]:
        return [a for a in self.answers if not documented(*a)]

    def sql(self, query: str, **values: Any) -> list[Any]:
        """Rows read straight from the database, past the API."""
        engine = create_engine(self.database_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text(query), values).all())
        finally:
            engine.dispose()

    def register(self, name: str) -> str:
        user = {"username": name, "email": f"{name}@example.com", "password": "password1"}
        status, body, _ = self.call("POST", "/api/users", {"user": user})
        assert status == 201, body
        token: str = body["user"]["token"]
        return token

    def register_many(self, names: list[str]) -> list[str]:
        with ThreadPoolExecutor(4) as pool:
            return list(pool.map(self.register, names))


@pytest.fixture(scope="module", params=["postgresql", "sqlite"])
def deployed(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """`make serve` on a database of its own: migrated, then gunicorn with two uvicorn workers
    in production mode. Shared by this module's tests, each of which works on rows of its own
    (names of its own), to start one server per database rather than one per test."""
    directory = tmp_path_factory.mktemp(f"serve-{request.param}")
    database = contextlib.contextmanager(fresh_database_url)(request.param, directory, "serve.db")
    with database as url:
        env = {
            "CONDUIT_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(30),  # 40 characters
            "DATABASE_URL": url,
            "WORKERS": "2",
            "REDIS_URL": "",
            # hundreds of requests and dozens of sign-ups from one address in a minute
            "RATE_LIMIT_DEFAULT": "1000000/minute",
            "RATE_LIMIT_AUTH": "1000000/minute",
            # the cheapest hashing production accepts: the races are in the database
            **{name: str(value) for name, value in ARGON2_FLOOR.items()},
        }
        subprocess.run(
            [sys.executable, "-m", "cli", "migrate"],
            cwd=directory,
            env={**os.environ, "PYTHONPATH": str(ROOT), **env},
            check=True,
            capture_output=True,
        )
        gunicorn = [str(Path(sys.executable).parent / "gunicorn"), "app:create_app()",
                    "--config", str(ROOT / "gunicorn.conf.py")]  # fmt: skip
        with serving(gunicorn, env, directory, probe="/healthz") as base:
            yield Served(base, url, directory / "server.log")


@pytest.fixture
def served(deployed: Served) -> Served:
    """The shared server, with this test's answers alone to check."""
    deployed.answers = []
    return deployed


def at_once(n: int, client: Callable[[int], T]) -> list[T]:
    """client(0) .. client(n - 1), each in its own thread, released together."""
    start = threading.Barrier(n, timeout=60)

    def run(i: int) -> T:
        start.wait()
        return client(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


def _article(served: Served, token: str, title: str, tags: list[str] | None = None) -> str:
    fields = {"title": title, "description": "d", "body": "b", "tagList": tags or []}
    status, body, _ = served.call("POST", "/api/articles", {"article": fields}, token)
    assert status == 201, body
    slug: str = body["article"]["slug"]
    return slug


COUNTERS_DISAGREE = """
    SELECT 'users.articles_count', username FROM users
     WHERE articles_count <> (SELECT count(*) FROM articles WHERE author_id = users.id)
    UNION ALL
    SELECT 'users.favorites_count', username FROM users
     WHERE favorites_count <> (SELECT count(*) FROM favorites WHERE user_id = users.id)
    UNION ALL
    SELECT 'tags.articles_count', name FROM tags
     WHERE articles_count <> (SELECT count(*) FROM article_tags WHERE tag_id = tags.id)
    UNION ALL
    SELECT 'counters.articles', 'articles'
     WHERE (SELECT sum(value) FROM counters WHERE name = 'articles')
           <> (SELECT count(*) FROM articles)
"""


def test_fifty_clients_favouriting_one_article_leave_its_count_equal_to_the_rows(
    served: Served,
) -> None:
    clients, rounds = 50, 6
    author = served.register("fav-author")
    slug = _article(served, author, "Popular")
    tokens = served.register_many([f"fav{n}" for n in range(clients)])

    def client(n: int) -> bool:
        rnd = random.Random(n)  # noqa: S311 - a reproducible mix of actions, not security
        favourited = False
        for _ in range(rounds):
            # favouriting twice in a row is part of the mix: it must stay harmless
            favourited = rnd.random() < 0.6
            method = "POST" if favourited else "DELETE"
            status, body, _ = served.call(method, f"/api/articles/{slug}/favorite", token=tokens[n])
            assert (status, body["article"]["favorited"]) == (200, favourited), body
        return favourited

    final = at_once(clients, client)
    _, body, _ = served.call("GET", f"/api/articles/{slug}")
    rows = served.sql(
        "SELECT u.username FROM favorites f JOIN users u ON u.id = f.user_id"
        " JOIN articles a ON a.id = f.article_id WHERE a.slug = :slug",
        slug=slug,
    )
    assert {r.username for r in rows} == {f"fav{n}" for n in range(clients) if final[n]}
    assert body["article"]["favoritesCount"] == len(rows) == sum(final)
    _, fans, _ = served.call("GET", "/api/articles?favorited=fav0")
    assert fans["articlesCount"] == int(final[0])
    assert served.sql(COUNTERS_DISAGREE) == []
    assert served.undocumented() == []


def test_twenty_clients_creating_one_title_get_twenty_distinct_slugs(served: Served) -> None:
    clients = 20
    authors = served.register_many([f"same-title{n}" for n in range(4)])
    fields = {"title": "Breaking news", "description": "d", "body": "b", "tagList": ["news"]}

    def client(n: int) -> tuple[int, Any]:
        status, body, _ = served.call("POST", "/api/articles", {"article": fields}, authors[n % 4])
        return status, body

    created = at_once(clients, client)
    assert [status for status, _ in created] == [201] * clients, created
    slugs = {body["article"]["slug"] for _, body in created}
    assert len(slugs) == clients
    assert "breaking-news" in slugs
    for slug in slugs:
        status, body, _ = served.call("GET", f"/api/articles/{slug}")
        assert (status, body["article"]["slug"]) == (200, slug)
    assert served.sql(COUNTERS_DISAGREE) == []
    assert served.undocumented() == []


def test_twenty_clients_registering_one_username_give_exactly_one_201(served: Served) -> None:
    clients = 20

    def client(n: int) -> tuple[int, Any]:
        user = {"username": "taken", "email": f"taken{n}@example.com", "password": "password1"}
        status, body, _ = served.call("POST", "/api/users", {"user": user})
        return status, body

    outcomes = at_once(clients, client)
    assert sorted(status for status, _ in outcomes) == [201] + [422] * (clients - 1)
    refusals = [body["errors"] for status, body in outcomes if status == 422]
    assert all(errors == {"username": ["has already been taken"]} for errors in refusals)
    assert len(served.sql("SELECT id FROM users WHERE username = 'taken'")) == 1
    assert served.undocumented() == []


def test_concurrent_edits_with_one_etag_let_exactly_one_win(served: Served) -> None:
    clients, rounds = 10, 5
    author = served.register("etag-author")
    slug = _article(served, author, "Contested")
    path = f"/api/articles/{slug}"
    for round_ in range(rounds):
        _, _, headers = served.call("GET", path, token=author)
        seen = headers["etag"]

        def client(n: int, round_: int = round_, seen: str = seen) -> int:
            edit = {"article": {"body": f"version {round_}.{n}", "tagList": [f"v{n}"]}}
            status, _, _ = served.call("PUT", path, edit, author, {"If-Match": seen})
            return status

        statuses = at_once(clients, client)
        assert sorted(statuses) == [200] + [412] * (clients - 1), statuses
        winner = statuses.index(200)
        _, body, _ = served.call("GET", path)
        assert body["article"]["body"] == f"version {round_}.{winner}"
        assert body["article"]["tagList"] == [f"v{winner}"]
    # a conditional deletion among the edits: it wins alone, or loses with the other losers
    _, _, headers = served.call("GET", path, token=author)

    def edit_or_delete(n: int, seen: str = headers["etag"]) -> int:
        if n == 0:
            return served.call("DELETE", path, token=author, headers={"If-Match": seen})[0]
        edit = {"article": {"body": f"last {n}"}}
        return served.call("PUT", path, edit, author, {"If-Match": seen})[0]

    statuses = at_once(clients, edit_or_delete)
    if statuses[0] == 204:
        assert statuses[1:] == [404] * (clients - 1), statuses
    else:
        assert statuses[0] == 412, statuses
        assert sorted(statuses[1:]) == [200] + [412] * (clients - 2), statuses
    assert served.sql(COUNTERS_DISAGREE) == []
    assert served.undocumented() == []


def test_concurrent_profile_edits_with_one_etag_let_exactly_one_win(served: Served) -> None:
    clients, rounds = 10, 3
    token = served.register("etag-user")
    for round_ in range(rounds):
        _, _, headers = served.call("GET", "/api/user", token=token)

        def client(n: int, round_: int = round_, seen: str = headers["etag"]) -> int:
            edit = {"user": {"bio": f"bio {round_}.{n}"}}
            return served.call("PUT", "/api/user", edit, token, {"If-Match": seen})[0]

        statuses = at_once(clients, client)
        assert sorted(statuses) == [200] + [412] * (clients - 1), statuses
        _, body, _ = served.call("GET", "/api/user", token=token)
        assert body["user"]["bio"] == f"bio {round_}.{statuses.index(200)}"
    assert served.undocumented() == []


def test_clients_deleting_one_comment_at_once_get_one_204_and_404s(served: Served) -> None:
    clients, rounds = 5, 5
    author = served.register("comment-author")
    slug = _article(served, author, "Discussed")
    for _ in range(rounds):
        comment = {"comment": {"body": "soon gone"}}
        _, body, _ = served.call("POST", f"/api/articles/{slug}/comments", comment, author)
        path = f"/api/articles/{slug}/comments/{body['comment']['id']}"

        def client(_: int, path: str = path) -> int:
            return served.call("DELETE", path, token=author)[0]

        statuses = at_once(clients, client)
        assert sorted(statuses) == [204] + [404] * (clients - 1), statuses
    assert served.undocumented() == []


def test_an_author_updating_an_article_while_deleting_it_gets_success_or_404(
    served: Served,
) -> None:
    """Each round races an edit (a new title, new tags, or both) against the deletion: the
    edit either lands before the deletion (200) or finds the article gone (404)."""
    rounds = 30
    author = served.register("racing-author")
    edits = [
        {"title": "Renamed"},
        {"tagList": ["after", "race"]},
        {"title": "Renamed and retagged", "tagList": ["after"], "body": "new"},
        {"body": "only the body"},
    ]
    for round_ in range(rounds):
        slug = _article(served, author, f"Doomed {round_}", ["before", "race"])
        edit = {"article": edits[round_ % len(edits)]}

        def client(n: int, slug: str = slug, edit: dict[str, Any] = edit) -> int:
            if n == 0:
                return served.call("PUT", f"/api/articles/{slug}", edit, author)[0]
            return served.call("DELETE", f"/api/articles/{slug}", token=author)[0]

        updated, deleted = at_once(2, client)
        assert updated in {200, 404}, (round_, updated)
        assert deleted == 204, (round_, deleted)
        assert served.call("GET", f"/api/articles/{slug}")[0] == 404
    assert served.sql(COUNTERS_DISAGREE) == []
    assert served.undocumented() == []


TAGS = ["red", "green", "blue", "cyan"]


def _listed(served: Served, query: str) -> tuple[int, int]:
    """(articlesCount, articles actually listed) over every page of a list request."""
    seen, offset, total = 0, 0, -1
    while True:
        status, body, _ = served.call("GET", f"/api/articles?limit=100&offset={offset}&{query}")
        assert status == 200, body
        total = body["articlesCount"]
        seen += len(body["articles"])
        offset += 100
        if not body["articles"]:
            return total, seen


def test_counts_stay_exact_while_clients_create_retag_favourite_and_delete(
    served: Served,
) -> None:
    """Every path that changes a counter at once; the lock order keeps them from deadlocking."""
    clients, rounds = 20, 15
    names = [f"mix{n}" for n in range(clients)]
    tokens = served.register_many(names)

    def act(n: int, rnd: random.Random, mine: list[str], i: int) -> tuple[int, set[int]]:
        roll = rnd.random()
        if roll < 0.4 or not mine:
            fields = {"title": f"t{n}-{i}", "description": "d", "body": "b",
                      "tagList": rnd.sample(TAGS, 2)}  # fmt: skip
            status, body, _ = served.call("POST", "/api/articles", {"article": fields}, tokens[n])
            if status == 201:
                mine.append(body["article"]["slug"])
            return status, {201}
        if roll < 0.6:
            slug = mine.pop(rnd.randrange(len(mine)))
            return served.call("DELETE", f"/api/articles/{slug}", token=tokens[n])[0], {204}
        if roll < 0.8:
            retag = {"article": {"tagList": rnd.sample(TAGS, rnd.randint(0, 3))}}
            slug = rnd.choice(mine)
            return served.call("PUT", f"/api/articles/{slug}", retag, tokens[n])[0], {200}
        _, page, _ = served.call("GET", "/api/articles?limit=10")
        if not page["articles"]:
            return 200, {200}
        slug = rnd.choice(page["articles"])["slug"]
        # the article may be deleted since it was listed, or while this request runs
        if rnd.random() < 0.3:
            comment = {"comment": {"body": "hello"}}
            status = served.call("POST", f"/api/articles/{slug}/comments", comment, tokens[n])[0]
            return status, {201, 404}
        method = "POST" if rnd.random() < 0.7 else "DELETE"
        status = served.call(method, f"/api/articles/{slug}/favorite", token=tokens[n])[0]
        return status, {200, 404}

    def client(n: int) -> list[tuple[int, int]]:
        rnd = random.Random(n)  # noqa: S311 - a reproducible mix of actions, not security
        mine: list[str] = []
        failures = []
        for i in range(rounds):
            status, expected = act(n, rnd, mine, i)
            if status not in expected:
                failures.append((i, status))
        return failures

    assert at_once(clients, client) == [[]] * clients
    everything = _listed(served, "")
    assert everything[0] == everything[1] > 0
    queries = [f"tag={t}" for t in TAGS]
    queries += [f"{f}={name}" for f in ("author", "favorited") for name in names]
    counted = {q: _listed(served, q) for q in queries}
    assert {q: total for q, (total, _) in counted.items()} == {
        q: seen for q, (_, seen) in counted.items()
    }
    assert served.sql(COUNTERS_DISAGREE) == []
    assert served.undocumented() == []


def test_concurrent_demotions_never_leave_no_admin(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Admins demoting and suspending each other all at once: whatever order the database
    puts them in, one active admin is always left, and nothing fails."""
    admins = 6
    names = [f"admin{n}" for n in range(admins)]
    served.register_many(names)
    monkeypatch.setenv("DATABASE_URL", served.database_url)
    monkeypatch.setenv("CONDUIT_ENV", "development")
    for name in names:
        assert cli.main(["admin", name]) == 0
    login = [{"email": f"{name}@example.com", "password": "password1"} for name in names]
    tokens = [served.call("POST", "/api/users/login", {"user": u})[1]["user"]["token"]
              for u in login]  # fmt: skip

    def admin(n: int) -> list[int]:
        outcomes = []
        for other in [*range(n + 1, admins), *range(n)]:
            if other % 2:
                path, change = f"/api/admin/users/{names[other]}/role", {"role": "user"}
            else:
                path, change = f"/api/admin/users/{names[other]}/suspension", {"reason": "race"}
            outcomes.append(served.call("PUT", path, change, tokens[n])[0])
        return outcomes

    outcomes = [status for statuses in at_once(admins, admin) for status in statuses]
    # done: succeeded, the last admin kept (409), or the caller lost the role first (401/403)
    assert set(outcomes) <= {200, 401, 403, 409}, outcomes
    assert 200 in outcomes
    left = []
    for n in range(admins):
        status, body, _ = served.call("POST", "/api/users/login", {"user": login[n]})
        if status == 200 and body["user"]["role"] == "admin":
            left.append(n)
    assert len(left) >= 1, left
    assert served.undocumented() == []
