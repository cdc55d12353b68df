"""Cursor (keyset) paging on the article lists: `nextCursor` on every page, `cursor` for the page
after, stable under inserts and deletes, and bound to its list (shell/paging.py)."""

from __future__ import annotations

import base64
import itertools
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine

from tests.helpers import Account, Api, assert_problem
from tests.test_queries import counting

_names = itertools.count()


def get(api: Api, path: str = "/api/articles", who: Account | None = None, **params: Any) -> Any:
    r = api.client.get(path, params=params, headers=who.headers if who else {})
    assert r.status_code == 200, r.text
    return r


def titles(response: Any) -> list[str]:
    return [a["title"] for a in response.json()["articles"]]


def walk(api: Api, limit: int, path: str = "/api/articles", **params: Any) -> list[str]:
    """Every title of a list, page by page by cursor (at most 50 pages: a walk that repeats
    itself must end, and fail)."""
    r = get(api, path, limit=limit, **params)
    seen = titles(r)
    for _ in range(50):
        if (cursor := r.json()["nextCursor"]) is None:
            break
        r = get(api, path, limit=limit, cursor=cursor, **params)
        seen += titles(r)
    return seen


@pytest.fixture
def jake(api: Api) -> Account:
    return api.register("jake")


@pytest.fixture
def seven(api: Api, jake: Account) -> list[str]:
    """Seven articles, oldest first, tagged and searchable."""
    made = [f"Dragon {n}" for n in range(7)]
    for title in made:
        api.article(jake, title=title, tagList=["dragons"])
    return made


def test_walking_by_cursor_gives_every_row_once_in_order(api: Api, seven: list[str]) -> None:
    newest_first = seven[::-1]
    for limit in (1, 2, 3, 7, 20):
        assert walk(api, limit) == newest_first, limit
        assert walk(api, limit, tag="dragons") == newest_first, limit
        assert walk(api, limit, q="dragon") == newest_first, limit  # ties: newest first


def test_every_page_has_next_cursor_and_the_last_has_null(api: Api, seven: list[str]) -> None:
    assert get(api, limit=3).json()["nextCursor"] is not None
    assert get(api, limit=3, offset=3).json()["nextCursor"] is not None
    assert get(api, limit=3, offset=4).json()["nextCursor"] is None
    assert get(api, limit=7).json()["nextCursor"] is None
    assert get(api, limit=3, offset=50).json() == {
        "articles": [],
        "articlesCount": 7,
        "nextCursor": None,
    }


def test_an_offset_pages_cursor_continues_after_it(api: Api, seven: list[str]) -> None:
    cursor = get(api, limit=2, offset=2).json()["nextCursor"]
    assert titles(get(api, limit=2, cursor=cursor)) == ["Dragon 2", "Dragon 1"]


def test_limit_may_change_between_pages(api: Api, seven: list[str]) -> None:
    first = get(api, limit=2)
    second = get(api, limit=4, cursor=first.json()["nextCursor"])
    assert titles(first) == ["Dragon 6", "Dragon 5"]
    assert titles(second) == ["Dragon 4", "Dragon 3", "Dragon 2", "Dragon 1"]
    assert second.json()["articlesCount"] == 7


def test_the_next_link_carries_the_cursor(api: Api, seven: list[str]) -> None:
    first = get(api, limit=3, tag="dragons")
    second = get(api, limit=3, tag="dragons", cursor=first.json()["nextCursor"])
    links = second.headers["Link"]
    assert 'rel="prev"' not in links
    assert 'rel="last"' not in links
    assert 'tag=dragons&limit=3&offset=0>; rel="first"' in links
    following = links.split("<")[-1].split(">")[0]
    assert following.endswith("cursor=" + second.json()["nextCursor"])
    third = api.client.get(following)
    assert titles(third) == ["Dragon 0"]
    assert third.json()["nextCursor"] is None
    assert 'rel="next"' not in third.headers["Link"]


