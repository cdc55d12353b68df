"""What operators rely on: request ids, one JSON line per request, health, readiness, metrics,
and the security headers on every answer."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from html.parser import HTMLParser
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app import create_app
from settings import Settings
from shell import observability
from tests.helpers import Account, Api, assert_problem, subject

GENERATED_ID = re.compile(r"[0-9a-f]{32}")


@contextmanager
def own_app(settings: Settings) -> Iterator[Any]:
    """A client of an app with its own engine and pool (not the test's connection)."""
    app = create_app(settings)
    try:
        with app.test_client() as c:
            yield c
    finally:
        app.services.engine.dispose()


class LogLines:
    """What the app logs while this is installed, as parsed JSON lines."""

    def __init__(self) -> None:
        self.stream = io.StringIO()

    def __call__(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stream.getvalue().splitlines()]


@pytest.fixture
def log_lines(app: Any) -> Iterator[LogLines]:
    """Requested after the app, whose building sets up logging to stdout."""
    lines = LogLines()
    observability.configure_logging("json", "INFO", stream=lines.stream)
    yield lines
    observability.configure_logging("json", "INFO")


# --- request ids -----------------------------------------------------------------------------


def test_a_sane_request_id_is_echoed_on_every_kind_of_answer(client: Any, api: Api) -> None:
    jake = api.register("jake")
    answers = [
        client.get("/api/tags", headers={"X-Request-ID": "req-1"}),
        client.get("/api/nowhere", headers={"X-Request-ID": "req-2"}),  # 404, no operation
        client.get("/api/user", headers={"X-Request-ID": "req-3"}),  # 401
        client.get("/api/articles?limit=-1", headers={"X-Request-ID": "req-4"}),  # 422
        client.delete("/api/tags", headers={"X-Request-ID": "req-5"}),  # 405
        client.get("/healthz", headers={"X-Request-ID": "req-6"}),
        client.get("/api/ui/", headers={"X-Request-ID": "req-7"}),
        client.get("/api/user", headers={**jake.headers, "X-Request-ID": "req-8"}),
    ]
    assert [r.status_code for r in answers] == [200, 404, 401, 422, 405, 200, 200, 200]
    for n, r in enumerate(answers, 1):
        assert r.headers["X-Request-ID"] == f"req-{n}"


@pytest.mark.parametrize(
    "sent",
    ["x" * 129, "has space", "tab\there", "", "ümlaut"],
    ids=["too-long", "space", "control", "empty", "not-ascii"],
)
def test_an_unusable_request_id_is_replaced_by_a_generated_one(client: Any, sent: str) -> None:
    r = client.get("/api/tags", headers={"X-Request-ID": sent.encode("latin-1")})
    assert GENERATED_ID.fullmatch(r.headers["X-Request-ID"])


def test_without_one_each_request_gets_its_own_id(client: Any) -> None:
    ids = {client.get("/api/tags").headers["X-Request-ID"] for _ in range(3)}
    assert len(ids) == 3
    assert all(GENERATED_ID.fullmatch(i) for i in ids)
    # the longest sane id is kept as it is
    longest = "A" * 128
    assert client.get("/api/tags", headers={"X-Request-ID": longest}).headers["X-Request-ID"] == (
        longest
    )


# --- the access log --------------------------------------------------------------------------


def test_one_json_line_per_request_with_what_an_operator_needs(
    client: Any, api: Api, log_lines: LogLines
) -> None:
    jake = api.register("jake")
    slug = api.article(jake, title="Dragons")["slug"]
    client.get(f"/api/articles/{slug}", headers={**jake.headers, "X-Request-ID": "trace-me"})
    client.get("/api/nowhere", headers={"X-Request-ID": "lost"})
    access = [line for line in log_lines() if line["logger"] == "conduit.access"]
    mine = [line for line in access if line["request_id"] == "trace-me"]
    assert len(mine) == 1
    line = mine[0]
    assert line["method"] == "GET"
    assert line["path"] == "/api/articles/{slug}"  # the template: no user data to index on
    assert line["operation"] == "get_article"
    assert line["status"] == 200
    assert isinstance(line["duration_ms"], float)
    assert 0 < line["duration_ms"] < 60_000
    assert line["user_id"] == int(subject(jake))
    assert line["client"] == "testclient"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00", line["time"])
    lost = [line for line in access if line["request_id"] == "lost"]
    assert [(x["status"], x["operation"], x["path"]) for x in lost] == [(404, None, None)]


def test_every_line_logged_while_serving_a_request_carries_its_id(
    app: Any, client: Any, log_lines: LogLines
) -> None:
    def note() -> None:  # on the handler's thread, as any handler's own logging would be
        logging.getLogger("conduit.test").warning("inside the handler")

    app.flask.before_request(note)
    client.get("/api/tags", headers={"X-Request-ID": "with-note"})
    client.get("/api/tags", headers={"X-Request-ID": "another"})
    notes = [line for line in log_lines() if line["logger"] == "conduit.test"]
    assert [line["request_id"] for line in notes] == ["with-note", "another"]


def test_the_access_log_can_be_switched_off(
    settings: Settings, connection: Any, database_url: str
) -> None:
    from dataclasses import replace

    quiet = create_app(replace(settings, access_log=False), bind=connection)
    stream = io.StringIO()
    observability.configure_logging("json", "INFO", stream=stream)
    try:
        with quiet.test_client() as c:
            assert c.get("/api/tags").status_code == 200
    finally:
        observability.configure_logging("json", "INFO")
    assert "conduit.access" not in stream.getvalue()


def test_text_logs_for_a_terminal_still_carry_the_request_id(client: Any) -> None:
    stream = io.StringIO()
    observability.configure_logging("text", "INFO", stream=stream)
    try:
        client.get("/api/tags", headers={"X-Request-ID": "plain"})
    finally:
        observability.configure_logging("json", "INFO")
    assert re.search(r"INFO conduit\.access \[plain\] GET /api/tags 200", stream.getvalue())


# --- health, readiness, metrics --------------------------------------------------------------


def test_healthz_answers_without_touching_anything(client: Any) -> None:
    r = client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})
    assert r.headers["Cache-Control"] == "no-store"


