"""No N+1: list endpoints run a fixed number of SQL statements, whatever the page size."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, event, update

from db.models import User
from shell import idempotency
from tests.helpers import Account, Api

# bookkeeping of the test's own transaction, not queries of the app
_IGNORED = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
CALLER_CHECK = "SELECT users.id, users.role, users.status, users.token_generation, users.username"


@contextmanager
def counting(engine: Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(_IGNORED):
            statements.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", record)


@pytest.fixture
def world(api: Api) -> tuple[Account, str]:
    """A reader following two authors with 12 tagged, favourited, commented articles."""
    reader, anna, bob = api.register("reader"), api.register("anna"), api.register("bob")
    api.follow(reader, anna)
    api.follow(reader, bob)
    slug = ""
    for i in range(12):
        author = anna if i % 2 else bob
        slug = api.article(author, tagList=["dragons", f"tag{i % 4}"])["slug"]
        api.favorite(reader, slug)
        api.comment(author if i % 3 else reader, slug, f"comment {i}")
    for i in range(14):
        api.comment(anna, slug, f"more {i}")
    return reader, slug


def statements_for(engine: Engine, request: Callable[[], Any]) -> int:
    with counting(engine) as statements:
        response = request()
    assert response.status_code == 200, response.text
    return len(statements)


@pytest.mark.parametrize(
    ("path", "as_reader"),
    [
        ("/api/articles", False),
        ("/api/articles", True),
        ("/api/articles?tag=dragons", False),
        ("/api/articles?author=anna", False),
        ("/api/articles?favorited=reader", False),
        ("/api/articles?tag=dragons&author=anna", True),
        ("/api/articles/feed", True),
        # searches, in each shape SQLite's translation has (db/search.py)
        ("/api/articles?q=article", False),
        ("/api/articles?q=dragons&author=anna", True),
        ("/api/articles?q=-tag1", False),
        ("/api/articles?q=tag2%20or%20-tag1", False),
        ("/api/articles/feed?q=article", True),
    ],
)
def test_article_lists_run_a_fixed_number_of_statements(
    api: Api, engine: Engine, world: tuple[Account, str], path: str, as_reader: bool
) -> None:
    reader, _ = world
    headers = reader.headers if as_reader else {}
    sep = "&" if "?" in path else "?"
    small = statements_for(engine, lambda: api.client.get(f"{path}{sep}limit=1", headers=headers))
    large = statements_for(engine, lambda: api.client.get(f"{path}{sep}limit=5", headers=headers))
    assert small == large
    # the page, its tags and its total are one statement; the caller is one more
    assert large == 1 + as_reader


def test_a_page_past_the_end_still_has_its_total(api: Api, engine: Engine) -> None:
    author = api.register("anna")
    for _ in range(3):
        api.article(author)
    with counting(engine) as statements:
        past = api.client.get("/api/articles?offset=10")
    assert past.json() == {"articles": [], "articlesCount": 3, "nextCursor": None}
    assert len(statements) == 2  # an empty page carries no total, so it is asked for alone


def test_comment_list_runs_a_fixed_number_of_statements(
    api: Api, engine: Engine, world: tuple[Account, str]
) -> None:
    reader, busy = world
    quiet = api.article(api.register("quiet"))["slug"]
    api.comment(reader, quiet)
    one = statements_for(
        engine, lambda: api.client.get(f"/api/articles/{quiet}/comments", headers=reader.headers)
    )
    many = statements_for(
        engine, lambda: api.client.get(f"/api/articles/{busy}/comments", headers=reader.headers)
    )
    assert len(api.client.get(f"/api/articles/{busy}/comments").json()["comments"]) == 15
    assert one == many
    assert many <= 3  # the caller, the article, its comments with their authors


def test_counting_sees_the_app_queries(api: Api, engine: Engine) -> None:
    """The counter itself works: a request that reads the database is seen doing so."""
    assert statements_for(engine, lambda: api.client.get("/api/tags")) == 1


def test_a_profile_is_one_statement_and_the_caller_one_more(api: Api, engine: Engine) -> None:
    reader, anna = api.register("reader"), api.register("anna")
    api.follow(reader, anna)
    with counting(engine) as anonymous:
        seen = api.client.get("/api/profiles/anna").json()["profile"]
    with counting(engine) as signed_in:
        followed = api.client.get("/api/profiles/anna", headers=reader.headers).json()["profile"]
    assert (seen["following"], followed["following"]) == (False, True)
    assert (len(anonymous), len(signed_in)) == (1, 2)


@pytest.mark.parametrize("path", ["/api/admin/users", "/api/admin/audit"])
def test_admin_lists_run_a_fixed_number_of_statements(
    api: Api, engine: Engine, connection: Connection, path: str
) -> None:
    boss = api.register("boss")
    connection.execute(update(User).where(User.username == "boss").values(role="admin"))
    for i in range(6):
        member = api.register(f"member{i}")
        api.comment(member, api.article(member)["slug"])
        api.follow(member, boss)
        api.client.put(f"/api/admin/users/member{i}/role", json={"role": "moderator"},
                       headers=boss.headers)  # fmt: skip
    small = statements_for(engine, lambda: api.client.get(f"{path}?limit=1", headers=boss.headers))
    large = statements_for(engine, lambda: api.client.get(f"{path}?limit=7", headers=boss.headers))
    assert small == large
    assert large == 3  # the caller, the page with its counts or names, the total


def test_an_authenticated_request_checks_its_caller_in_one_statement(
    api: Api, engine: Engine, connection: Connection
) -> None:
    """Role, status and token generation come in one caller statement, whether the operation
    needs a scope (checked before validation) or not (checked just before the handler)."""
    jake = api.register("jake")
    connection.execute(update(User).where(User.username == "jake").values(role="admin"))
    for path in ("/api/articles/feed", "/api/admin/audit", "/api/user"):
        with counting(engine) as statements:
            assert api.client.get(path, headers=jake.headers).status_code == 200
        checks = [s for s in statements if s.startswith(CALLER_CHECK)]
        assert len(checks) == 1, (path, statements)
    with counting(engine) as statements:
        assert api.client.get("/api/tags").status_code == 200
    assert len(statements) == 1


@pytest.mark.parametrize("what", ["article", "comment"])
def test_an_idempotency_key_costs_two_statements_and_nothing_without_one(
    api: Api, engine: Engine, monkeypatch: pytest.MonkeyPatch, what: str
) -> None:
    """Without the header, creating runs what it always ran; with it, one statement claims the
    key and one records the answer; a replay is the caller, the claim and the key's row."""
    monkeypatch.setattr(idempotency.PURGE, "next", math.inf)  # the purge is counted below
    jake = api.register("jake")
    slug = api.article(jake)["slug"]

    def create(n: int, headers: dict[str, str]) -> list[str]:
        if what == "article":
            path = "/api/articles"
            body: dict[str, Any] = {"article": {"title": f"Title {n}", "description": "d",
                                                "body": "b", "tagList": ["dragons"]}}  # fmt: skip
        else:
            path, body = f"/api/articles/{slug}/comments", {"comment": {"body": f"Body {n}"}}
        with counting(engine) as statements:
            r = api.client.post(path, json=body, headers={**jake.headers, **headers})
        assert r.status_code == 201, r.text
        return statements

    plain = create(1, {})
    keyed = create(2, {"Idempotency-Key": "k"})
    replayed = create(2, {"Idempotency-Key": "k"})
    monkeypatch.setattr(idempotency.PURGE, "next", 0.0)
    purging = create(3, {"Idempotency-Key": "k3"})
    assert not [s for s in plain if "idempotency_keys" in s]
    # imported here: that module imports this one
    from tests.test_write_statements import WRITE_STATEMENTS

    # (tests/test_write_statements.py says which statements each write runs)
    assert len(plain) == WRITE_STATEMENTS[engine.dialect.name][f"create_{what}"]
    keys = [s.split()[0] for s in keyed if "idempotency_keys" in s]
    assert (len(keyed), keys) == (len(plain) + 2, ["INSERT", "UPDATE"])
    assert len(replayed) == 3
    assert len(purging) == len(keyed) + 1
