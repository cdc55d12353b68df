"""Articles: create, read, update, delete, the global list, the feed, validation and auth."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.helpers import OTHER_SECRET, Account, Api, assert_problem, authorization, subject, token

TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
ARTICLE_KEYS = {
    "slug",
    "title",
    "description",
    "body",
    "tagList",
    "createdAt",
    "updatedAt",
    "favorited",
    "favoritesCount",
    "author",
}


# --- helpers -------------------------------------------------------------------------------


def listing(api: Api, query: str = "", headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = api.client.get(f"/api/articles{query}", headers=headers or {})
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert set(body) == {"articles", "articlesCount", "nextCursor"}
    return body


def feed(api: Api, who: Account, query: str = "") -> dict[str, Any]:
    r = api.client.get(f"/api/articles/feed{query}", headers=who.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def slugs(page: dict[str, Any]) -> list[str]:
    return [a["slug"] for a in page["articles"]]


def fetch(api: Api, slug: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    r = api.client.get(f"/api/articles/{slug}", headers=headers or {})
    assert r.status_code == 200, r.text
    article: dict[str, Any] = r.json()["article"]
    return article


def create(api: Api, who: Account, **fields: Any) -> Any:
    return api.client.post("/api/articles", json={"article": fields}, headers=who.headers)


def update(api: Api, who: Account, slug: str, **fields: Any) -> Any:
    return api.client.put(f"/api/articles/{slug}", json={"article": fields}, headers=who.headers)


def tags_in_use(api: Api) -> list[str]:
    r = api.client.get("/api/tags")
    assert r.status_code == 200, r.text
    tags: list[str] = r.json()["tags"]
    return tags


def article_fields(**overrides: Any) -> dict[str, Any]:
    return {"title": "A title", "description": "A description", "body": "A body", **overrides}


# --- create --------------------------------------------------------------------------------


def test_create_returns_201_with_the_whole_article(api: Api) -> None:
    jake = api.register("jake")
    r = create(
        api,
        jake,
        title="How to train your dragon",
        description="Ever wonder how?",
        body="You have to believe",
        tagList=["training", "dragons"],
    )
    assert r.status_code == 201, r.text
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    article = r.json()["article"]
    assert set(article) == ARTICLE_KEYS
    assert article["slug"] == "how-to-train-your-dragon"
    assert article["title"] == "How to train your dragon"
    assert article["description"] == "Ever wonder how?"
    assert article["body"] == "You have to believe"
    assert article["tagList"] == ["dragons", "training"]
    assert article["favorited"] is False
    assert article["favoritesCount"] == 0
    assert article["author"] == {"username": "jake", "bio": None, "image": None, "following": False}
    assert TIMESTAMP.match(article["createdAt"])
    assert TIMESTAMP.match(article["updatedAt"])


def test_created_article_can_be_read_back(api: Api) -> None:
    jake = api.register("jake")
    created = api.article(jake, title="Read me back", body="Every word", tagList=["b", "a"])
    assert fetch(api, created["slug"]) == created


def test_create_dedupes_and_sorts_the_tags(api: Api) -> None:
    jake = api.register("jake")
    article = api.article(jake, tagList=["zeta", "alpha", "zeta", "mid", "alpha"])
    assert article["tagList"] == ["alpha", "mid", "zeta"]
    assert fetch(api, article["slug"])["tagList"] == ["alpha", "mid", "zeta"]


def test_create_without_tags_gives_an_empty_tag_list(api: Api) -> None:
    jake = api.register("jake")
    assert api.article(jake)["tagList"] == []
    assert api.article(jake, tagList=[])["tagList"] == []


@pytest.mark.parametrize(
    "title", ["Ça va très bien, naïve café", "Привет, мир", "東京 2024", "Ünïcödé — “quotes”"]
)
def test_unicode_titles_give_a_non_empty_ascii_slug(api: Api, title: str) -> None:
    jake = api.register("jake")
    article = api.article(jake, title=title)
    assert article["title"] == title
    assert article["slug"].isascii()
    assert SLUG.match(article["slug"]), article["slug"]
    assert fetch(api, article["slug"])["title"] == title


def test_emoji_only_titles_get_distinct_usable_slugs(api: Api) -> None:
    jake = api.register("jake")
    first = api.article(jake, title="🐉🔥")
    second = api.article(jake, title="🐉🔥")
    for article in (first, second):
        assert article["slug"], article
        assert SLUG.match(article["slug"]), article["slug"]
    assert first["slug"] != second["slug"]
    assert fetch(api, first["slug"])["title"] == "🐉🔥"
    assert fetch(api, second["slug"])["title"] == "🐉🔥"


def test_duplicate_titles_get_distinct_slugs(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    first = api.article(jake, title="How to train your dragon", body="first")
    second = api.article(jake, title="How to train your dragon", body="second")
    third = api.article(bob, title="How to Train Your Dragon", body="third")
    assert first["slug"] == "how-to-train-your-dragon"
    assert len({first["slug"], second["slug"], third["slug"]}) == 3
    for article in (second, third):
        assert article["slug"].startswith("how-to-train-your-dragon")
        assert SLUG.match(article["slug"])
    assert fetch(api, first["slug"])["body"] == "first"
    assert fetch(api, second["slug"])["body"] == "second"
    assert fetch(api, third["slug"])["body"] == "third"


def test_longest_titles_still_give_addressable_unique_slugs(api: Api) -> None:
    jake = api.register("jake")
    title = ("dragon " * 40)[:200]
    first = api.article(jake, title=title)
    second = api.article(jake, title=title)
    assert first["slug"] != second["slug"]
    assert fetch(api, first["slug"])["title"] == title
    assert fetch(api, second["slug"])["title"] == title


# --- get -----------------------------------------------------------------------------------


def test_get_article_anonymously(api: Api) -> None:
    jake = api.register("jake")
    created = api.article(jake, title="Anonymous reading", body="The body text")
    r = api.client.get(f"/api/articles/{created['slug']}")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json; charset=utf-8"
    article = r.json()["article"]
    assert set(article) == ARTICLE_KEYS
    assert article["body"] == "The body text"
    assert article["favorited"] is False
    assert article["author"]["following"] is False


def test_get_unknown_slug_is_404(api: Api) -> None:
    jake = api.register("jake")
    assert_problem(api.client.get("/api/articles/no-such-article"), 404)
    assert_problem(api.client.get("/api/articles/no-such-article", headers=jake.headers), 404)


def test_get_article_is_personalised_with_a_token(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    slug = api.article(jake)["slug"]
    api.follow(bob, jake)
    api.favorite(bob, slug)

    seen_by_bob = fetch(api, slug, bob.headers)
    assert seen_by_bob["favorited"] is True
    assert seen_by_bob["author"]["following"] is True
    assert seen_by_bob["favoritesCount"] == 1

    seen_with_bearer = fetch(api, slug, authorization(bob.token, "Bearer"))
    assert seen_with_bearer["favorited"] is True
    assert seen_with_bearer["author"]["following"] is True

    anonymous = fetch(api, slug)
    assert anonymous["favorited"] is False
    assert anonymous["author"]["following"] is False
    assert anonymous["favoritesCount"] == 1

    seen_by_jake = fetch(api, slug, jake.headers)
    assert seen_by_jake["favorited"] is False
    assert seen_by_jake["author"]["following"] is False


# --- update --------------------------------------------------------------------------------


def test_author_updates_description_and_body(api: Api) -> None:
    jake = api.register("jake")
    created = api.article(jake, title="Stays put", tagList=["keep"])
    r = update(api, jake, created["slug"], description="New description", body="New body")
    assert r.status_code == 200, r.text
    article = r.json()["article"]
    assert article["slug"] == created["slug"]
    assert article["title"] == "Stays put"
    assert article["description"] == "New description"
    assert article["body"] == "New body"
    assert article["tagList"] == ["keep"]
    again = fetch(api, created["slug"])
    assert again["description"] == "New description"
    assert again["body"] == "New body"


def test_another_user_may_not_update(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    created = api.article(jake, title="Mine", body="Original")
    r = update(api, bob, created["slug"], body="Hijacked", title="Ours")
    assert_problem(r, 403)
    unchanged = fetch(api, created["slug"])
    assert unchanged["body"] == "Original"
    assert unchanged["title"] == "Mine"


def test_update_unknown_slug_is_404(api: Api) -> None:
    jake = api.register("jake")
    assert_problem(update(api, jake, "no-such-article", body="x"), 404)


def test_new_title_gives_new_slug_and_the_old_one_still_leads_there(api: Api) -> None:
    jake = api.register("jake")
    created = api.article(jake, title="How to train your dragon", body="Kept")
    r = update(api, jake, created["slug"], title="Did you train your dragon?")
    assert r.status_code == 200, r.text
    article = r.json()["article"]
    assert article["title"] == "Did you train your dragon?"
    assert article["slug"] == "did-you-train-your-dragon"
    assert fetch(api, "did-you-train-your-dragon")["body"] == "Kept"
    assert fetch(api, "how-to-train-your-dragon")["slug"] == "did-you-train-your-dragon"
    assert slugs(listing(api)) == ["did-you-train-your-dragon"]


def test_new_title_clashing_with_another_slug_gets_a_distinct_one(api: Api) -> None:
    jake = api.register("jake")
    taken = api.article(jake, title="Taken title", body="first")
    other = api.article(jake, title="Something else", body="second")
    r = update(api, jake, other["slug"], title="Taken title")
    assert r.status_code == 200, r.text
    moved = r.json()["article"]["slug"]
    assert moved != taken["slug"]
    assert fetch(api, taken["slug"])["body"] == "first"
    assert fetch(api, moved)["body"] == "second"


def test_same_title_keeps_the_slug(api: Api) -> None:
    jake = api.register("jake")
    first = api.article(jake, title="Same old title")
    second = api.article(jake, title="Same old title")  # carries a uniqueness suffix
    for article in (first, second):
        r = update(api, jake, article["slug"], title="Same old title", body="Edited")
        assert r.status_code == 200, r.text
        assert r.json()["article"]["slug"] == article["slug"]
        assert fetch(api, article["slug"])["body"] == "Edited"


def test_tag_list_is_replaced_on_update(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake, tagList=["alpha", "beta"])["slug"]
    r = update(api, jake, slug, tagList=["gamma", "alpha", "gamma"])
    assert r.status_code == 200, r.text
    assert r.json()["article"]["tagList"] == ["alpha", "gamma"]
    assert fetch(api, slug)["tagList"] == ["alpha", "gamma"]
    assert tags_in_use(api) == ["alpha", "gamma"]
    assert listing(api, "?tag=beta") == {"articles": [], "articlesCount": 0, "nextCursor": None}

    r = update(api, jake, slug, body="Tags untouched")
    assert r.json()["article"]["tagList"] == ["alpha", "gamma"]

    r = update(api, jake, slug, tagList=[])
    assert r.status_code == 200, r.text
    assert r.json()["article"]["tagList"] == []
    assert tags_in_use(api) == []


def test_update_moves_updated_at_and_keeps_created_at(api: Api) -> None:
    jake = api.register("jake")
    created = api.article(jake)
    time.sleep(0.02)  # timestamps have millisecond precision
    r = update(api, jake, created["slug"], body="Later")
    assert r.status_code == 200, r.text
    article = r.json()["article"]
    assert TIMESTAMP.match(article["updatedAt"])
    assert article["createdAt"] == created["createdAt"]
    assert article["updatedAt"] > created["updatedAt"]
    assert article["updatedAt"] > article["createdAt"]
    assert fetch(api, created["slug"])["updatedAt"] == article["updatedAt"]


def test_update_with_bad_fields_is_422(api: Api) -> None:
    jake = api.register("jake")
    created = api.article(jake, title="Valid", body="Valid body")
    slug = created["slug"]
    assert_problem(update(api, jake, slug, title="   "), 422, "title")
    assert_problem(update(api, jake, slug, title=""), 422, "title")
    assert_problem(update(api, jake, slug, title="x" * 201), 422, "title")
    assert_problem(update(api, jake, slug, description=" \n "), 422, "description")
    assert_problem(update(api, jake, slug, body=""), 422, "body")
    assert_problem(update(api, jake, slug, tagList="dragons"), 422, "tagList")
    assert_problem(update(api, jake, slug, tagList=[f"t{i}" for i in range(11)]), 422, "tagList")
    assert_problem(update(api, jake, slug), 422)  # nothing to change
    r = api.client.put(f"/api/articles/{slug}", json={}, headers=jake.headers)
    assert_problem(r, 422, "article")
    unchanged = fetch(api, slug)
    assert unchanged["title"] == "Valid"
    assert unchanged["body"] == "Valid body"


# --- delete --------------------------------------------------------------------------------


def test_author_deletes_with_204_and_an_empty_body(api: Api) -> None:
    jake = api.register("jake")
    slug = api.article(jake)["slug"]
    r = api.client.delete(f"/api/articles/{slug}", headers=jake.headers)
    assert r.status_code == 204
    assert r.content == b""
    assert_problem(api.client.get(f"/api/articles/{slug}"), 404)
    assert listing(api) == {"articles": [], "articlesCount": 0, "nextCursor": None}
    assert_problem(api.client.delete(f"/api/articles/{slug}", headers=jake.headers), 404)


def test_another_user_may_not_delete(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    slug = api.article(jake)["slug"]
    assert_problem(api.client.delete(f"/api/articles/{slug}", headers=bob.headers), 403)
    assert fetch(api, slug)["slug"] == slug


def test_delete_unknown_slug_is_404(api: Api) -> None:
    jake = api.register("jake")
    assert_problem(api.client.delete("/api/articles/no-such-article", headers=jake.headers), 404)


def test_delete_removes_comments_favourites_and_tag_links(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    doomed = api.article(jake, tagList=["only-here", "shared"])["slug"]
    kept = api.article(jake, tagList=["shared"])["slug"]
    api.comment(bob, doomed, "Soon gone")
    api.favorite(bob, doomed)
    api.favorite(bob, kept)
    assert tags_in_use(api) == ["only-here", "shared"]
    assert listing(api, "?favorited=bob")["articlesCount"] == 2

    r = api.client.delete(f"/api/articles/{doomed}", headers=jake.headers)
    assert r.status_code == 204

    assert_problem(api.client.get(f"/api/articles/{doomed}/comments"), 404)
    assert tags_in_use(api) == ["shared"]
    assert listing(api, "?tag=only-here") == {
        "articles": [],
        "articlesCount": 0,
        "nextCursor": None,
    }
    favourites = listing(api, "?favorited=bob")
    assert slugs(favourites) == [kept]
    assert favourites["articlesCount"] == 1
    assert slugs(listing(api, "?tag=shared")) == [kept]
    assert fetch(api, kept)["favoritesCount"] == 1


# --- list ----------------------------------------------------------------------------------


def test_list_articles_omits_the_body(api: Api) -> None:
    jake = api.register("jake")
    api.article(jake, title="Listed", body="Not in the list", tagList=["b", "a"])
    page = listing(api)
    assert page["articlesCount"] == 1
    (article,) = page["articles"]
    assert set(article) == ARTICLE_KEYS - {"body"}
    assert article["title"] == "Listed"
    assert article["tagList"] == ["a", "b"]
    assert article["favorited"] is False
    assert article["favoritesCount"] == 0
    assert article["author"]["username"] == "jake"
    assert TIMESTAMP.match(article["createdAt"])
    assert TIMESTAMP.match(article["updatedAt"])


def test_empty_database_lists_nothing(api: Api) -> None:
    assert listing(api) == {"articles": [], "articlesCount": 0, "nextCursor": None}


def test_list_is_newest_first_and_stable(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    made = [api.article(jake if i % 2 else bob)["slug"] for i in range(6)]
    page = listing(api)
    assert slugs(page) == made[::-1]
    assert slugs(listing(api)) == slugs(page)  # ties (same millisecond) broken the same way
    created = [a["createdAt"] for a in page["articles"]]
    assert created == sorted(created, reverse=True)


def test_articles_count_is_the_total_not_the_page_size(api: Api) -> None:
    jake = api.register("jake")
    made = [api.article(jake)["slug"] for _ in range(5)]
    newest_first = made[::-1]

    first = listing(api, "?limit=2")
    assert slugs(first) == newest_first[:2]
    assert first["articlesCount"] == 5
    second = listing(api, "?limit=2&offset=2")
    assert slugs(second) == newest_first[2:4]
    assert second["articlesCount"] == 5
    last = listing(api, "?limit=2&offset=4")
    assert slugs(last) == newest_first[4:]
    assert last["articlesCount"] == 5
    assert listing(api, "?offset=3") == {
        "articles": listing(api)["articles"][3:],
        "articlesCount": 5,
        "nextCursor": None,
    }


@pytest.mark.parametrize("offset", [5, 6, 10000])
def test_offset_past_the_end_gives_no_articles_but_the_total(api: Api, offset: int) -> None:
    jake = api.register("jake")
    for _ in range(5):
        api.article(jake)
    assert listing(api, f"?offset={offset}") == {
        "articles": [],
        "articlesCount": 5,
        "nextCursor": None,
    }
    assert listing(api, f"?limit=1&offset={offset}") == {
        "articles": [],
        "articlesCount": 5,
        "nextCursor": None,
    }


def test_default_page_size_is_20(api: Api) -> None:
    jake = api.register("jake")
    for _ in range(21):
        api.article(jake)
    page = listing(api)
    assert len(page["articles"]) == 20
    assert page["articlesCount"] == 21
    assert len(listing(api, "?limit=100")["articles"]) == 21


def test_filters_combine_with_and(api: Api) -> None:
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    a1 = api.article(alice, tagList=["x"])["slug"]
    a2 = api.article(alice, tagList=["y"])["slug"]
    b1 = api.article(bob, tagList=["x", "y"])["slug"]
    api.favorite(carol, a1)
    api.favorite(carol, b1)
    api.favorite(bob, a2)

    def found(query: str) -> tuple[list[str], int]:
        page = listing(api, query)
        return slugs(page), page["articlesCount"]

    assert found("?tag=x") == ([b1, a1], 2)
    assert found("?tag=y") == ([b1, a2], 2)
    assert found("?author=alice") == ([a2, a1], 2)
    assert found("?favorited=carol") == ([b1, a1], 2)
    assert found("?tag=x&author=alice") == ([a1], 1)
    assert found("?tag=y&author=bob") == ([b1], 1)
    assert found("?favorited=carol&author=bob") == ([b1], 1)
    assert found("?favorited=carol&tag=y") == ([b1], 1)
    assert found("?favorited=bob&tag=x") == ([], 0)
    assert found("?tag=x&author=alice&favorited=carol") == ([a1], 1)
    assert found("?tag=y&author=alice&favorited=carol") == ([], 0)
    assert found("?author=carol") == ([], 0)


@pytest.mark.parametrize(
    "query", ["?tag=nosuchtag", "?author=nobody", "?favorited=nobody", "?author=nobody&tag=x"]
)
def test_unknown_filter_values_give_an_empty_list(api: Api, query: str) -> None:
    jake = api.register("jake")
    api.article(jake, tagList=["x"])
    assert listing(api, query) == {"articles": [], "articlesCount": 0, "nextCursor": None}


def test_list_is_personalised_with_a_token(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    liked = api.article(jake)["slug"]
    api.article(jake)
    api.follow(bob, jake)
    api.favorite(bob, liked)
    page = listing(api, headers=bob.headers)
    flags = {a["slug"]: (a["favorited"], a["author"]["following"]) for a in page["articles"]}
    assert flags[liked] == (True, True)
    assert sorted(flags.values()) == [(False, True), (True, True)]
    anonymous = listing(api)
    assert all(not a["favorited"] and not a["author"]["following"] for a in anonymous["articles"])


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("offset=-1", "offset"),
        ("offset=10001", "offset"),
        ("offset=many", "offset"),
    ],
)
def test_bad_paging_is_422_naming_the_parameter(api: Api, query: str, param: str) -> None:
    jake = api.register("jake")
    body = assert_problem(api.client.get(f"/api/articles?{query}"), 422)
    assert set(body["errors"]) == {param}
    body = assert_problem(api.client.get(f"/api/articles/feed?{query}", headers=jake.headers), 422)
    assert set(body["errors"]) == {param}


def test_paging_limits_themselves_are_accepted(api: Api) -> None:
    jake = api.register("jake")
    api.article(jake)
    assert listing(api, "?limit=1&offset=0")["articlesCount"] == 1
    assert listing(api, "?limit=100&offset=10000") == {
        "articles": [],
        "articlesCount": 1,
        "nextCursor": None,
    }


# --- feed ----------------------------------------------------------------------------------


def test_feed_has_only_followed_authors_newest_first(api: Api) -> None:
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    dave = api.register("dave")
    api.follow(alice, bob)
    api.follow(alice, carol)
    b1 = api.article(bob)["slug"]
    c1 = api.article(carol)["slug"]
    api.article(dave)
    b2 = api.article(bob)["slug"]
    api.article(alice)

    page = feed(api, alice)
    assert slugs(page) == [b2, c1, b1]
    assert page["articlesCount"] == 3
    for article in page["articles"]:
        assert "body" not in article
        assert article["author"]["following"] is True
        assert TIMESTAMP.match(article["createdAt"])
        assert TIMESTAMP.match(article["updatedAt"])

    limited = feed(api, alice, "?limit=1&offset=1")
    assert slugs(limited) == [c1]
    assert limited["articlesCount"] == 3
    assert feed(api, alice, "?offset=3") == {"articles": [], "articlesCount": 3, "nextCursor": None}


def test_feed_is_empty_when_following_nobody(api: Api) -> None:
    alice = api.register("alice")
    bob = api.register("bob")
    api.article(bob)
    api.article(alice)
    assert feed(api, alice) == {"articles": [], "articlesCount": 0, "nextCursor": None}


def test_feed_forgets_unfollowed_authors(api: Api) -> None:
    alice = api.register("alice")
    bob = api.register("bob")
    api.article(bob)
    api.follow(alice, bob)
    assert feed(api, alice)["articlesCount"] == 1
    r = api.client.delete(f"/api/profiles/{bob.username}/follow", headers=alice.headers)
    assert r.status_code == 200
    assert feed(api, alice) == {"articles": [], "articlesCount": 0, "nextCursor": None}


def test_feed_needs_a_token(api: Api) -> None:
    alice = api.register("alice")
    bob = api.register("bob")
    api.follow(alice, bob)
    api.article(bob)
    assert_problem(api.client.get("/api/articles/feed"), 401, "token")
    r = api.client.get("/api/articles/feed", headers=authorization("garbage"))
    assert_problem(r, 401, "token")


# --- timestamps ----------------------------------------------------------------------------


def test_every_article_timestamp_has_milliseconds_and_z(api: Api) -> None:
    jake = api.register("jake")
    bob = api.register("bob")
    api.follow(bob, jake)
    slug = api.article(jake)["slug"]
    seen = [
        fetch(api, slug),
        update(api, jake, slug, body="changed").json()["article"],
        api.client.post(f"/api/articles/{slug}/favorite", headers=bob.headers).json()["article"],
        *listing(api)["articles"],
        *feed(api, bob)["articles"],
    ]
    for article in seen:
        assert TIMESTAMP.match(article["createdAt"]), article
        assert TIMESTAMP.match(article["updatedAt"]), article


# --- validation ----------------------------------------------------------------------------


@pytest.mark.parametrize("field", ["title", "description", "body"])
@pytest.mark.parametrize("blank", ["", "   ", "\t\n "])
def test_blank_fields_are_422(api: Api, field: str, blank: str) -> None:
    jake = api.register("jake")
    body = assert_problem(create(api, jake, **article_fields(**{field: blank})), 422)
    assert set(body["errors"]) == {field}
    assert listing(api)["articlesCount"] == 0


@pytest.mark.parametrize(("field", "maximum"), [("title", 200), ("description", 500)])
def test_too_long_fields_are_422(api: Api, field: str, maximum: int) -> None:
    jake = api.register("jake")
    assert_problem(create(api, jake, **article_fields(**{field: "x" * (maximum + 1)})), 422, field)
    r = create(api, jake, **article_fields(**{field: "x" * maximum}))
    assert r.status_code == 201, r.text


def test_too_long_body_is_422(api: Api) -> None:
    jake = api.register("jake")
    assert_problem(create(api, jake, **article_fields(body="x" * 50_001)), 422, "body")


def test_missing_fields_are_each_reported(api: Api) -> None:
    jake = api.register("jake")
    body = assert_problem(create(api, jake), 422)
    assert set(body["errors"]) == {"title", "description", "body"}
    body = assert_problem(create(api, jake, title="Only a title"), 422)
    assert set(body["errors"]) == {"description", "body"}


def test_missing_article_object_is_422(api: Api) -> None:
    jake = api.register("jake")
    assert_problem(api.client.post("/api/articles", json={}, headers=jake.headers), 422, "article")
    r = api.client.post("/api/articles", json={"article": "text"}, headers=jake.headers)
    assert_problem(r, 422, "article")


def test_more_than_ten_tags_is_422(api: Api) -> None:
    jake = api.register("jake")
    r = create(api, jake, **article_fields(tagList=[f"tag{i:02d}" for i in range(11)]))
    assert_problem(r, 422, "tagList")
    assert tags_in_use(api) == []
    ten = [f"tag{i:02d}" for i in range(10)]
    r = create(api, jake, **article_fields(tagList=ten))
    assert r.status_code == 201, r.text
    assert r.json()["article"]["tagList"] == ten


@pytest.mark.parametrize(
    "tag_list", ["dragons", {"dragons": True}, 3, [1, 2], [None], [""], ["  "], ["x" * 33]]
)
def test_bad_tag_lists_are_422(api: Api, tag_list: Any) -> None:
    jake = api.register("jake")
    assert_problem(create(api, jake, **article_fields(tagList=tag_list)), 422, "tagList")
    assert listing(api)["articlesCount"] == 0


def test_fields_of_the_wrong_type_are_422(api: Api) -> None:
    jake = api.register("jake")
    body = assert_problem(
        create(api, jake, title=42, description=["a"], body={"text": "b"}),
        422,
    )
    assert set(body["errors"]) == {"title", "description", "body"}


def test_malformed_json_is_400(api: Api) -> None:
    jake = api.register("jake")
    r = api.client.post(
        "/api/articles",
        content=b'{"article": {"title": ',
        headers={**jake.headers, "Content-Type": "application/json"},
    )
    assert_problem(r, 400)


# --- authentication ------------------------------------------------------------------------

REQUIRED = [
    ("POST", "/api/articles", {"article": article_fields(title="Intruder")}),
    ("PUT", "/api/articles/{slug}", {"article": {"body": "Intruder"}}),
    ("DELETE", "/api/articles/{slug}", None),
    ("GET", "/api/articles/feed", None),
]
OPTIONAL = ["/api/articles", "/api/articles/{slug}"]


def untouched_article(api: Api) -> tuple[Account, str]:
    """Jake and the slug of his article, whose body ("Untouched") refused requests leave as is."""
    jake = api.register("jake")
    return jake, api.article(jake, title="Target", body="Untouched")["slug"]


def bad_credentials(victim: Account) -> dict[str, dict[str, str]]:
    """Every kind of credentials that must be refused, keyed by what is wrong with them."""
    sub = subject(victim)
    return {
        "garbage": authorization("not-a-jwt"),
        "garbage bearer": authorization("not-a-jwt", "Bearer"),
        "expired": authorization(token(sub, lifetime=-60)),
        "expired bearer": authorization(token(sub, lifetime=-60), "Bearer"),
        "wrong secret": authorization(token(sub, secret=OTHER_SECRET)),
        "wrong issuer": authorization(token(sub, iss="someone-else")),
        "wrong audience": authorization(token(sub, aud="someone-else")),
        "no expiry": authorization(token(sub, exp=None)),
        "non-numeric subject": authorization(token("jake")),
        "other algorithm": authorization(token(sub, algorithm="HS384")),
        "unknown scheme": authorization(victim.token, "Basic"),
        "scheme only": {"Authorization": "Token"},
        "token without scheme": {"Authorization": victim.token},
    }


def test_forged_tokens_match_the_apps_own(api: Api) -> None:
    """The forged tokens below differ from valid ones only in what the test names."""
    jake = api.register("jake")
    good = token(subject(jake))
    r = api.client.get("/api/user", headers=authorization(good))
    assert r.status_code == 200
    assert r.json()["user"]["username"] == "jake"
    assert feed(api, jake)["articlesCount"] == 0
    r = api.client.get("/api/articles/feed", headers=authorization(good, "Bearer"))
    assert r.status_code == 200


@pytest.mark.parametrize(("method", "path", "payload"), REQUIRED)
def test_required_auth_refuses_missing_and_bad_tokens(
    api: Api, method: str, path: str, payload: dict[str, Any] | None
) -> None:
    jake, slug = untouched_article(api)
    url = path.format(slug=slug)
    assert_problem(api.client.request(method, url, json=payload), 401, "token")
    for name, headers in bad_credentials(jake).items():
        r = api.client.request(method, url, json=payload, headers=headers)
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
        assert_problem(r, 401, "token")
    target = fetch(api, slug)
    assert target["body"] == "Untouched"
    assert listing(api)["articlesCount"] == 1


@pytest.mark.parametrize(("method", "path", "payload"), REQUIRED)
def test_valid_token_of_a_user_who_does_not_exist_is_401(
    api: Api, method: str, path: str, payload: dict[str, Any] | None
) -> None:
    jake, slug = untouched_article(api)
    ghost = authorization(token(str(int(subject(jake)) + 10_000)))
    r = api.client.request(method, path.format(slug=slug), json=payload, headers=ghost)
    assert_problem(r, 401, "token")
    assert fetch(api, slug)["body"] == "Untouched"


@pytest.mark.parametrize("path", OPTIONAL)
def test_optional_auth_refuses_bad_tokens_rather_than_answering_anonymously(
    api: Api, path: str
) -> None:
    jake = api.register("jake")
    url = path.format(slug=api.article(jake)["slug"])
    assert api.client.get(url).status_code == 200
    assert api.client.get(url, headers=jake.headers).status_code == 200
    for name, headers in bad_credentials(jake).items():
        r = api.client.get(url, headers=headers)
        assert r.status_code == 401, f"{name}: {r.status_code} {r.text}"
        assert_problem(r, 401, "token")