def test_readyz_checks_the_database(client: Any) -> None:
    r = client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready"})


def test_readyz_is_503_with_a_problem_when_the_database_is_unreachable(
    settings: Settings,
) -> None:
    from dataclasses import replace

    nowhere = replace(settings, database_url="postgresql+psycopg://127.0.0.1:9/nowhere")
    with own_app(nowhere) as c:
        r = c.get("/readyz")
        assert_problem(r, 503, "database")
        assert r.headers["Retry-After"] == "5"
        # alive all the same: it is up to the platform to wait or restart
        assert c.get("/healthz").status_code == 200


def test_platform_endpoints_only_read(client: Any) -> None:
    for path in ("/healthz", "/readyz", "/metrics"):
        r = client.post(path)
        assert_problem(r, 405)
        assert r.headers["Allow"] == "GET, HEAD"
        head = client.head(path)
        assert (head.status_code, head.content) == (200, b"")


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(client: Any) -> tuple[set[str], Samples]:
    """The metric families named, and every sample by name and labels."""
    r = client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    families, samples = set(), {}
    for family in text_string_to_metric_families(r.text):
        families.add(family.name)
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return families, samples


def _samples(client: Any) -> Samples:
    return _scrape(client)[1]


def _requests(samples: Samples) -> float:
    return sum(v for (name, _), v in samples.items() if name == "conduit_requests_total")


def test_metrics_count_requests_by_operation_and_status_and_time_them(client: Any) -> None:
    ok = ("conduit_requests_total", (("operation", "list_tags"), ("status", "200")))
    missing = ("conduit_requests_total", (("operation", "get_profile"), ("status", "404")))
    timed = ("conduit_request_duration_seconds_count", (("operation", "list_tags"),))
    before = _samples(client)
    for _ in range(3):
        client.get("/api/tags")
    client.get("/api/profiles/nobody")
    after = _samples(client)
    assert after[ok] - before.get(ok, 0) == 3
    assert after[missing] - before.get(missing, 0) == 1
    assert after[timed] - before.get(timed, 0) == 3
    assert _requests(after) - _requests(before) == 4


def test_platform_requests_are_not_counted_as_api_traffic(client: Any) -> None:
    before = _samples(client)
    for path in ("/healthz", "/readyz", "/metrics"):
        client.get(path)
    assert _requests(_samples(client)) == _requests(before)