def test_the_feed_pages_by_cursor(api: Api, jake: Account, seven: list[str]) -> None:
    reader = api.register("reader")
    api.follow(reader, jake)
    r = get(api, "/api/articles/feed", reader, limit=4)
    rest = get(api, "/api/articles/feed", reader, limit=4, cursor=r.json()["nextCursor"])
    assert titles(r) + titles(rest) == seven[::-1]


def test_a_search_pages_by_relevance(api: Api, jake: Account) -> None:
    api.article(jake, title="Cats", body="A dragon in the body.")
    api.article(jake, title="Dogs", description="A dragon in the description.")
    api.article(jake, title="Dragon in the title")
    api.article(jake, title="Birds", tagList=["dragon"])
    expected = ["Dragon in the title", "Dogs", "Birds", "Cats"]
    for limit in (1, 3):
        assert walk(api, limit, q="dragon") == expected


def test_rows_added_or_deleted_meanwhile_never_repeat_or_go_missing(
    api: Api, jake: Account, seven: list[str]
) -> None:
    first = get(api, limit=3)
    assert titles(first) == ["Dragon 6", "Dragon 5", "Dragon 4"]
    api.article(jake, title="Dragon 7")  # newer: before the cursor, so not on later pages
    slugs = {a["title"]: a["slug"] for a in get(api, limit=20).json()["articles"]}
    for gone in ("Dragon 5", "Dragon 3"):  # one already seen, one not yet
        r = api.client.delete(f"/api/articles/{slugs[gone]}", headers=jake.headers)
        assert r.status_code == 204
    second = get(api, limit=3, cursor=first.json()["nextCursor"])
    assert titles(second) == ["Dragon 2", "Dragon 1", "Dragon 0"]
    assert second.json()["articlesCount"] == 6  # the exact current total
    assert second.json()["nextCursor"] is None


def test_a_deleted_last_row_still_anchors_its_cursor(
    api: Api, jake: Account, seven: list[str]
) -> None:
    first = get(api, limit=2, q="dragon")
    last = first.json()["articles"][-1]["slug"]
    assert api.client.delete(f"/api/articles/{last}", headers=jake.headers).status_code == 204
    rest = walk_from(api, first.json()["nextCursor"], q="dragon")
    assert rest == ["Dragon 4", "Dragon 3", "Dragon 2", "Dragon 1", "Dragon 0"]


def walk_from(api: Api, cursor: str | None, **params: Any) -> list[str]:
    seen: list[str] = []
    for _ in range(50):
        if cursor is None:
            break
        r = get(api, limit=2, cursor=cursor, **params)
        seen += titles(r)
        cursor = r.json()["nextCursor"]
    return seen


# --- refused cursors ----------------------------------------------------------------------


def refused(api: Api, message: str, who: Account | None = None, **params: Any) -> None:
    path = params.pop("path", "/api/articles")
    r = api.client.get(path, params=params, headers=who.headers if who else {})
    errors = assert_problem(r, 422)["errors"]
    assert message in " ".join(errors["cursor"]), errors


@pytest.fixture
def cursor(api: Api, seven: list[str]) -> str:
    """The cursor of the first page of the articles tagged dragons that match `dragon`."""
    made: str = get(api, limit=2, tag="dragons", q="dragon").json()["nextCursor"]
    return made


def test_a_cursor_is_refused_with_other_filters_or_another_q(api: Api, cursor: str) -> None:
    other = "belongs to another list"
    refused(api, other, cursor=cursor, q="dragon")  # a filter left out
    refused(api, other, cursor=cursor, tag="dragons")  # q left out
    refused(api, other, cursor=cursor, tag="other", q="dragon")
    refused(api, other, cursor=cursor, tag="dragons", q="dragons")
    refused(api, other, cursor=cursor, tag="dragons", q="dragon", author="jake")
    refused(api, other, cursor=cursor, tag="dragons", q="dragon", favorited="jake")


