"""Full-text search, `q` on GET /articles and GET /articles/feed (db/search.py, migration 0007):
the web-search syntax, relevance, filters, freshness and hostile text, on both databases."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Connection, Engine, event, text

from db import search
from tests.helpers import Account, Api, assert_problem


def found(api: Api, q: str, account: Account | None = None, **params: Any) -> list[str]:
    """The titles a search lists, in order; its count is checked to be exact."""
    headers = account.headers if account else {}
    path = params.pop("path", "/api/articles")
    r = api.client.get(path, params={"q": q, **params}, headers=headers)
    assert r.status_code == 200, r.text
    titles = [a["title"] for a in r.json()["articles"]]
    if "limit" not in params and "offset" not in params:
        assert r.json()["articlesCount"] == len(titles)
    return titles


@pytest.fixture
def jake(api: Api) -> Account:
    return api.register("jake")


def write(
    api: Api, author: Account, title: str, body: str = "Nothing to see.", **fields: Any
) -> str:
    fields.setdefault("description", "A short one.")
    slug: str = api.article(author, title=title, body=body, **fields)["slug"]
    return slug


def test_without_q_the_order_stays_newest_first(api: Api, jake: Account) -> None:
    for title in ("one", "two", "three"):
        write(api, jake, title)
    r = api.client.get("/api/articles")
    assert [a["title"] for a in r.json()["articles"]] == ["three", "two", "one"]


def test_title_ranks_above_description_above_tags_above_body(api: Api, jake: Account) -> None:
    # written in the opposite order, so that newest first would give the reverse
    write(api, jake, "In the body", body="A dragon sleeps here.")
    write(api, jake, "In the tags", tagList=["dragon"])
    write(api, jake, "In the description", description="About a dragon.")
    write(api, jake, "Dragon in the title")
    write(api, jake, "Not at all")
    expected = ["Dragon in the title", "In the description", "In the tags", "In the body"]
    assert found(api, "dragon") == expected


def test_ties_go_newest_first(api: Api, jake: Account) -> None:
    for title in ("Dragon one", "Dragon two", "Dragon three"):
        write(api, jake, title)
    assert found(api, "dragon") == ["Dragon three", "Dragon two", "Dragon one"]


def test_words_match_by_stem_whatever_the_case(api: Api, jake: Account) -> None:
    write(api, jake, "Training a dragon")
    write(api, jake, "Cats")
    assert found(api, "DRAGONS") == ["Training a dragon"]
    assert found(api, "trains") == ["Training a dragon"]


def test_words_are_anded(api: Api, jake: Account) -> None:
    write(api, jake, "Red dragon")
    write(api, jake, "Blue dragon")
    write(api, jake, "Red herring")
    assert found(api, "red dragon") == ["Red dragon"]


def test_a_phrase_needs_its_words_together_and_in_order(api: Api, jake: Account) -> None:
    write(api, jake, "Train red dragons")
    write(api, jake, "Red train, blue dragons")
    write(api, jake, "Dragons red")
    assert found(api, '"red dragons"') == ["Train red dragons"]
    assert len(found(api, "red dragons")) == 3


def test_a_minus_excludes(api: Api, jake: Account) -> None:
    write(api, jake, "Dragons and angular")
    write(api, jake, "Dragons and react")
    assert found(api, "dragons -angular") == ["Dragons and react"]
    assert found(api, 'dragons -"and angular"') == ["Dragons and react"]
    assert found(api, "-angular") == ["Dragons and react"]  # everything else


def test_or_matches_either(api: Api, jake: Account) -> None:
    write(api, jake, "Unicorns")
    write(api, jake, "Dragons")
    write(api, jake, "Goblins")
    assert sorted(found(api, "dragons or unicorns")) == ["Dragons", "Unicorns"]
    assert sorted(found(api, "dragons OR unicorns")) == ["Dragons", "Unicorns"]
    # `or` separates alternatives of ANDed words, as websearch_to_tsquery reads it
    write(api, jake, "Red goblins")
    assert sorted(found(api, "red goblins or dragons")) == ["Dragons", "Red goblins"]
    # an alternative of exclusions alone is everything but those
    assert sorted(found(api, "dragons or -goblins")) == ["Dragons", "Unicorns"]


def test_or_at_either_end_and_a_lone_dash_are_ignored(api: Api, jake: Account) -> None:
    write(api, jake, "Dragons")
    write(api, jake, "Unicorns")
    assert found(api, "or dragons or") == ["Dragons"]
    assert found(api, "dragons -") == ["Dragons"]


def test_a_stray_quote_loses_no_words(api: Api, jake: Account) -> None:
    write(api, jake, "Say hello to the dragon")
    write(api, jake, "Hello")
    assert found(api, 'dragon "hello') == ["Say hello to the dragon"]
    assert found(api, 'hello" dragon') == ["Say hello to the dragon"]
    assert found(api, '"say hello') == ["Say hello to the dragon"]


def test_punctuation_and_engine_syntax_are_only_separators(api: Api, jake: Account) -> None:
    write(api, jake, "Near the title", body="x:y")
    assert found(api, "NEAR(title)") == ["Near the title"]
    assert found(api, "title:near") == ["Near the title"]
    assert found(api, "near* ^title") == ["Near the title"]
    assert found(api, "near & title | x") == ["Near the title"]


def test_filters_combine_with_q(api: Api, jake: Account) -> None:
    amy = api.register("amy")
    mine = write(api, jake, "Dragon by jake", tagList=["zoo"])
    write(api, jake, "Dragon untagged")
    write(api, amy, "Dragon by amy", tagList=["zoo"])
    write(api, amy, "Cat by amy", tagList=["zoo"])
    api.favorite(amy, mine)
    assert sorted(found(api, "dragon", tag="zoo")) == ["Dragon by amy", "Dragon by jake"]
    assert sorted(found(api, "dragon", author="jake")) == ["Dragon by jake", "Dragon untagged"]
    assert found(api, "dragon", favorited="amy") == ["Dragon by jake"]
    assert found(api, "dragon", tag="zoo", author="amy") == ["Dragon by amy"]
    assert found(api, "dragon", tag="nothing") == []


def test_the_feed_searches_the_followed_authors_only(api: Api, jake: Account) -> None:
    amy, bob = api.register("amy"), api.register("bob")
    api.follow(jake, amy)
    write(api, amy, "Dragon by amy")
    write(api, amy, "Cat by amy")
    write(api, bob, "Dragon by bob")
    assert found(api, "dragon", jake, path="/api/articles/feed") == ["Dragon by amy"]
    r = api.client.get("/api/articles/feed", params={"q": "dragon"})
    assert r.status_code == 401


def test_count_offset_limit_and_links_work_with_q(api: Api, jake: Account) -> None:
    for n in range(5):
        write(api, jake, f"Dragon {n}")
    write(api, jake, "Cat")
    r = api.client.get("/api/articles", params={"q": "dragon", "limit": 2, "offset": 2})
    body = r.json()
    assert body["articlesCount"] == 5
    assert [a["title"] for a in body["articles"]] == ["Dragon 2", "Dragon 1"]
    links = r.headers["Link"]
    assert 'q=dragon&limit=2&offset=4>; rel="next"' in links
    assert 'q=dragon&limit=2&offset=0>; rel="prev"' in links


def test_edits_are_found_by_the_very_next_search(api: Api, jake: Account) -> None:
    slug = write(api, jake, "Plain title", tagList=["old"])
    edit = {"title": "Wyvern", "description": "Griffin", "body": "Basilisk", "tagList": ["hydra"]}
    for field, value in edit.items():
        r = api.client.put(
            f"/api/articles/{slug}", json={"article": {field: value}}, headers=jake.headers
        )
        assert r.status_code == 200, r.text
        slug = r.json()["article"]["slug"]
        word = value if isinstance(value, str) else value[0]
        assert found(api, word) == [r.json()["article"]["title"]], field
    assert found(api, "old") == []
    assert found(api, "plain") == []


def test_a_deleted_article_is_gone_from_the_very_next_search(api: Api, jake: Account) -> None:
    slug = write(api, jake, "Dragon to delete", tagList=["doomed"])
    write(api, jake, "Dragon to keep")
    assert api.client.delete(f"/api/articles/{slug}", headers=jake.headers).status_code == 204
    assert found(api, "dragon") == ["Dragon to keep"]
    assert found(api, "doomed") == []


@pytest.mark.parametrize("q", ["", " ", "\t", "\u3000\u200b", "x" * 201])
def test_a_blank_or_too_long_q_is_422(api: Api, q: str) -> None:
    for path in ("/api/articles", "/api/articles/feed"):
        jake = api.register()
        r = api.client.get(path, params={"q": q}, headers=jake.headers)
        assert "q" in assert_problem(r, 422)["errors"]


def test_200_characters_are_enough(api: Api, jake: Account) -> None:
    write(api, jake, "Dragon")
    assert found(api, "dragon " + "x" * 193) == []
    assert found(api, "dragon or " + "x" * 190) == ["Dragon"]


HOSTILE = [
    '"', '""', '"""', '"dragon', 'dragon"', '" dragon "', "'", "''", "'; DROP TABLE articles; --",
    "1' OR '1'='1", "1; SELECT pg_sleep(10)", "NEAR(", "NEAR(dragon cat)", "NEAR(a b, 2)",
    "a:*", "dragon:*", "<->", "<2>", "a <-> b", "&", "|", "!", "!!", "a & b | !c", "*", "^",
    "^dragon", "dragon*", "title:dragon", "body:x", "{title body}:x", "- dragon", "--", "-",
    "-\"\"", "or", "OR", "or or", "AND", "NOT", "a NOT b", "(", ")", "((a)", "a)", ":",
    "\\", "\\\\\"", "%", "_", "%_", "\x01\x02", "a\x7fb", "e\u0301", "\u0301\u0301",
    "\u202eevil\u202c", "\u200f\u200e", "\ufeffbom", "😀", "🐉 dragon", "中文", "日本語のテキスト",
    "한국어", "عربى", "עברית", "Ω≈ç√", "ﬁ", "\ud7ff", "\U0010fffd", "null", "NULL", "undefined",
    "${jndi:ldap://x}", "<script>alert(1)</script>", "%00", "a\u2028b", "a\nb",
    "\U0001d56f\U0001d597",
]  # fmt: skip


