"""Errors, malformed requests, body limits and CORS: whatever a client sends, it gets JSON back."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import Connection

from app import create_app
from settings import Settings
from tests.helpers import Account, Api, assert_problem

JSON = {"Content-Type": "application/json"}
NEW_USER = {"user": {"username": "jake", "email": "jake@example.com", "password": "password1"}}
PREFLIGHT_HEADERS = "authorization,content-type,x-requested-with"


def _problem_fields(response: Any) -> dict[str, Any]:
    """Every member RFC 9457 and RealWorld clients read, with its type."""
    body = response.json()
    assert isinstance(body["type"], str)
    assert body["type"]
    assert isinstance(body["title"], str)
    assert body["title"]
    assert isinstance(body["detail"], str)
    assert body["detail"]
    assert body["status"] == response.status_code
    assert isinstance(body["errors"], dict)
    return dict(body)


# --- every error is a problem document -----------------------------------------------------

Case = Callable[[Api, Account, Account, str], Any]

CASES: dict[str, tuple[int, Case]] = {
    "400-malformed": (
        400,
        lambda api, *_: api.client.post("/api/users", content=b"{", headers=JSON),
    ),
    "401-no-token": (401, lambda api, *_: api.client.get("/api/user")),
    "401-bad-login": (
        401,
        lambda api, jake, *_: api.client.post(
            "/api/users/login", json={"user": {"email": jake.email, "password": "wrong-one"}}
        ),
    ),
    "403-not-yours": (
        403,
        lambda api, _jake, alice, slug: api.client.delete(
            f"/api/articles/{slug}", headers=alice.headers
        ),
    ),
    "404-article": (404, lambda api, *_: api.client.get("/api/articles/no-such-slug")),
    "404-profile": (404, lambda api, *_: api.client.get("/api/profiles/nobody")),
    "404-route": (404, lambda api, *_: api.client.get("/api/nope")),
    "405-method": (405, lambda api, *_: api.client.patch("/api/tags")),
    "413-too-large": (
        413,
        lambda api, *_: api.client.post(
            "/api/users", content=b" " * (1024 * 1024 + 1), headers=JSON
        ),
    ),
    "415-media-type": (
        415,
        lambda api, *_: api.client.post(
            "/api/users", content=b"x", headers={"Content-Type": "text/plain"}
        ),
    ),
    "422-invalid": (422, lambda api, *_: api.client.post("/api/users", json={"user": {}})),
    "422-taken": (
        422,
        lambda api, jake, *_: api.client.post(
            "/api/users",
            json={"user": {"username": "x1", "email": jake.email, "password": "password1"}},
        ),
    ),
    "422-query": (422, lambda api, *_: api.client.get("/api/articles?limit=0")),
}


@pytest.mark.parametrize("case", list(CASES))
def test_every_error_is_a_problem_document(api: Api, case: str) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    slug = api.article(jake)["slug"]
    status, send = CASES[case]
    r = send(api, jake, alice, slug)
    assert_problem(r, status)
    _problem_fields(r)


# --- malformed bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [b"{", b'{"user": ', b"{'user': {}}", b'{"user": {}} trailing', b"nope", b'{"a":1,}'],
    ids=["brace", "truncated", "single-quotes", "trailing", "bare-word", "trailing-comma"],
)
def test_malformed_json_is_400(client: Any, raw: bytes) -> None:
    r = client.post("/api/users", content=raw, headers=JSON)
    assert_problem(r, 400, "body")


def test_malformed_json_on_an_authenticated_write_is_400(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.put("/api/user", content=b'{"user": {', headers={**JSON, **jake.headers})
    assert_problem(r, 400, "body")


def test_invalid_utf8_is_400(client: Any) -> None:
    raw = b'{"user": {"username": "j\xff\xfeke", "email": "a@b.c", "password": "password1"}}'
    assert_problem(client.post("/api/users", content=raw, headers=JSON), 400, "body")


def test_a_5000_digit_integer_is_a_client_error(client: Any) -> None:
    raw = b'{"user": {"username": "jake", "email": "a@b.c", "password": ' + b"7" * 5000 + b"}}"
    r = client.post("/api/users", content=raw, headers=JSON)
    assert r.status_code in (400, 422), r.text
    assert_problem(r, r.status_code)


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100000,
        b"[" * 100000 + b"]" * 100000,
        b'{"a":' * 50000 + b"1" + b"}" * 50000,
        b'{"user": ' + b"[" * 100000 + b"]" * 100000 + b"}",
    ],
    ids=["open-arrays", "closed-arrays", "objects", "inside-envelope"],
)
def test_deeply_nested_json_is_a_client_error(client: Any, raw: bytes) -> None:
    r = client.post("/api/users", content=raw, headers=JSON)
    assert 400 <= r.status_code < 500, r.text
    assert_problem(r, r.status_code)


# --- what a body must be -------------------------------------------------------------------


def test_missing_body_is_422(client: Any) -> None:
    assert_problem(client.post("/api/users", headers=JSON), 422, "body")


def test_whitespace_only_body_is_422(client: Any) -> None:
    assert_problem(client.post("/api/users", content=b"  \n ", headers=JSON), 422, "body")


def test_missing_body_on_an_authenticated_write_is_422(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.post("/api/articles", headers={**JSON, **jake.headers})
    assert_problem(r, 422, "body")


@pytest.mark.parametrize(
    "raw",
    [b"[]", b'[{"user": {}}]', b'"user"', b"null", b"42", b"true", b"{}"],
    ids=["array", "array-of-envelope", "string", "null", "number", "boolean", "empty-object"],
)
def test_body_that_is_not_the_envelope_is_422(client: Any, raw: bytes) -> None:
    assert_problem(client.post("/api/users", content=raw, headers=JSON), 422)


@pytest.mark.parametrize("value", ["x", 1, None, [], True])
def test_envelope_that_is_not_an_object_is_422(client: Any, value: Any) -> None:
    assert_problem(client.post("/api/users", json={"user": value}), 422, "user")


def test_unknown_fields_are_ignored_on_register_and_login(client: Any) -> None:
    r = client.post(
        "/api/users",
        json={
            "user": {**NEW_USER["user"], "nickname": "jj", "bio": "x"},
            "extra": {"anything": True},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["user"]["username"] == "jake"
    r = client.post(
        "/api/users/login",
        json={"user": {"email": "jake@example.com", "password": "password1", "remember": True}},
    )
    assert r.status_code == 200, r.text


def test_the_whole_current_user_can_be_sent_back(api: Api) -> None:
    """Frontends send the user object back as they got it, token included."""
    jake = api.register("jake")
    me = api.client.get("/api/user", headers=jake.headers).json()["user"]
    r = api.client.put("/api/user", json={"user": {**me, "bio": "new bio"}}, headers=jake.headers)
    assert r.status_code == 200, r.text
    assert r.json()["user"]["bio"] == "new bio"
    assert r.json()["user"]["username"] == "jake"


def test_unknown_fields_are_ignored_on_articles_and_comments(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.post(
        "/api/articles",
        json={
            "article": {
                "title": "Dragons",
                "description": "d",
                "body": "b",
                "draft": True,
            }
        },
        headers=jake.headers,
    )
    assert r.status_code == 201, r.text
    article = r.json()["article"]
    assert "draft" not in article
    r = api.client.put(
        f"/api/articles/{article['slug']}",
        json={"article": {"body": "new", "coauthor": {"username": "alice"}}},
        headers=jake.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["article"]["author"]["username"] == "jake"


# --- content types -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "raw"),
    [
        ("text/plain", b'{"user": {}}'),
        ("application/x-www-form-urlencoded", b"username=jake&email=a%40b.c&password=password1"),
        ("multipart/form-data; boundary=x", b"--x--\r\n"),
        ("application/xml", b"<user/>"),
    ],
    ids=["text", "form", "multipart", "xml"],
)
def test_wrong_content_type_is_415(client: Any, content_type: str, raw: bytes) -> None:
    r = client.post("/api/users", content=raw, headers={"Content-Type": content_type})
    assert assert_problem(r, 415, "body")["errors"]["body"] == ["must be application/json"]


def test_json_with_a_charset_is_accepted(client: Any) -> None:
    r = client.post(
        "/api/users",
        content=b'{"user": {"username": "jake", "email": "a@b.c", "password": "password1"}}',
        headers={"Content-Type": "application/json; charset=utf-8"},
    )
    assert r.status_code == 201, r.text


# --- bodies where none is defined ----------------------------------------------------------


def test_a_body_on_get_is_ignored(api: Api) -> None:
    jake = api.register("jake")
    headers = {**JSON, **jake.headers, "X-Requested-With": "XMLHttpRequest"}
    for raw in (b'{"user": {"username": "other"}}', b"{not json", b""):
        r = api.client.request("GET", "/api/user", content=raw, headers=headers)
        assert r.status_code == 200, r.text
        assert r.json()["user"]["username"] == "jake"
        r = api.client.request("GET", "/api/tags", content=raw, headers=JSON)
        assert r.status_code == 200, r.text


def test_a_body_on_delete_is_ignored(api: Api) -> None:
    jake = api.register("jake")
    alice = api.register("alice")
    api.follow(alice, jake)
    headers = {**JSON, **alice.headers, "X-Requested-With": "XMLHttpRequest"}
    r = api.client.request(
        "DELETE", "/api/profiles/jake/follow", content=b'{"profile": 1}', headers=headers
    )
    assert r.status_code == 200, r.text
    assert r.json()["profile"]["following"] is False

    slug = api.article(jake)["slug"]
    comment = api.comment(jake, slug)
    jake_headers = {**JSON, **jake.headers, "X-Requested-With": "XMLHttpRequest"}
    r = api.client.request(
        "DELETE",
        f"/api/articles/{slug}/comments/{comment['id']}",
        content=b"{not json",
        headers=jake_headers,
    )
    assert r.status_code == 204, r.text
    r = api.client.request(
        "DELETE", f"/api/articles/{slug}", content=b'{"article": {}}', headers=jake_headers
    )
    assert r.status_code == 204, r.text
    assert_problem(api.client.get(f"/api/articles/{slug}"), 404)


# --- body size -----------------------------------------------------------------------------


def _padded(size: int) -> bytes:
    """A valid update-user body of exactly `size` bytes, padded in an ignored field."""
    head, tail = b'{"user": {"bio": "x", "pad": "', b'"}}'
    return head + b"p" * (size - len(head) - len(tail)) + tail


def test_body_over_the_limit_is_413(api: Api, settings: Settings) -> None:
    jake = api.register("jake")
    raw = _padded(settings.max_body_bytes + 1)
    r = api.client.put("/api/user", content=raw, headers={**JSON, **jake.headers})
    assert_problem(r, 413, "body")
    # nothing was applied
    assert api.client.get("/api/user", headers=jake.headers).json()["user"]["bio"] is None


def test_body_at_the_limit_is_accepted(api: Api, settings: Settings) -> None:
    jake = api.register("jake")
    raw = _padded(settings.max_body_bytes)
    assert len(raw) == settings.max_body_bytes == 1024 * 1024
    r = api.client.put("/api/user", content=raw, headers={**JSON, **jake.headers})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["bio"] == "x"


def test_chunked_body_over_the_limit_is_413(api: Api, settings: Settings) -> None:
    jake = api.register("jake")
    raw = _padded(settings.max_body_bytes * 2)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 64 * 1024):
            yield raw[start : start + 64 * 1024]

    r = api.client.put("/api/user", content=chunks(), headers={**JSON, **jake.headers})
    assert "content-length" not in {k.lower() for k in r.request.headers}
    assert_problem(r, 413, "body")
    assert api.client.get("/api/user", headers=jake.headers).json()["user"]["bio"] is None


def test_chunked_body_under_the_limit_is_accepted(api: Api) -> None:
    jake = api.register("jake")
    raw = _padded(200 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(raw), 16 * 1024):
            yield raw[start : start + 16 * 1024]

    r = api.client.put("/api/user", content=chunks(), headers={**JSON, **jake.headers})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["bio"] == "x"


def test_oversized_content_length_on_register_is_413(client: Any, settings: Settings) -> None:
    raw = b'{"user": {"username": "jake", "email": "a@b.c", "password": "'
    raw += b"p" * settings.max_body_bytes + b'"}}'
    assert_problem(client.post("/api/users", content=raw, headers=JSON), 413, "body")


# --- routing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/api/nope", "/api/articles/x/y/z", "/api/users/login/extra", "/nope", "/"]
)
def test_unknown_path_is_a_404_problem(client: Any, path: str) -> None:
    r = client.get(path)
    assert_problem(r, 404)
    assert "<html" not in r.text.lower()


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PATCH", "/api/tags"),
        ("POST", "/api/tags"),
        ("DELETE", "/api/user"),
        ("PATCH", "/api/articles"),
        ("DELETE", "/api/users/login"),
        ("GET", "/api/users"),
    ],
)
def test_wrong_method_is_a_405_problem(client: Any, method: str, path: str) -> None:
    r = client.request(method, path)
    assert_problem(r, 405)
    assert "<html" not in r.text.lower()


# --- query parameters ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=99999999999999999999999", "limit"),
        ("offset=99999999999999999999999", "offset"),
        ("limit=abc", "limit"),
        ("limit=1.5", "limit"),
        ("limit=", "limit"),
        ("limit=0", "limit"),
        ("limit=-1", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
        ("offset=abc", "offset"),
    ],
)
def test_bad_paging_is_422(client: Any, query: str, field: str) -> None:
    assert_problem(client.get(f"/api/articles?{query}"), 422, field)


def test_bad_paging_on_the_feed_is_422(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.get("/api/articles/feed?limit=abc&offset=-5", headers=jake.headers)
    body = assert_problem(r, 422)
    assert {"limit", "offset"} <= set(body["errors"])


def test_paging_limits_are_inclusive(client: Any) -> None:
    for query in ("limit=1", "limit=100", "offset=0", "offset=10000"):
        r = client.get(f"/api/articles?{query}")
        assert r.status_code == 200, (query, r.text)


# --- CORS ----------------------------------------------------------------------------------


def _allowed_headers(response: Any) -> set[str]:
    raw = response.headers.get("access-control-allow-headers", "")
    return {h.strip().lower() for h in raw.split(",") if h.strip()}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/api/users", "POST"),
        ("/api/users/login", "POST"),
        ("/api/user", "PUT"),
        ("/api/user", "GET"),
        ("/api/articles", "GET"),
        ("/api/articles/some-slug", "DELETE"),
        ("/api/articles/some-slug/comments/1", "DELETE"),
        ("/api/profiles/jake/follow", "POST"),
        ("/api/tags", "GET"),
    ],
)
def test_cors_preflight_succeeds(client: Any, path: str, method: str) -> None:
    origin = "https://frontend.example"
    r = client.options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": PREFLIGHT_HEADERS,
        },
    )
    assert r.status_code == 200, r.text
    assert r.headers.get("access-control-allow-origin") in ("*", origin)
    assert {"authorization", "content-type", "x-requested-with"} <= _allowed_headers(r)
    allowed_methods = r.headers.get("access-control-allow-methods", "")
    assert method in {m.strip().upper() for m in allowed_methods.split(",")}


def test_cors_headers_on_normal_responses(api: Api) -> None:
    origin = "https://frontend.example"
    jake = api.register("jake")
    for r in (
        api.client.get("/api/tags", headers={"Origin": origin}),
        api.client.get("/api/user", headers={"Origin": origin, **jake.headers}),
        api.client.post("/api/users", json=NEW_USER, headers={"Origin": origin}),
    ):
        assert r.status_code in (200, 201, 422), r.text
        assert r.headers.get("access-control-allow-origin") in ("*", origin)


def test_cors_headers_on_error_responses(client: Any) -> None:
    """A browser can only read an error the response allows it to read."""
    origin = "https://frontend.example"
    for r in (
        client.get("/api/user", headers={"Origin": origin}),
        client.get("/api/articles/no-such-slug", headers={"Origin": origin}),
        client.post("/api/users", json={"user": {}}, headers={"Origin": origin}),
        client.post("/api/users", content=b"{", headers={**JSON, "Origin": origin}),
    ):
        assert r.status_code >= 400
        assert r.headers.get("access-control-allow-origin") in ("*", origin), r.status_code


@pytest.fixture
def narrow_client(settings: Settings, connection: Connection) -> Iterator[Any]:
    app = create_app(replace(settings, cors_origins=("https://good.example",)), bind=connection)
    with app.test_client() as c:
        yield c


def _preflight(client: Any, origin: str) -> Any:
    return client.options(
        "/api/articles",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": PREFLIGHT_HEADERS,
        },
    )


def test_cors_origins_allows_a_listed_origin(narrow_client: Any) -> None:
    r = _preflight(narrow_client, "https://good.example")
    assert r.status_code == 200
    assert r.headers.get("access-control-allow-origin") == "https://good.example"
    assert {"authorization", "content-type", "x-requested-with"} <= _allowed_headers(r)
    r = narrow_client.get("/api/tags", headers={"Origin": "https://good.example"})
    assert r.status_code == 200
    assert r.headers.get("access-control-allow-origin") == "https://good.example"


@pytest.mark.parametrize(
    "origin", ["https://evil.example", "http://good.example", "https://good.example.evil.com"]
)
def test_cors_origins_refuses_other_origins(narrow_client: Any, origin: str) -> None:
    r = _preflight(narrow_client, origin)
    assert_problem(r, 400, "cors")
    assert r.headers.get("access-control-allow-origin") not in ("*", origin)
    r = narrow_client.get("/api/tags", headers={"Origin": origin})
    assert r.status_code == 200  # the server answers; the browser withholds it
    assert r.headers.get("access-control-allow-origin") not in ("*", origin)