def test_a_cursor_is_refused_by_the_other_list_and_another_caller(
    api: Api, jake: Account, seven: list[str]
) -> None:
    amy, bob = api.register("amy"), api.register("bob")
    for reader in (amy, bob):
        api.follow(reader, jake)
    amys = get(api, "/api/articles/feed", amy, limit=2).json()["nextCursor"]
    refused(api, "belongs to another list", bob, path="/api/articles/feed", cursor=amys)
    refused(api, "belongs to another list", amy, cursor=amys)  # the global list
    everyones = get(api, limit=2).json()["nextCursor"]
    refused(api, "belongs to another list", amy, path="/api/articles/feed", cursor=everyones)
    # the global list's cursor is anyone's: it does not depend on who reads
    assert get(api, who=bob, limit=2, cursor=everyones).json()["articles"]


def test_a_cursor_with_an_offset_is_refused(api: Api, cursor: str) -> None:
    for offset in ("1", "2", "10000"):
        refused(api, "can't be combined with an offset", cursor=cursor, offset=offset)
    # 0 is the default, which generated clients send with every request: it is no offset
    both = get(api, limit=2, tag="dragons", q="dragon", cursor=cursor, offset=0)
    assert titles(both) == ["Dragon 4", "Dragon 3"]


def _flip(text: str, at: int) -> str:
    return text[:at] + ("A" if text[at] != "A" else "B") + text[at + 1 :]


def test_a_changed_truncated_or_made_up_cursor_is_refused(api: Api, cursor: str) -> None:
    filters = {"tag": "dragons", "q": "dragon"}
    body = cursor.split(".")[1]
    forged_body = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    forged_body[3] = 1  # another position, with the signature kept
    forged = base64.urlsafe_b64encode(orjson.dumps(forged_body)).rstrip(b"=").decode()
    for bad in [
        _flip(cursor, 5),  # in the position
        _flip(cursor, len(cursor) - 3),  # in the signature
        cursor[:-4],
        cursor[:20],
        cursor.split(".")[0] + "." + cursor.split(".")[1],
        "v1." + forged + "." + cursor.split(".")[2],
        "v2" + cursor[2:],
        "v1..",
        "v1.e30.e30",
        "garbage",
        "-",
        "v1.!!!.???",  # not the alphabet: the spec's pattern refuses it
    ]:
        r = api.client.get("/api/articles", params={"cursor": bad, **filters})
        assert "cursor" in assert_problem(r, 422)["errors"], bad


@pytest.mark.parametrize("length", [513, 2000])
def test_an_over_long_cursor_is_refused(api: Api, cursor: str, length: int) -> None:
    refused(api, "is too long", cursor=(cursor * 20)[:length], tag="dragons", q="dragon")


