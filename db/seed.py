"""A deterministic demo dataset, bulk-inserted through SQLAlchemy: `python -m cli seed`.

The default shape is the benchmark's: 50 users each following 10 others, 1,000 articles
(3 tags each from a pool of 30, bodies of about 2 KB), 3,000 favourites and 2,000 comments.
Users are `userNN` with password `password-NN` and email `userNN@example.com`.
"""

from __future__ import annotations

import argparse
import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from argon2 import PasswordHasher
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session
from tqdm import tqdm

from db.models import Article, ArticleTag, Comment, Favorite, Follow, Tag, User, utcnow
from db.session import make_engine

TAG_POOL = [
    "python", "rust", "golang", "java", "kotlin", "swift", "haskell", "elixir", "ruby", "scala",
    "databases", "postgres", "sqlite", "caching", "testing", "devops", "linux", "security",
    "networking", "frontend", "backend", "design", "performance", "concurrency", "compilers",
    "cloud", "career", "opensource", "tutorial", "architecture",
]  # fmt: skip
WORDS = [
    "lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit", "sed", "do",
    "eiusmod", "tempor", "labore", "magna", "aliqua", "server", "request", "response", "latency",
    "throughput", "cache", "index", "query", "database", "table", "column", "row", "worker",
    "process", "thread", "socket", "kernel", "memory", "buffer", "queue",
]  # fmt: skip
BATCH = 5000
_SYLLABLES = [c + v for c in "bcdfghjklmnprstvz" for v in "aeiou"] + ["qu" + v for v in "aei"]


def vocabulary(size: int, seed: int = 1) -> list[str]:
    """`size` distinct words, the 35 of WORDS first, then made-up ones of two or three
    syllables, most frequent first (text() draws them by Zipf's law, as words in prose go)."""
    rnd = random.Random(seed)  # noqa: S311 - demo data, deterministic on purpose
    words = list(WORDS)
    known = set(words)
    while len(words) < size:
        word = "".join(rnd.choice(_SYLLABLES) for _ in range(rnd.choice((2, 3, 3))))
        if word not in known:
            known.add(word)
            words.append(word)
    return words[:size]


@dataclass(frozen=True)
class Shape:
    users: int = 50
    follows: int = 10
    articles: int = 1000
    tags_per_article: int = 3
    favorites: int = 3000
    comments: int = 2000
    body_chars: int = 2000
    prefix: str = ""
    seed: int = 1
    # 0: the 35 WORDS, drawn evenly; more: that many words drawn by Zipf's law with exponent
    # 1.2 (a search benchmark's text, where some words are in most articles and most in few)
    vocabulary: int = 0

    def scaled(self, factor: float) -> Shape:
        """More articles, favourites and comments; the same users and follows."""
        return replace(
            self,
            articles=int(self.articles * factor),
            favorites=int(self.favorites * factor),
            comments=int(self.comments * factor),
        )


def parse(argv: Sequence[str]) -> Shape:
    p = argparse.ArgumentParser(prog="python -m cli seed", description=__doc__)
    p.add_argument("--users", type=int, default=Shape.users)
    p.add_argument("--follows", type=int, default=Shape.follows, help="per user")
    p.add_argument("--articles", type=int, default=Shape.articles)
    p.add_argument("--favorites", type=int, default=Shape.favorites)
    p.add_argument("--comments", type=int, default=Shape.comments)
    p.add_argument(
        "--scale", type=float, default=1.0, help="multiply articles, favourites, comments"
    )
    p.add_argument("--prefix", default="", help="prefix of usernames, e.g. bench")
    p.add_argument(
        "--vocabulary", type=int, default=0, help="words in the text, by Zipf's law (0: 35, even)"
    )
    p.add_argument("--seed", type=int, default=1)
    a = p.parse_args(argv)
    if a.users < 2 or min(a.articles, a.favorites, a.comments, a.follows) < 0:
        p.error("sizes must not be negative, and there must be at least 2 users")
    return Shape(
        users=a.users,
        follows=min(a.follows, a.users - 1),
        articles=a.articles,
        favorites=a.favorites,
        comments=a.comments,
        prefix=a.prefix,
        seed=a.seed,
        vocabulary=a.vocabulary,
    ).scaled(a.scale)


