"""Idempotency-Key on creating articles and comments: a retry answers as the first request did
and creates nothing; another request with the key is 422, a duplicate of one still running 409."""

from __future__ import annotations

import json
import math
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, delete, func, select, update
from sqlalchemy.orm import Session

from app import create_app
from cli import main
from db import idempotency
from db.errors import Conflict
from db.models import Article, Comment, IdempotencyKey, User, utcnow
from db.session import make_engine
from shell import idempotency as plumbing
from tests.conftest import migrated_engine
from tests.helpers import SECRET, Account, Api, app_settings, assert_problem, subject

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
NEW_ARTICLE = {
    "article": {
        "title": "How to train your dragon",
        "description": "Ever wonder how?",
        "body": "You have to believe.",
        "tagList": ["dragons", "training"],
    }
}
NEW_COMMENT = {"comment": {"body": "Thank you so much!"}}


@pytest.fixture(autouse=True)
def no_purge(monkeypatch: pytest.MonkeyPatch) -> None:
    """Expired keys are purged only where a test asks for it, so counts stay exact."""
    monkeypatch.setattr(plumbing.PURGE, "next", math.inf)


def keyed(account: Account, key: str | bytes | None) -> dict[str, Any]:
    return {**account.headers, **({} if key is None else {KEY: key})}


@dataclass
class Creating:
    """One of the two operations that take a key: where to post, what, and what it makes."""

    path: str
    body: dict[str, Any]
    made: type[Article] | type[Comment]

    def post(self, api: Api, who: Account, key: str | bytes | None, **changes: Any) -> Any:
        body = self.body if not changes else {k: {**v, **changes} for k, v in self.body.items()}
        return api.client.post(self.path, json=body, headers=keyed(who, key))


@pytest.fixture(params=["article", "comment"])
def creating(request: pytest.FixtureRequest, api: Api) -> Creating:
    if request.param == "article":
        return Creating("/api/articles", NEW_ARTICLE, Article)
    slug = api.article(api.register("author"))["slug"]
    return Creating(f"/api/articles/{slug}/comments", NEW_COMMENT, Comment)


def count(connection: Connection, model: type[Any]) -> int:
    return int(connection.execute(select(func.count()).select_from(model)).scalar_one())


def stored_keys(connection: Connection) -> list[tuple[str, str]]:
    rows = connection.execute(select(IdempotencyKey.key, IdempotencyKey.state)).all()
    return sorted((r.key, r.state) for r in rows)


@contextmanager
def another_worker(connection: Connection) -> Iterator[Session]:
    """A session like another worker process's: what it commits, the app sees at once."""
    with Session(bind=connection, join_transaction_mode="create_savepoint") as s:
        yield s


# --- replay ----------------------------------------------------------------------------------


def test_a_retry_replays_the_first_answer_and_creates_nothing(
    api: Api, connection: Connection, creating: Creating
) -> None:
    jake = api.register("jake")
    before = count(connection, creating.made)
    first = creating.post(api, jake, "retry-1")
    assert first.status_code == 201, first.text
    assert REPLAYED not in first.headers
    again = creating.post(api, jake, "retry-1")
    assert again.status_code == 201, again.text
    assert again.headers[REPLAYED] == "true"
    assert again.headers["content-type"] == first.headers["content-type"]
    assert again.content == first.content
    assert count(connection, creating.made) == before + 1
    assert stored_keys(connection) == [("retry-1", "done")]


def test_a_replay_is_the_recorded_answer_even_after_the_article_changed(api: Api) -> None:
    jake = api.register("jake")
    first = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    slug = first.json()["article"]["slug"]
    r = api.client.put(
        f"/api/articles/{slug}", json={"article": {"title": "Renamed"}}, headers=jake.headers
    )
    assert r.json()["article"]["title"] == "Renamed"
    again = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert again.headers[REPLAYED] == "true"
    assert again.content == first.content
    assert again.json()["article"]["title"] == NEW_ARTICLE["article"]["title"]


def test_the_same_body_written_differently_is_the_same_request(
    api: Api, connection: Connection
) -> None:
    """The body is compared as JSON, not as text: key order and spacing do not matter."""
    jake = api.register("jake")
    first = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    fields = NEW_ARTICLE["article"]
    reordered = json.dumps({"article": dict(reversed(list(fields.items())))}, indent=2)
    headers = {**keyed(jake, "k"), "Content-Type": "application/json"}
    again = api.client.post("/api/articles", content=reordered.encode(), headers=headers)
    assert again.headers[REPLAYED] == "true"
    assert again.content == first.content
    assert count(connection, Article) == 1