def test_a_cursor_of_another_secret_key_is_refused(
    api: Api, cursor: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from shell import paging

    monkeypatch.setattr(paging, "_cursor_key", lambda _: b"another key entirely")
    refused(api, "is invalid", cursor=cursor, tag="dragons", q="dragon")


# --- the property -------------------------------------------------------------------------

STEP = st.lists(st.sampled_from(["insert", "delete", "nothing"]), min_size=0, max_size=2)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    size=st.integers(min_value=0, max_value=9),
    limit=st.integers(min_value=1, max_value=4),
    which=st.sampled_from(["author", "tag", "q", "feed", "q and tag"]),
    steps=st.lists(STEP, min_size=0, max_size=8),
    picks=st.randoms(use_true_random=False),
)
def test_a_cursor_walk_yields_what_existed_throughout_exactly_once_in_order(
    api: Api, size: int, limit: int, which: str, steps: list[list[str]], picks: Any
) -> None:
    """Whatever is inserted and deleted between pages, a walk by cursor gives every row that
    existed from its start to its end exactly once, and in the list's order."""
    n = next(_names)
    author, reader = api.register(f"author{n}"), api.register(f"reader{n}")
    api.follow(reader, author)
    tag = f"t{n}"

    def write() -> str:
        k = next(_names)
        wanted = picks.random() < 0.6  # in the filtered list, or only beside it
        title = f"{'Dragon' if wanted else 'Cat'} {k}"
        api.article(author, title=title, tagList=[tag] if wanted else ["other"])
        return title

    path, params, who = "/api/articles", {"author": author.username}, None
    if which == "tag":
        params = {"tag": tag}
    elif which == "q":
        params = {"q": "dragon", "author": author.username}
    elif which == "q and tag":
        params = {"q": "dragon cat or dragon", "tag": tag}
    elif which == "feed":
        path, params, who = "/api/articles/feed", {}, reader
    for _ in range(size):
        write()

    def listed() -> list[dict[str, Any]]:
        everything: list[dict[str, Any]] = get(api, path, who, limit=100, **params).json()[
            "articles"
        ]
        return everything

    at_start = [a["title"] for a in listed()]
    deleted: set[str] = set()
    seen: list[str] = []
    r = get(api, path, who, limit=limit, **params)
    pages = iter(steps)
    for _ in range(200):  # a walk that repeats itself must end, and fail below
        seen += titles(r)
        cursor = r.json()["nextCursor"]
        if cursor is None:
            break
        for step in next(pages, []):
            if step == "insert":
                write()
            elif step == "delete":
                current = [a for a in listed() if a["title"] not in deleted]
                if current:
                    gone = picks.choice(current)
                    url = f"/api/articles/{gone['slug']}"
                    assert api.client.delete(url, headers=author.headers).status_code == 204
                    deleted.add(gone["title"])
        r = get(api, path, who, limit=limit, cursor=cursor, **params)
    throughout = [t for t in at_start if t not in deleted]
    assert len(seen) == len(set(seen)), seen
    assert [t for t in seen if t in throughout] == throughout


# --- what a cursor page costs -------------------------------------------------------------


def total_of(statement: str) -> str:
    """The expression a list statement counts its total with (`... AS total`)."""
    end = statement.index(" AS total")
    if statement[end - 1] != ")":  # a column: a search counts its matches as it ranks them
        return statement[statement.rindex(" ", 0, end) + 1 : end]
    depth, start = 0, end - 1
    while depth or start == end - 1:  # back to the parenthesis that opens the call's arguments
        depth += {")": 1, "(": -1}.get(statement[start], 0)
        start -= 1
    return statement[statement.rindex(" ", 0, start) + 1 : end]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/articles", {}),
        ("/api/articles", {"tag": "dragons"}),
        ("/api/articles", {"author": "jake"}),
        ("/api/articles", {"favorited": "jake"}),
        ("/api/articles/feed", {}),
        ("/api/articles", {"tag": "dragons", "author": "jake"}),
        ("/api/articles", {"q": "dragon"}),
        ("/api/articles", {"q": "-nothing"}),
    ],
)
def test_a_cursor_page_counts_its_total_as_the_first_page_does(
    api: Api, engine: Engine, jake: Account, path: str, params: dict[str, str]
) -> None:
    """A page after a cursor counts the same total the same way as the first page (one counter
    row where the filters have one), not by counting every row of the list: at depth 500,000 of
    1,000,000 that count made a cursor page 30 times slower than the first."""
    reader = api.register("reader")
    api.follow(reader, jake)
    for n in range(3):
        slug = api.article(jake, title=f"Dragon {n}", tagList=["dragons"])["slug"]
        api.favorite(jake, slug)
    with counting(engine) as first:
        cursor = get(api, path, reader, limit=1, **params).json()["nextCursor"]
    with counting(engine) as after:
        assert get(api, path, reader, limit=1, cursor=cursor, **params).json()["articlesCount"] == 3
    listed = [total_of(statement) for statement in first + after if " AS total" in statement]
    assert len(listed) == 2, listed
    assert listed[0] == listed[1]