@pytest.mark.parametrize("q", HOSTILE)
def test_hostile_text_is_200_or_422_never_5xx(api: Api, q: str) -> None:
    jake = api.register()
    write(api, jake, "Dragon")
    for path in ("/api/articles", "/api/articles/feed"):
        r = api.client.get(path, params={"q": q}, headers=jake.headers)
        assert r.status_code in (200, 422), (q, r.status_code, r.text)
        if r.status_code == 200:
            assert r.json()["articlesCount"] == len(r.json()["articles"])


def test_there_are_at_least_40_hostile_strings() -> None:
    assert len(set(HOSTILE)) >= 40


def test_a_nul_is_refused_before_any_engine_sees_it(api: Api) -> None:
    assert "q" in assert_problem(api.client.get("/api/articles?q=a%00b"), 422)["errors"]


# --- the SQLite translation, on its own -------------------------------------------------------


@pytest.mark.parametrize(
    ("q", "match", "exclude"),
    [
        ("dragons", '"dragons"', None),
        ("red dragons", '"red" AND "dragons"', None),
        ('"red dragons"', '"red dragons"', None),
        ("a b or c", '("a" AND "b") OR ("c")', None),
        ("a -b", '"a" NOT "b"', None),
        ("-a -b", None, '"a" OR "b"'),
        ("a or -b", '"a"', '"b"'),
        ('say "hi', '"say" AND "hi"', None),
        ('a"b', '"a" AND "b"', None),
        ('x""y', '"x" AND "y"', None),
        ("NEAR( title:x", '"NEAR" AND "title" AND "x"', None),
        ("-foo:bar baz", '"baz" NOT "foo:bar"', None),
        ('"NEAR(a b)"', '"NEAR(a b)"', None),
        ("*** & |", None, None),
    ],
)
def test_translation_quotes_every_term(q: str, match: str | None, exclude: str | None) -> None:
    assert search.translate(q) == search.Fts5Query(match, exclude)


