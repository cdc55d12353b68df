"""The demo dataset: bulk-inserted through the db layer, then served by the API as it should be."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, text

from app import create_app
from db.seed import WORDS, Shape, parse, seed, vocabulary
from tests.conftest import migrated_engine
from tests.helpers import app_settings

SHAPE = Shape(users=6, follows=2, articles=30, favorites=40, comments=25, body_chars=300)


@pytest.fixture
def empty_engine(fresh_database: str) -> Iterator[Engine]:
    with migrated_engine(fresh_database) as engine:
        yield engine


def test_seeded_data_is_what_the_shape_says(empty_engine: Engine) -> None:
    counts = seed(empty_engine, SHAPE, progress=False)
    assert counts == {"users": 6, "follows": 12, "articles": 30, "favorites": 40, "comments": 25}
    settings = app_settings(str(empty_engine.url))
    with create_app(settings, bind=empty_engine).test_client() as client:
        listed = client.get("/api/articles?limit=100").json()
        assert listed["articlesCount"] == 30
        stamps = [a["createdAt"] for a in listed["articles"]]
        assert stamps == sorted(stamps, reverse=True)
        assert all(len(a["tagList"]) == 3 for a in listed["articles"])
        assert sum(a["favoritesCount"] for a in listed["articles"]) == 40
        assert len(client.get("/api/tags").json()["tags"]) <= 30
        # the seeded users can log in with the documented passwords
        login = {"user": {"email": "user03@example.com", "password": "password-03"}}
        token = client.post("/api/users/login", json=login).json()["user"]["token"]
        feed = client.get("/api/articles/feed", headers={"Authorization": f"Token {token}"})
        assert feed.status_code == 200
        assert 0 < feed.json()["articlesCount"] < 30


def test_seed_refuses_a_database_with_users(empty_engine: Engine) -> None:
    seed(
        empty_engine, Shape(users=2, follows=1, articles=1, favorites=1, comments=1), progress=False
    )
    with pytest.raises(SystemExit, match="already has users"):
        seed(empty_engine, SHAPE, progress=False)


def test_options_scale_the_shape() -> None:
    shape = parse(["--users", "10", "--articles", "100", "--scale", "3", "--follows", "50"])
    assert (shape.users, shape.articles, shape.favorites, shape.comments) == (10, 300, 9000, 6000)
    assert shape.follows == 9  # never more than the other users


def test_bad_options_are_refused(capsys: Any) -> None:
    with pytest.raises(SystemExit):
        parse(["--users", "1"])
    assert "at least 2 users" in capsys.readouterr().err


def test_a_vocabulary_is_distinct_words_the_old_ones_first() -> None:
    words = vocabulary(30_000)
    assert len(set(words)) == 30_000
    assert words[: len(WORDS)] == WORDS
    assert all(w.isalpha() and w.islower() for w in words)
    assert vocabulary(30_000) == words  # deterministic: both databases get the same text


def test_text_from_a_vocabulary_follows_zipf(empty_engine: Engine) -> None:
    """The search benchmark's text: a head of words in many articles, a tail in few."""
    seed(empty_engine, Shape(users=2, follows=1, articles=300, favorites=0, comments=0,
                             body_chars=600, vocabulary=5_000), progress=False)  # fmt: skip
    with empty_engine.connect() as conn:
        bodies = conn.execute(text("SELECT body FROM articles")).scalars().all()
    counts = Counter(word.strip(".").lower() for body in bodies for word in body.split())
    ranked = [n for _, n in counts.most_common()]
    assert len(counts) > 1_000  # far more than the 35 words of the lists' dataset
    assert ranked[0] > 50 * ranked[len(ranked) // 2]
    assert ranked[-1] <= 2


def test_without_a_vocabulary_the_text_is_the_35_words(empty_engine: Engine) -> None:
    seed(empty_engine, Shape(users=2, follows=1, articles=50, favorites=0, comments=0),
         progress=False)  # fmt: skip
    with empty_engine.connect() as conn:
        bodies = conn.execute(text("SELECT body FROM articles")).scalars().all()
    # every word but each body's last, which is cut where the body reaches its length
    words = {word.lower() for body in bodies for word in body.split()[:-1]}
    assert words <= set(WORDS)


def test_seeded_articles_carry_their_tags_text_and_are_written_once(empty_engine: Engine) -> None:
    """The seeder writes `tags_text` with the article, as a create does, so linking the tags
    rewrites no article: on PostgreSQL no live article row was written by the transaction that
    linked its tags (a rewrite would leave a dead copy of every row, tsvector and all)."""
    seed(empty_engine, SHAPE, progress=False)
    names = (
        "SELECT articles.id, articles.tags_text, tags.name FROM articles"
        " JOIN article_tags ON article_tags.article_id = articles.id"
        " JOIN tags ON tags.id = article_tags.tag_id"
    )
    with empty_engine.connect() as conn:
        tags: dict[tuple[int, str], list[str]] = {}
        for article, tags_text, name in conn.execute(text(names)):
            tags.setdefault((article, tags_text), []).append(name)
        assert len(tags) == SHAPE.articles
        assert all(text_ == " ".join(sorted(n)) for (_, text_), n in tags.items())
        if empty_engine.dialect.name == "postgresql":
            rewritten = conn.execute(
                text("SELECT count(*) FROM articles WHERE xmin IN (SELECT xmin FROM article_tags)")
            ).scalar_one()
            assert rewritten == 0
