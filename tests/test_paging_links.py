"""Paging links (RFC 8288) on every list: first, prev, next and last, with the filters kept."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import Connection, update

from db.models import User
from tests.helpers import Account, Api

LINK = re.compile(r'<([^>]*)>; rel="([a-z]+)"')


def _links(response: Any) -> dict[str, dict[str, list[str]]]:
    """rel -> the link's query, checked to be absolute and to the same list."""
    assert response.status_code == 200, response.text
    header = response.headers["Link"]
    found = {}
    for url, rel in LINK.findall(header):
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc) == ("http", "testserver")
        assert parts.path == urlsplit(str(response.url)).path
        found[rel] = parse_qs(parts.query)
    assert len(found) == header.count("rel="), header
    return found


def _offsets(response: Any) -> dict[str, int]:
    return {rel: int(q["offset"][0]) for rel, q in _links(response).items()}


@pytest.fixture
def seven(api: Api) -> Account:
    jake = api.register("jake")
    for _ in range(7):
        api.article(jake, tagList=["dragons"])
    return jake


def test_a_middle_page_has_all_four(api: Api, seven: Account) -> None:
    r = api.client.get("/api/articles?limit=2&offset=2")
    assert _offsets(r) == {"first": 0, "prev": 0, "next": 4, "last": 6}
    assert all(q["limit"] == ["2"] for q in _links(r).values())


def test_the_first_page_has_no_prev_and_the_last_no_next(api: Api, seven: Account) -> None:
    assert _offsets(api.client.get("/api/articles?limit=3")) == {"first": 0, "next": 3, "last": 6}
    assert _offsets(api.client.get("/api/articles?limit=3&offset=6")) == {
        "first": 0, "prev": 3, "last": 6}  # fmt: skip
    # an exact multiple: the last page starts at the last full page
    assert _offsets(api.client.get("/api/articles?limit=7"))["last"] == 0


def test_an_empty_list_and_an_offset_past_the_end(api: Api, seven: Account) -> None:
    assert _offsets(api.client.get("/api/articles?tag=none")) == {"first": 0, "last": 0}
    past = api.client.get("/api/articles?limit=2&offset=20")
    assert past.json()["articles"] == []
    assert _offsets(past) == {"first": 0, "prev": 18, "last": 6}


def test_links_keep_every_filter(api: Api, seven: Account) -> None:
    r = api.client.get("/api/articles?tag=dragons&author=jake&limit=2&offset=2")
    for query in _links(r).values():
        assert (query["tag"], query["author"]) == (["dragons"], ["jake"])
    next_page = _links(r)["next"]
    following = api.client.get("/api/articles", params={k: v[0] for k, v in next_page.items()})
    assert len(following.json()["articles"]) == 2


def test_links_past_the_largest_offset_are_left_out(api: Api, seven: Account) -> None:
    r = api.client.get("/api/articles?limit=100&offset=10000")
    assert "next" not in _offsets(r)
    assert _offsets(r)["prev"] == 9900


def test_the_feed_and_the_admin_lists_have_links(
    api: Api, seven: Account, connection: Connection
) -> None:
    reader = api.register("reader")
    api.follow(reader, seven)
    assert _offsets(api.client.get("/api/articles/feed?limit=5", headers=reader.headers)) == {
        "first": 0, "next": 5, "last": 5}  # fmt: skip
    connection.execute(update(User).where(User.username == "reader").values(role="admin"))
    assert _offsets(api.client.get("/api/admin/users?limit=1", headers=reader.headers)) == {
        "first": 0, "next": 1, "last": 1}  # fmt: skip
    r = api.client.get("/api/admin/users?limit=1&q=rea", headers=reader.headers)
    assert _links(r)["first"]["q"] == ["rea"]
    assert "Link" in api.client.get("/api/admin/audit", headers=reader.headers).headers


def test_browsers_may_read_the_links(client: Any) -> None:
    r = client.get("/api/articles", headers={"Origin": "https://app.example"})
    assert "link" in r.headers["Access-Control-Expose-Headers"].lower()