def test_a_quote_inside_a_term_is_doubled() -> None:
    assert search._quoted('a"b') == '"a""b"'
    assert search.translate("-it's") == search.Fts5Query(None, '"it\'s"')


@pytest.fixture(scope="module")
def fts5() -> sqlite3.Connection:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE t USING fts5(title, body, tokenize='porter unicode61')")
    db.execute("INSERT INTO t VALUES ('dragons and cats', 'a \"quoted\" body')")
    return db


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=60))
def test_no_text_is_read_as_fts5_syntax(fts5: sqlite3.Connection, q: str) -> None:
    """Whatever is typed, FTS5 parses the translation without an error."""
    translated = search.translate(q)
    for expression in (translated.match, translated.exclude):
        if expression is not None:
            fts5.execute("SELECT rowid FROM t WHERE t MATCH ?", (expression,)).fetchall()


def test_a_search_page_reads_its_matches_once(
    api: Api, engine: Engine, connection: Connection, jake: Account
) -> None:
    """A page of a search ranks its matches and counts them in one scan of the search index: a
    common word matches a fifth of all articles, and a second scan would double its cost."""
    for n in range(3):
        write(api, jake, f"Dragon {n}")
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        seen.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert len(found(api, "dragon", limit=2)) == 2
    finally:
        event.remove(engine, "before_cursor_execute", record)
    statement, parameters = next((s, p) for s, p in seen if " AS total" in s)
    if connection.dialect.name == "postgresql":
        # as on a large table, where the index is the way to the matches (this one is tiny)
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        plan = connection.exec_driver_sql(f"EXPLAIN {statement}", parameters).scalars().all()
        scans = [line for line in plan if "ix_articles_search" in line]
    else:
        plan = connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters).all()
        scans = [row[3] for row in plan if "articles_fts VIRTUAL TABLE" in row[3]]
    assert len(scans) == 1, plan


