"""The counts behind `articlesCount` are kept by the database and always equal the rows."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, delete, func, insert, select, text
from sqlalchemy.orm import Session

from db import articles, migrate
from db.models import Article, ArticleTag, Counter, Favorite, Tag, User, utcnow
from tests.conftest import migrated_engine


def _rows(connection: Connection) -> dict[str, Any]:
    """What the counters should say, counted from the rows themselves."""

    def per(column: Any) -> dict[int, int]:
        counted = connection.execute(select(column, func.count()).group_by(column))
        return dict(counted.all())

    return {
        "articles": connection.scalar(select(func.count()).select_from(Article)),
        "by author": per(Article.author_id),
        "favourited by": per(Favorite.user_id),
        "with tag": per(ArticleTag.tag_id),
    }


def _kept(connection: Connection) -> dict[str, Any]:
    """What the counters say; zero counts are left out, as a GROUP BY leaves them out."""
    users = connection.execute(select(User.id, User.articles_count, User.favorites_count)).all()
    tags = connection.execute(select(Tag.id, Tag.articles_count)).all()
    return {
        "articles": connection.scalar(
            select(func.sum(Counter.value)).where(Counter.name == "articles")
        ),
        "by author": {u.id: u.articles_count for u in users if u.articles_count},
        "favourited by": {u.id: u.favorites_count for u in users if u.favorites_count},
        "with tag": {t.id: t.articles_count for t in tags if t.articles_count},
    }


def _users(connection: Connection, *names: str) -> list[int]:
    now = utcnow()
    rows = [
        {"username": n, "email": f"{n}@example.com", "password_hash": "x", "created_at": now,
         "updated_at": now}
        for n in names
    ]  # fmt: skip
    return list(connection.scalars(insert(User).returning(User.id), rows))


@pytest.fixture
def session(connection: Connection) -> Iterator[Session]:
    with Session(bind=connection, join_transaction_mode="create_savepoint") as s:
        yield s


def test_every_change_keeps_the_counters_exact(connection: Connection, session: Session) -> None:
    anna, bob, cleo = _users(connection, "anna", "bob", "cleo")

    def check() -> None:
        session.flush()
        assert _kept(connection) == _rows(connection)

    made = [
        articles.by_slug(session, articles.create(
            session, author_id=author, title=f"t{i}", description="d", body="b",
            tags=["dragons", f"tag{i % 3}"],
        ).slug)
        for i, author in enumerate([anna, anna, bob, bob, cleo])
    ]  # fmt: skip
    check()
    assert _kept(connection)["articles"] == 5
    for article in made[:4]:
        articles.favorite_card(session, article.slug, cleo, favorite=True)
    articles.favorite_card(session, made[0].slug, bob, favorite=True)
    articles.favorite_card(session, made[0].slug, bob, favorite=True)  # twice is once
    check()
    articles.favorite_card(session, made[1].slug, cleo, favorite=False)
    articles.favorite_card(session, made[1].slug, cleo, favorite=False)  # twice is once
    check()
    articles.update(session, made[2], {"tagList": ["tag0", "fresh"]})
    check()
    articles.delete_article(
        session, made[0], by=made[0].author_id
    )  # its tags and favourites go too (cascade)
    check()
    # a bulk statement is counted too, however many rows it has
    session.execute(insert(Favorite), [{"article_id": a.id, "user_id": anna} for a in made[1:]])
    check()
    session.execute(delete(User).where(User.id == bob))  # articles, favourites: all cascade
    check()
    assert _kept(connection)["articles"] == 2


@pytest.fixture
def engine_at_0001(fresh_database: str) -> Iterator[Engine]:
    with migrated_engine(fresh_database) as engine:
        with engine.begin() as conn:
            migrate.downgrade(conn, "0001")
        yield engine


def test_the_migration_counts_existing_rows(engine_at_0001: Engine) -> None:
    with engine_at_0001.begin() as conn:
        anna, bob = _users(conn, "anna", "bob")
        now = utcnow()
        ids = list(
            conn.scalars(
                insert(Article).returning(Article.id),
                [
                    {"slug": f"s{i}", "title": "t", "description": "d", "body": "b",
                     "author_id": anna if i % 3 else bob, "created_at": now, "updated_at": now}
                    for i in range(7)
                ],
            )
        )  # fmt: skip
        tag = conn.scalar(insert(Tag).values(name="dragons").returning(Tag.id))
        conn.execute(insert(ArticleTag), [{"article_id": i, "tag_id": tag} for i in ids[:4]])
        conn.execute(insert(Favorite), [{"article_id": i, "user_id": bob} for i in ids[2:]])
        migrate.upgrade(conn)
        kept = _kept(conn)
        assert kept == _rows(conn)
        assert kept["articles"] == 7
        assert kept["with tag"] == {tag: 4}


@pytest.mark.parametrize("fresh_database", ["postgresql"], indirect=True)
def test_creates_on_two_connections_do_not_wait_for_each_other(fresh_database: str) -> None:
    """Each session adds to its own slot of the total (migration 0006): while one create is
    still open, another on a connection with another slot goes through at once, and the total
    counts both. Before, the second waited on the one row of the total until the first ended.
    (Creates by one author, or with a tag in common, still take turns on that author's or
    tag's count.)"""
    with migrated_engine(fresh_database) as engine:
        with engine.begin() as conn:
            anna, bob = _users(conn, "anna", "bob")
        first, second = Session(engine), Session(engine)
        slot = func.pg_backend_pid() % articles.COUNTER_SLOTS
        while first.scalar(select(slot)) == second.scalar(select(slot)):
            second.close()  # the same slot: try another backend
            second = Session(engine)
        try:
            made = {"description": "d", "body": "b"}
            articles.create(first, author_id=anna, title="First", tags=["dragons"], **made)
            second.execute(text("SET LOCAL lock_timeout = '2s'"))
            articles.create(second, author_id=bob, title="Second", tags=["elves"], **made)
            second.commit()
            first.commit()
        finally:
            first.close()
            second.close()
        with engine.connect() as conn:
            assert _kept(conn) == _rows(conn)
            assert _kept(conn)["articles"] == 2