def seed(engine: Engine, shape: Shape, *, progress: bool = True) -> dict[str, int]:
    """Insert the dataset into an empty database; returns what was inserted, per table.

    It commits batch by batch: an interrupted seed leaves a partial dataset, which the next
    seed refuses like any other data (start again from an empty database)."""
    rnd = random.Random(shape.seed)  # noqa: S311 - demo data, deterministic on purpose
    words = _Words(shape.vocabulary, shape.seed)
    with Session(engine) as s:
        if s.scalar(select(func.count()).select_from(User)):
            raise SystemExit("the database already has users; seed an empty one")
        start = utcnow() - timedelta(seconds=shape.articles + 1)
        hasher = PasswordHasher()
        total = shape.users * (2 + shape.follows) + shape.articles * (1 + shape.tags_per_article)
        bar = tqdm(total=total + shape.favorites + shape.comments, unit="row", disable=not progress)
        users = [
            {
                "username": f"{shape.prefix}user{i:02d}",
                "email": f"{shape.prefix}user{i:02d}@example.com",
                "password_hash": hasher.hash(f"password-{i:02d}"),
                "bio": f"I am user {i}",
                "image": None,
                "created_at": start,
                "updated_at": start,
            }
            for i in range(shape.users)
        ]
        bar.update(shape.users)  # hashing is the slow part of users
        user_ids = list(s.scalars(insert(User).returning(User.id), users))
        bar.update(shape.users)
        follows = [
            {"follower_id": u, "followee_id": f}
            for u in user_ids
            for f in rnd.sample([o for o in user_ids if o != u], shape.follows)
        ]
        _bulk(s, Follow, follows, bar)
        named = insert(Tag).returning(Tag.id, sort_by_parameter_order=True)
        tag_ids = list(s.scalars(named, [{"name": n} for n in TAG_POOL]))

        # drawn in the order they always were (every article, then every article's tags), so
        # that a seed gives the same dataset as before
        rows = [
            _article(rnd, words, k, user_ids, start, shape.body_chars)
            for k in range(shape.articles)
        ]
        tagged = [rnd.sample(range(len(tag_ids)), shape.tags_per_article) for _ in rows]
        for row, picked in zip(rows, tagged, strict=True):
            # as the links' trigger makes it (migration 0007), so that linking changes no row
            row["tags_text"] = " ".join(sorted(TAG_POOL[i] for i in picked))
        article_ids: list[int] = []
        for chunk in _chunks(rows, BATCH):
            added = insert(Article).returning(Article.id, sort_by_parameter_order=True)
            article_ids += s.scalars(added, chunk)
            s.commit()
            bar.update(len(chunk))
        # each batch of articles' links in one statement: PostgreSQL's statement-level trigger
        # then sees every link of an article at once and finds its tags_text current (a row at
        # a time, as executemany sends them, it would rewrite each article once per tag)
        links = 0
        for chunk in _chunks(list(zip(article_ids, tagged, strict=True)), BATCH):
            linked = [
                {"article_id": a, "tag_id": tag_ids[i]} for a, picked in chunk for i in picked
            ]
            s.execute(insert(ArticleTag).values(linked))
            s.commit()
            bar.update(len(linked))
            links += len(linked)
        favorites = _distinct_pairs(rnd, article_ids, user_ids, shape.favorites)
        _bulk(s, Favorite, favorites, bar)
        comments = [
            {
                "article_id": rnd.choice(article_ids),
                "author_id": rnd.choice(user_ids),
                "body": words.text(rnd, rnd.randint(80, 400)),
                "created_at": start + timedelta(seconds=shape.articles, milliseconds=i),
                "updated_at": start + timedelta(seconds=shape.articles, milliseconds=i),
            }
            for i in range(shape.comments)
        ]
        _bulk(s, Comment, comments, bar)
        s.commit()
        bar.close()
    return {
        "users": len(user_ids),
        "follows": len(follows),
        "articles": len(article_ids),
        "favorites": len(favorites),
        "comments": len(comments),
    }


class _Words:
    """The text generator: the 35 WORDS drawn evenly (the benchmark's lists, as ever), or a
    vocabulary drawn by Zipf's law: word n of it is drawn in proportion to n ** -1.2."""

    def __init__(self, size: int, seed: int) -> None:
        self.words = vocabulary(size, seed) if size else WORDS
        self.weights = (
            list(itertools.accumulate(1 / n for n in range(1, size + 1))) if size else None
        )

    def pick(self, rnd: random.Random) -> str:
        if self.weights is None:
            return rnd.choice(self.words)
        return rnd.choices(self.words, cum_weights=self.weights)[0]

    def text(self, rnd: random.Random, chars: int) -> str:
        words: list[str] = []
        length = 0
        while length < chars:
            words.append(self.pick(rnd))
            length += len(words[-1]) + 1
        return " ".join(words)[:chars].strip().capitalize() + "."


def _article(
    rnd: random.Random, words: _Words, k: int, user_ids: list[int], start: Any, body_chars: int
) -> dict[str, Any]:
    created = start + timedelta(seconds=k)  # one a second: a stable, distinct order
    title = f"a{k:05d} " + " ".join(words.pick(rnd) for _ in range(4))
    return {
        "slug": title.replace(" ", "-"),
        "title": title,
        "description": words.text(rnd, 120),
        "body": words.text(rnd, body_chars),
        "author_id": user_ids[k % len(user_ids)],
        "created_at": created,
        "updated_at": created,
    }


def _distinct_pairs(
    rnd: random.Random, article_ids: list[int], user_ids: list[int], n: int
) -> list[dict[str, int]]:
    n = min(n, len(article_ids) * len(user_ids))
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < n:
        pairs.add((rnd.choice(article_ids), rnd.choice(user_ids)))
    return [{"article_id": a, "user_id": u} for a, u in sorted(pairs)]


def _bulk(s: Session, model: type[Any], rows: list[dict[str, Any]], bar: Any) -> None:
    for chunk in _chunks(rows, BATCH):
        s.execute(insert(model), chunk)
        # a transaction per batch: the counter triggers update the same few rows (tags, users)
        # once per statement, and in one long transaction PostgreSQL can prune none of those
        # row versions, so every foreign-key check behind them gets slower (quadratic overall)
        s.commit()
        bar.update(len(chunk))


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def main(settings: Any, argv: Sequence[str]) -> None:
    shape = parse(argv)
    engine = make_engine(settings.database_url)
    counts = seed(engine, shape)
    engine.dispose()
    print(", ".join(f"{n} {what}" for what, n in counts.items()))