def test_a_new_tagged_article_is_indexed_with_its_tags(
    api: Api, connection: Connection, jake: Account
) -> None:
    """On PostgreSQL a create writes the article's `tags_text` itself, so linking its tags
    updates no row (the statement-level trigger finds the text current) and the tsvector is made
    once. SQLite's triggers are row-level: they rewrite it once per link, each seeing the links
    so far, and end where the create would have."""
    if connection.dialect.name == "postgresql":
        updates = text("SELECT n_tup_upd FROM pg_stat_xact_user_tables WHERE relname = 'articles'")
    else:
        connection.exec_driver_sql("CREATE TEMP TABLE updated (id INTEGER)")
        connection.exec_driver_sql(
            "CREATE TEMP TRIGGER count_updates AFTER UPDATE ON main.articles"
            " BEGIN INSERT INTO updated VALUES (new.id); END"
        )
        updates = text("SELECT count(*) FROM updated")
    before = connection.execute(updates).scalar() or 0
    write(api, jake, "Tagged", tagList=["zebra", "ant", "moth"])
    rewrites = 0 if connection.dialect.name == "postgresql" else 3
    assert (connection.execute(updates).scalar() or 0) - before == rewrites
    assert found(api, "moth") == ["Tagged"]
    tags_text = connection.execute(text("SELECT tags_text FROM articles")).scalar_one()
    assert tags_text == "ant moth zebra"


def test_changed_tags_are_indexed(api: Api, jake: Account) -> None:
    slug = write(api, jake, "Retagged", tagList=["ant"])
    r = api.client.put(
        f"/api/articles/{slug}",
        json={"article": {"tagList": ["wasp"]}},
        headers=jake.headers,
    )
    assert r.status_code == 200, r.text
    assert found(api, "wasp") == ["Retagged"]
    assert found(api, "ant") == []