def test_metrics_name_the_pool_and_the_rate_limits(client: Any) -> None:
    families, _ = _scrape(client)
    assert {
        "conduit_db_pool_connections_in_use",
        "conduit_rate_limit_rejections",
        "conduit_rate_limit_storage_errors",
        "conduit_request_duration_seconds",
    } <= families


def test_the_pool_gauge_counts_connections_checked_out(settings: Settings, engine: Any) -> None:
    gauge = ("conduit_db_pool_connections_in_use", ())
    with own_app(settings) as c:
        before = _samples(c)[gauge]
        assert c.get("/api/tags").status_code == 200
        # every connection went back to the pool once the answer was made
        assert _samples(c)[gauge] == before


# --- security headers ------------------------------------------------------------------------


def test_every_answer_carries_the_security_headers(client: Any, api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    answers = {
        "json": client.get("/api/tags"),
        "problem": client.get("/api/user"),
        "not found": client.get("/api/nowhere"),
        "no content": client.delete(f"/api/articles/{slug}", headers=jake.headers),
        "spec": client.get("/api/openapi.json"),
        "health": client.get("/healthz"),
        "page": client.get("/api/ui/"),
    }
    for kind, r in answers.items():
        assert r.headers["X-Content-Type-Options"] == "nosniff", kind
        assert r.headers["Referrer-Policy"] == "no-referrer", kind
        assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"], kind
    for kind in ("json", "problem", "not found", "no content", "spec", "health"):
        policy = answers[kind].headers["Content-Security-Policy"]
        assert policy == "default-src 'none'; frame-ancestors 'none'", kind


class _InlineBlocks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.blocks: list[tuple[str, str]] = []
        self._open: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._open = tag if tag in ("script", "style") and not dict(attrs).get("src") else None

    def handle_data(self, data: str) -> None:
        if self._open:
            self.blocks.append((self._open, data))

    def handle_endtag(self, _tag: str) -> None:
        self._open = None


def test_swagger_ui_may_run_exactly_its_own_inline_blocks(client: Any) -> None:
    r = client.get("/api/ui/")
    policy = dict(
        [*part.split(" ", 1), ""][:2] for part in r.headers["Content-Security-Policy"].split("; ")
    )
    parser = _InlineBlocks()
    parser.feed(r.text)
    assert {kind for kind, _ in parser.blocks} == {"script", "style"}
    for kind, content in parser.blocks:
        digest = base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy[f"{kind}-src"].split(), kind
    assert "'unsafe-inline'" not in r.headers["Content-Security-Policy"]
    assert policy["default-src"] == "'self'"


def test_answers_that_carry_a_token_are_never_stored(client: Any, api: Api) -> None:
    jake: Account = api.register("jake")
    answers = [
        client.post(
            "/api/users",
            json={
                "user": {"username": "anne", "email": "anne@example.com", "password": "pw123456"}
            },
        ),
        client.post(
            "/api/users/login",
            json={"user": {"email": jake.email, "password": jake.password}},
        ),
        client.get("/api/user", headers=jake.headers),
        client.put("/api/user", json={"user": {"bio": "hi"}}, headers=jake.headers),
        client.post(
            "/api/auth/token",
            data={"grant_type": "password", "username": jake.email, "password": jake.password},
        ),
    ]
    for r in answers:
        assert r.status_code in (200, 201), r.text
        assert r.headers["Cache-Control"] == "no-store", r.url


def test_metrics_can_be_switched_off(settings: Settings, connection: Any) -> None:
    from dataclasses import replace

    counted = ("conduit_requests_total", (("operation", "list_tags"), ("status", "200")))
    with create_app(settings, bind=connection).test_client() as on:
        before = _samples(on).get(counted, 0)
        with create_app(replace(settings, metrics=False), bind=connection).test_client() as off:
            assert off.get("/api/tags").status_code == 200
        assert _samples(on).get(counted, 0) == before
        on.get("/api/tags")
        assert _samples(on)[counted] == before + 1


def test_readyz_checks_redis_when_the_rate_limits_use_it(settings: Settings, engine: Any) -> None:
    from dataclasses import replace

    with own_app(replace(settings, redis_url="redis://127.0.0.1:6379/0")) as c:
        assert c.get("/readyz").status_code == 200
    with own_app(replace(settings, redis_url="redis://127.0.0.1:9/0")) as c:
        r = c.get("/readyz")
        assert_problem(r, 503, "redis")
        assert "database" not in r.json()["errors"]