def test_a_body_with_numbers_beyond_64_bits_is_fingerprinted(api: Api) -> None:
    """Fields the API ignores may hold any JSON, integers of any size too."""
    jake = api.register("jake")
    body = {**NEW_ARTICLE, "client": {"ticket": 10**30}}
    first = api.client.post("/api/articles", json=body, headers=keyed(jake, "k"))
    assert first.status_code == 201, first.text
    again = api.client.post("/api/articles", json=body, headers=keyed(jake, "k"))
    assert again.headers[REPLAYED] == "true"
    changed = {**NEW_ARTICLE, "client": {"ticket": 10**30 + 1}}
    assert_problem(api.client.post("/api/articles", json=changed, headers=keyed(jake, "k")), 422)


def test_a_quoted_key_and_a_bare_one_are_the_same_key(api: Api, connection: Connection) -> None:
    """The draft writes the key as a structured-field string; clients often send it bare."""
    jake = api.register("jake")
    first = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, '"k-1"'))
    assert first.status_code == 201, first.text
    again = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k-1"))
    assert again.headers[REPLAYED] == "true"
    assert again.content == first.content
    escaped = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, r'"a\"b"'))
    assert escaped.status_code == 201, escaped.text
    assert stored_keys(connection) == [('a"b', "done"), ("k-1", "done")]


def test_keys_belong_to_their_user(api: Api, connection: Connection) -> None:
    jake, anna = api.register("jake"), api.register("anna")
    mine = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    hers = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(anna, "k"))
    assert (mine.status_code, hers.status_code) == (201, 201)
    assert REPLAYED not in hers.headers
    assert hers.json()["article"]["author"]["username"] == "anna"
    assert mine.json()["article"]["slug"] != hers.json()["article"]["slug"]
    assert count(connection, Article) == 2


def test_without_the_header_every_post_creates(
    api: Api, connection: Connection, creating: Creating
) -> None:
    jake = api.register("jake")
    before = count(connection, creating.made)
    answers = [creating.post(api, jake, None) for _ in range(2)]
    assert [r.status_code for r in answers] == [201, 201]
    assert all(REPLAYED not in r.headers for r in answers)
    assert answers[0].json() != answers[1].json()
    assert count(connection, creating.made) == before + 2
    assert stored_keys(connection) == []


# --- another request with the key ------------------------------------------------------------


def test_the_key_with_another_body_is_422(
    api: Api, connection: Connection, creating: Creating
) -> None:
    jake = api.register("jake")
    before = count(connection, creating.made)
    assert creating.post(api, jake, "k").status_code == 201
    r = creating.post(api, jake, "k", body="Something else entirely")
    assert_problem(r, 422, KEY)
    assert count(connection, creating.made) == before + 1


