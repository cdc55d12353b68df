"""OWASP API4:2023 unrestricted resource consumption: nothing a client sends is unbounded,
neither in size, nor in time, nor in number.

The single caps (each paging parameter, the body limit with and without Content-Length) are
tested one by one in tests/test_errors.py and the rate limits in tests/test_rate_limits.py.
Here: every input the spec declares is capped, each kind of cap holds on a real request, no
pattern takes more than linear time, and a body that is slow or never ends times out.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Connection

from app import create_app
from settings import Settings
from tests.helpers import SPEC, Api, assert_problem
from tests.live import serving


def node_path(ref: str) -> list[str]:
    return ref.removeprefix("#/").split("/")


def deref(node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        target: Any = SPEC
        for part in node_path(node["$ref"]):
            target = target[part]
        node = target
    return node


def _inputs() -> Iterator[tuple[str, dict[str, Any]]]:
    """Every schema a client fills in: parameters and request bodies, walked to the leaves."""

    def walk(where: str, schema: Any) -> Iterator[tuple[str, dict[str, Any]]]:
        schema = deref(schema)
        if schema.get("readOnly"):
            return
        yield where, schema
        for name, prop in schema.get("properties", {}).items():
            yield from walk(f"{where}.{name}", prop)
        if "items" in schema:
            yield from walk(f"{where}[]", schema["items"])

    for path, item in SPEC["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            at = f"{method.upper()} {path}"
            for param in [*item.get("parameters", []), *op.get("parameters", [])]:
                param = deref(param)
                yield from walk(f"{at} {param['in']} {param['name']}", param["schema"])
            for media in deref(op.get("requestBody", {})).get("content", {}).values():
                yield from walk(f"{at} body", media["schema"])


def test_api4_every_input_the_spec_declares_is_capped() -> None:
    uncapped = []
    for where, schema in _inputs():
        kind = schema.get("type")
        if "enum" in schema:
            continue
        if kind == "string" and "maxLength" not in schema:
            uncapped.append(f"{where}: no maxLength")
        if kind == "array" and "maxItems" not in schema:
            uncapped.append(f"{where}: no maxItems")
        if kind == "integer" and "maximum" not in schema:
            uncapped.append(f"{where}: no maximum")
        if kind == "object" and schema.get("additionalProperties") not in (None, False):
            uncapped.append(f"{where}: takes any number of properties")
    assert uncapped == []
    assert len(list(_inputs())) > 50  # the walk reached the schemas


def test_api4_paging_is_capped(api: Api) -> None:
    for query, field in (("limit=101", "limit"), ("offset=10001", "offset")):
        assert_problem(api.client.get(f"/api/articles?{query}"), 422, field)


def test_api4_string_length_is_capped(api: Api) -> None:
    jake = api.register()
    article = {"title": "t" * 201, "description": "d", "body": "b"}
    r = api.client.post("/api/articles", json={"article": article}, headers=jake.headers)
    assert_problem(r, 422, "title")


def test_api4_the_number_of_tags_is_capped(api: Api) -> None:
    jake = api.register()
    article = {
        "title": "t",
        "description": "d",
        "body": "b",
        "tagList": [f"t{n}" for n in range(11)],
    }
    r = api.client.post("/api/articles", json={"article": article}, headers=jake.headers)
    assert_problem(r, 422, "tagList")


def test_api4_the_body_size_is_capped(api: Api, settings: Settings) -> None:
    jake = api.register()
    article = {"title": "t", "description": "d", "body": "b" * settings.max_body_bytes}
    r = api.client.post("/api/articles", json={"article": article}, headers=jake.headers)
    assert_problem(r, 413, "body")


def _patterns() -> list[str]:
    found: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("pattern"), str):
                found.add(node["pattern"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(SPEC)
    return sorted(found)


# what a backtracking pattern chokes on: a long run of one character that the pattern's
# repetitions all accept, then one that makes the match fail at the very end
RUNS = ["a", " ", "\u200b", ".", "-", "0", "x@", "\t", "\n"]
ENDINGS = ["!", "\x00", "\x01", " ", "\n", "@", '"', "\u2028"]


@pytest.mark.parametrize("pattern", _patterns())
def test_api4_no_pattern_backtracks_for_longer_than_linear_time(pattern: str) -> None:
    """The validator matches on the event loop, where a quadratic pattern stops the whole
    process: `^[^\\x00]*[^ ][^\\x00]*$`, the blank rule these patterns had, took 11 s for
    a 50 000-character body ending in NUL, and the username pattern as long for 80 000
    characters. A string up to the body limit is matched in well under a second here."""
    compiled = re.compile(pattern)
    slowest = 0.0
    for run in RUNS:
        for ending in ENDINGS:
            text = run * (100_000 // len(run)) + ending
            started = time.perf_counter()
            compiled.search(text)
            slowest = max(slowest, time.perf_counter() - started)
    # linear is a few milliseconds; quadratic, 100 000 characters take minutes
    assert slowest < 1.0, (pattern, slowest)


def test_api4_the_patterns_checked_include_every_text_rule() -> None:
    found = _patterns()
    assert len(found) >= 8
    assert any("\\u200b" in p for p in found)  # the blank rule
    assert any("A-Za-z0-9_" in p for p in found)  # usernames


# --- slow and endless bodies, against a real server -----------------------------------------

TIMEOUT = 2


@pytest.fixture(scope="module")
def slow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("api4")
    env = {
        "CONDUIT_ENV": "development",
        "DATABASE_URL": f"sqlite:///{workdir / 'api4.db'}",
        "REDIS_URL": "",
        "BODY_TIMEOUT_SECONDS": str(TIMEOUT),
        "LOG_FORMAT": "json",
    }
    with serving([sys.executable, "-m", "cli", "run"], env, workdir) as base:
        yield base


def _exchange(base: str, head: bytes, parts: list[bytes], pause: float) -> tuple[float, bytes]:
    """Send the request head, then each part after `pause` seconds; read until the server
    closes the connection. Returns how long that took and what came back."""
    host, port = base.removeprefix("http://").split(":")
    started = time.monotonic()
    with socket.create_connection((host, int(port)), timeout=TIMEOUT * 5) as conn:
        conn.sendall(head)
        for part in parts:
            time.sleep(pause)
            try:
                conn.sendall(part)
            except OSError:  # closed on us: the answer is already there
                break
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
        return time.monotonic() - started, answer


def _head(length: int | None, *, close: bool = False) -> bytes:
    """A registration's request head; `close` asks for the connection to close after the
    answer (the timeouts must close it without being asked)."""
    sized = f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    closing = "Connection: close\r\n" if close else ""
    return (
        "POST /api/users HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
        f"{closing}{sized}\r\n\r\n"
    ).encode()


def _assert_timed_out(took: float, answer: bytes) -> None:
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line == b"HTTP/1.1 408 Request Timeout", answer[:300]
    assert b"application/problem+json" in rest
    assert b'"body":["took too long to arrive"]' in rest
    assert b"\r\nconnection: close\r\n" in rest.lower()
    # answered at the deadline, and the connection closed right after (uvicorn alone would
    # keep it open for its keep-alive time, 5 s, reading what is left as more body)
    assert TIMEOUT <= took < TIMEOUT + 3, took


def test_api4_a_body_shorter_than_announced_times_out_with_408(slow_server: str) -> None:
    took, answer = _exchange(slow_server, _head(100), [b'{"user": {'], pause=0)
    _assert_timed_out(took, answer)


def test_api4_a_body_trickled_byte_by_byte_times_out_with_408(slow_server: str) -> None:
    body = b'{"user": {"username": "slowloris", "email": "s@example.com", "password": "pw123456"}}'
    parts = [body[i : i + 1] for i in range(len(body))]
    took, answer = _exchange(slow_server, _head(len(body)), parts, pause=0.25)
    _assert_timed_out(took, answer)


def test_api4_a_chunked_body_that_never_ends_times_out_with_408(slow_server: str) -> None:
    chunks = [b"1\r\n{\r\n", b"1\r\n \r\n", b"1\r\n \r\n"]  # and never the last chunk
    took, answer = _exchange(slow_server, _head(None), chunks, pause=0.1)
    _assert_timed_out(took, answer)


def test_api4_a_body_that_arrives_in_time_is_served(slow_server: str) -> None:
    body = b'{"user": {"username": "patient", "email": "p@example.com", "password": "pw123456"}}'
    half = len(body) // 2
    parts = [body[:half], body[half:]]
    _took, answer = _exchange(slow_server, _head(len(body), close=True), parts, 0.5)
    assert answer.startswith(b"HTTP/1.1 201 Created"), answer[:300]


def test_api4_requests_beyond_the_rate_limit_are_429_with_retry_after(
    settings: Settings, connection: Connection
) -> None:
    """Each rate limit in depth is tests/test_rate_limits.py's; here, that one exists and bites."""
    limited = replace(settings, rate_limit_default="3/minute", redis_url="")
    with create_app(limited, bind=connection).test_client() as client:
        answers = [client.get("/api/tags") for _ in range(4)]
    assert [r.status_code for r in answers] == [200, 200, 200, 429]
    assert_problem(answers[-1], 429)
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