def test_the_key_on_another_article_is_422(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    one, other = api.article(jake)["slug"], api.article(jake)["slug"]
    r = api.client.post(f"/api/articles/{one}/comments", json=NEW_COMMENT, headers=keyed(jake, "k"))
    assert r.status_code == 201, r.text
    r = api.client.post(
        f"/api/articles/{other}/comments", json=NEW_COMMENT, headers=keyed(jake, "k")
    )
    assert_problem(r, 422, KEY)
    assert count(connection, Comment) == 1


def test_the_key_on_another_operation_is_422(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    r = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert r.status_code == 201, r.text
    slug = r.json()["article"]["slug"]
    r = api.client.post(
        f"/api/articles/{slug}/comments", json=NEW_COMMENT, headers=keyed(jake, "k")
    )
    assert_problem(r, 422, KEY)
    assert count(connection, Comment) == 0


# --- a duplicate while the first still runs --------------------------------------------------


def _claim_elsewhere(connection: Connection, who: Account, key: str, *, ago: timedelta) -> Any:
    """Another worker claims the key for the request that creates NEW_ARTICLE, `ago` ago."""
    made = plumbing.request_fingerprint("create_article", {"body": NEW_ARTICLE})
    with another_worker(connection) as s:
        claimed = idempotency.claim(
            s, user_id=int(subject(who)), key=key, fingerprint=made, now=utcnow() - ago
        )
        s.commit()
    assert isinstance(claimed, idempotency.Claim)
    return claimed


def test_a_duplicate_while_the_first_runs_is_409_and_then_gets_its_answer(
    api: Api, connection: Connection
) -> None:
    jake = api.register("jake")
    running = _claim_elsewhere(connection, jake, "k", ago=timedelta(seconds=10))
    r = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert_problem(r, 409, KEY)
    assert count(connection, Article) == 0
    # a different request with the key is still the client's mistake, running or not
    r = api.client.post(
        "/api/articles", json={"article": {**NEW_ARTICLE["article"], "body": "Other"}},
        headers=keyed(jake, "k"),
    )  # fmt: skip
    assert_problem(r, 422, KEY)
    # the other worker finishes, and records what it answered
    answered = api.client.post("/api/articles", json=NEW_ARTICLE, headers=jake.headers)
    with another_worker(connection) as s:
        idempotency.record(
            s, user_id=int(subject(jake)), key="k", claim=running, status=201,
            body=answered.content.decode(),
        )  # fmt: skip
        s.commit()
    r = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert r.status_code == 201, r.text
    assert r.headers[REPLAYED] == "true"
    assert r.content == answered.content
    assert count(connection, Article) == 1


def test_an_abandoned_claim_is_taken_over_and_its_owner_can_no_longer_record(
    api: Api, connection: Connection
) -> None:
    """A claim running for longer than any request may (its worker died) is taken over; should
    its worker still finish, it cannot record, so its work is rolled back."""
    jake = api.register("jake")
    abandoned = _claim_elsewhere(connection, jake, "k", ago=timedelta(minutes=5))
    r = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert r.status_code == 201, r.text
    assert REPLAYED not in r.headers
    with another_worker(connection) as s, pytest.raises(Conflict):
        idempotency.record(
            s, user_id=int(subject(jake)), key="k", claim=abandoned, status=201, body="{}"
        )
    again = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert again.headers[REPLAYED] == "true"
    assert again.content == r.content
    assert count(connection, Article) == 1


def test_a_request_that_lost_its_claim_is_rolled_back(
    api: Api, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its claim taken over while it ran (it ran past the lease), a request cannot record its
    answer; what it created goes with it, so the key never stands for two articles."""
    jake = api.register("jake")
    claim = idempotency.claim

    def claimed_then_taken_over(*args: Any, **kwargs: Any) -> Any:
        claimed = claim(*args, **kwargs)
        # a retry takes the claim over, committed with it, while this request has yet to run
        connection.execute(update(IdempotencyKey).values(claim_token="a-retry"))
        return claimed

    monkeypatch.setattr(idempotency, "claim", claimed_then_taken_over)
    r = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert_problem(r, 409, KEY)
    assert count(connection, Article) == 0
    assert stored_keys(connection) == [("k", "running")]  # the retry's, left alone


def test_a_claim_is_abandoned_after_a_minute(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    me, at = int(subject(jake)), utcnow()
    with another_worker(connection) as s:
        idempotency.claim(s, user_id=me, key="k", fingerprint="f", now=at)
        with pytest.raises(Conflict):
            idempotency.claim(
                s, user_id=me, key="k", fingerprint="f", now=at + timedelta(seconds=59)
            )
        later = at + timedelta(seconds=61)
        taken = idempotency.claim(s, user_id=me, key="k", fingerprint="f", now=later)
    assert isinstance(taken, idempotency.Claim)


# --- a failed request lets its key go --------------------------------------------------------


def test_a_failed_request_lets_its_key_go(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    r = api.client.post("/api/articles/no-such-article/comments", json=NEW_COMMENT,
                        headers=keyed(jake, "k"))  # fmt: skip
    assert_problem(r, 404, "article")
    assert stored_keys(connection) == []
    # corrected, the retry with the same key runs: it is not "another request with the key"
    slug = api.article(jake)["slug"]
    r = api.client.post(
        f"/api/articles/{slug}/comments", json=NEW_COMMENT, headers=keyed(jake, "k")
    )
    assert r.status_code == 201, r.text
    assert REPLAYED not in r.headers
    assert stored_keys(connection) == [("k", "done")]


def test_a_request_the_handler_refuses_lets_its_key_go(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    refused = {"article": {**NEW_ARTICLE["article"], "slug": "my-own-slug"}}  # read-only
    r = api.client.post("/api/articles", json=refused, headers=keyed(jake, "k"))
    assert_problem(r, 422, "slug")
    assert (stored_keys(connection), count(connection, Article)) == ([], 0)
    r = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert r.status_code == 201, r.text
    assert count(connection, Article) == 1


@pytest.mark.parametrize(
    "key",
    ["", "two words", "x" * 256, '"', '""', '"unterminated', 'a"b', b"caf\xe9", '"a\\b"'],
    ids=["empty", "space", "too-long", "quote", "empty-string", "unterminated", "inner-quote",
         "latin-1", "bad-escape"],
)  # fmt: skip
def test_a_malformed_key_is_422(
    api: Api, connection: Connection, creating: Creating, key: str | bytes
) -> None:
    jake = api.register("jake")
    before = count(connection, creating.made)
    body = assert_problem(creating.post(api, jake, key), 422, KEY)
    assert list(body["errors"]) == [KEY]
    assert count(connection, creating.made) == before
    assert stored_keys(connection) == []


def test_the_longest_key_is_accepted(api: Api) -> None:
    jake = api.register("jake")
    longest = "~" * 255
    assert (
        api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, longest)).status_code
        == 201
    )
    r = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, longest))
    assert r.headers[REPLAYED] == "true"


def test_a_key_needs_a_token_like_any_create(api: Api) -> None:
    r = api.client.post("/api/articles", json=NEW_ARTICLE, headers={KEY: "k"})
    assert_problem(r, 401, "token")


# --- expiry and purging ----------------------------------------------------------------------


def test_an_expired_key_replays_no_more(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    first = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    # a day goes by
    connection.execute(update(IdempotencyKey).values(expires_at=utcnow() - timedelta(seconds=1)))
    again = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert again.status_code == 201, again.text
    assert REPLAYED not in again.headers
    assert again.json()["article"]["slug"] != first.json()["article"]["slug"]
    assert count(connection, Article) == 2
    # and the key, claimed anew, replays the new answer
    third = api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    assert third.content == again.content


def test_a_key_is_kept_for_24_hours(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    me, at = int(subject(jake)), utcnow()
    with another_worker(connection) as s:
        claimed = idempotency.claim(s, user_id=me, key="k", fingerprint="f", now=at)
        assert isinstance(claimed, idempotency.Claim)
        idempotency.record(s, user_id=me, key="k", claim=claimed, status=201, body='{"a":1}')
        nearly = at + timedelta(hours=23, minutes=59)
        replay = idempotency.claim(s, user_id=me, key="k", fingerprint="f", now=nearly)
        assert replay == idempotency.Replay(201, '{"a":1}')
        assert idempotency.purge(s, now=nearly) == 0
        after = at + timedelta(hours=24, seconds=1)
        assert idempotency.purge(s, now=after) == 1
        s.commit()
    assert stored_keys(connection) == []


def _expired_key(connection: Connection, who: Account, key: str) -> None:
    with another_worker(connection) as s:
        idempotency.claim(s, user_id=int(subject(who)), key=key, fingerprint="f",
                          now=utcnow() - timedelta(hours=25))  # fmt: skip
        s.commit()


def test_claiming_purges_expired_keys_at_most_once_a_minute(
    api: Api, connection: Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    jake, anna = api.register("jake"), api.register("anna")
    _expired_key(connection, anna, "old")
    monkeypatch.setattr(plumbing.PURGE, "next", 0.0)
    api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "new"))
    assert stored_keys(connection) == [("new", "done")]
    _expired_key(connection, anna, "older")
    api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "newer"))
    assert stored_keys(connection) == [("new", "done"), ("newer", "done"), ("older", "running")]


def test_purging_takes_only_what_expired(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    _expired_key(connection, jake, "old")
    _expired_key(connection, jake, "older")
    api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "live"))
    with another_worker(connection) as s:
        assert idempotency.purge(s, now=utcnow(), limit=1) == 1
        assert idempotency.purge(s, now=utcnow()) == 1
        assert idempotency.purge(s, now=utcnow()) == 0
        s.commit()
    assert stored_keys(connection) == [("live", "done")]


def test_keys_go_with_their_user(api: Api, connection: Connection) -> None:
    jake = api.register("jake")
    api.client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
    connection.execute(delete(User).where(User.username == "jake"))
    assert stored_keys(connection) == []


def test_the_purge_command(fresh_database: str, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    with migrated_engine(fresh_database) as engine, Session(engine) as s:
        s.add(User(username="jake", email="jake@example.com", password_hash="x"))
        s.flush()
        me, now = s.scalars(select(User.id)).one(), utcnow()
        for key, at in (("old", now - timedelta(hours=25)), ("new", now)):
            idempotency.claim(s, user_id=me, key=key, fingerprint="f", now=at)
        s.commit()
    monkeypatch.setenv("DATABASE_URL", fresh_database)
    monkeypatch.setenv("SECRET_KEY", SECRET)
    monkeypatch.setenv("CONDUIT_ENV", "production")
    assert main(["purge-idempotency-keys"]) == 0
    assert "purged 1 expired idempotency key" in capsys.readouterr().out
    engine = make_engine(fresh_database)
    with engine.connect() as conn:
        assert [r.key for r in conn.execute(select(IdempotencyKey.key))] == ["new"]
    engine.dispose()


# --- across processes and hosts --------------------------------------------------------------


@contextmanager
def two_instances(url: str) -> Iterator[tuple[Any, Any]]:
    """Two apps on one database, each with its own engine, as two worker processes have."""
    apps = [create_app(app_settings(url)) for _ in range(2)]
    try:
        yield apps[0], apps[1]
    finally:
        for app in apps:
            app.services.engine.dispose()


def test_a_replay_across_two_app_instances_sharing_one_database(fresh_database: str) -> None:
    with migrated_engine(fresh_database) as engine, two_instances(fresh_database) as (one, two):
        with one.test_client() as a, two.test_client() as b:
            jake = Api(a).register("jake")
            first = a.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
            assert first.status_code == 201, first.text
            again = b.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "k"))
            assert again.status_code == 201, again.text
            assert again.headers[REPLAYED] == "true"
            assert again.content == first.content
            # a request running in a third process holds its key against both
            with Session(engine) as s:
                made = plumbing.request_fingerprint("create_article", {"body": NEW_ARTICLE})
                idempotency.claim(s, user_id=int(subject(jake)), key="busy", fingerprint=made,
                                  now=utcnow())  # fmt: skip
                s.commit()
            for client in (a, b):
                r = client.post("/api/articles", json=NEW_ARTICLE, headers=keyed(jake, "busy"))
                assert_problem(r, 409, KEY)
        with engine.connect() as conn:
            assert count(conn, Article) == 1


def _post(base: str, path: str, body: Any, headers: dict[str, str]) -> tuple[int, Any, bytes]:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", **headers},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def test_simultaneous_duplicates_create_one_article(server: str) -> None:
    """Clients sending one request with one key at once, to a real server: one creates, each
    other one gets its answer again or 409; never a second article, never an error."""
    user = {"username": "jake", "email": "jake@example.com", "password": "password1"}
    _, _, raw = _post(server, "/api/users", {"user": user}, {})
    headers = {"Authorization": f"Token {json.loads(raw)['user']['token']}", KEY: "once"}
    start = threading.Barrier(8)
    answers: list[tuple[int, Any, bytes]] = []

    def client() -> None:
        start.wait()
        answers.append(_post(server, "/api/articles", NEW_ARTICLE, headers))

    threads = [threading.Thread(target=client) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(answers) == 8
    created = [body for status, h, body in answers if status == 201 and REPLAYED not in h]
    assert len(created) == 1, answers
    for status, _, body in answers:
        if status == 201:
            assert body == created[0]
        else:
            assert status == 409, body
    with urllib.request.urlopen(f"{server}/api/articles", timeout=10) as r:
        assert json.loads(r.read())["articlesCount"] == 1


# --- browsers --------------------------------------------------------------------------------


def test_browsers_may_send_the_key_and_read_the_replay_header(api: Api) -> None:
    origin = "https://frontend.example"
    r = api.client.options("/api/articles", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    })  # fmt: skip
    assert r.status_code == 200, r.text
    allowed = {h.strip().lower() for h in r.headers["access-control-allow-headers"].split(",")}
    assert "idempotency-key" in allowed
    jake = api.register("jake")
    for _ in range(2):
        r = api.client.post("/api/articles", json=NEW_ARTICLE,
                            headers={**keyed(jake, "k"), "Origin": origin})  # fmt: skip
    assert r.headers[REPLAYED] == "true"
    exposed = {h.strip().lower() for h in r.headers["access-control-expose-headers"].split(",")}
    assert REPLAYED.lower() in exposed
