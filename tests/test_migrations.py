"""Alembic creates the schema; the models and the newest migration never disagree."""

from __future__ import annotations

from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, delete, insert, inspect, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import articles, migrate
from db.articles import Filters
from db.models import Article, AuditEntry, Base, Comment, Favorite, Follow, Tag, User, utcnow


def test_models_and_migrations_agree(connection: Connection) -> None:
    context = MigrationContext.configure(
        connection, opts={"compare_type": True, "include_name": migrate.include_name}
    )
    assert compare_metadata(context, Base.metadata) == []


def test_downgrade_to_nothing_and_back(connection: Connection) -> None:
    migrate.downgrade(connection, "base")
    assert set(inspect(connection).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(connection)
    assert set(Base.metadata.tables) <= set(inspect(connection).get_table_names())


def _indexed_prefixes(connection: Connection, table: str) -> set[tuple[str, ...]]:
    """Column lists usable by an index: every index, unique constraint and the primary key."""
    insp = inspect(connection)
    found = [tuple(str(c) for c in i["column_names"]) for i in insp.get_indexes(table)]
    found += [tuple(u["column_names"]) for u in insp.get_unique_constraints(table)]
    found.append(tuple(insp.get_pk_constraint(table)["constrained_columns"]))
    return {cols[:n] for cols in found for n in range(1, len(cols) + 1)}


@pytest.mark.parametrize(
    ("table", "columns"),
    [
        ("articles", ("created_at", "id")),  # the global list, newest first
        ("articles", ("author_id", "created_at", "id")),  # author filter, feed
        ("articles", ("slug",)),
        ("article_tags", ("tag_id", "article_id")),  # tag filter
        ("article_tags", ("article_id",)),  # tags of a page of articles
        ("tags", ("name",)),
        ("favorites", ("user_id", "article_id")),  # favorited filter
        ("favorites", ("article_id",)),  # favourite counts
        ("follows", ("follower_id", "followee_id")),  # feed, following flags
        ("follows", ("followee_id",)),
        ("comments", ("article_id", "created_at", "id")),  # comments, oldest first
        ("users", ("username",)),
        ("users", ("email",)),
        ("audit_log", ("created_at", "id")),  # the audit log, newest first
        ("article_slugs", ("slug",)),  # an article by a slug it had before
        ("article_slugs", ("article_id",)),  # its old slugs go with it
        ("idempotency_keys", ("user_id", "key")),  # a user's key
        ("idempotency_keys", ("expires_at",)),  # purging what expired
    ],
)
def test_every_filter_join_and_sort_has_an_index(
    connection: Connection, table: str, columns: tuple[str, ...]
) -> None:
    assert columns in _indexed_prefixes(connection, table)


def _user(connection: Connection, name: str) -> int:
    now = utcnow()
    row = {"username": name, "email": f"{name}@example.com", "password_hash": "x"}
    result = connection.execute(
        insert(User).values(**row, created_at=now, updated_at=now).returning(User.id)
    )
    return int(result.scalar_one())


def _article(connection: Connection, author: int, slug: str) -> int:
    now = utcnow()
    values = {"slug": slug, "title": slug, "description": "d", "body": "b", "author_id": author}
    result = connection.execute(
        insert(Article).values(**values, created_at=now, updated_at=now).returning(Article.id)
    )
    return int(result.scalar_one())


def _refused(connection: Connection, statement: Any) -> bool:
    try:
        with connection.begin_nested():
            connection.execute(statement)
    except IntegrityError:
        return True
    return False


def test_unique_constraints(connection: Connection) -> None:
    jake, anna = _user(connection, "jake"), _user(connection, "anna")
    article = _article(connection, jake, "a-slug")
    now = utcnow()
    dup_user = insert(User).values(
        username="jake", email="other@example.com", password_hash="x", created_at=now,
        updated_at=now,
    )  # fmt: skip
    dup_email = insert(User).values(
        username="other", email="jake@example.com", password_hash="x", created_at=now,
        updated_at=now,
    )  # fmt: skip
    assert _refused(connection, dup_user)
    assert _refused(connection, dup_email)
    assert _refused(
        connection,
        insert(Article).values(
            slug="a-slug", title="t", description="d", body="b", author_id=anna, created_at=now,
            updated_at=now,
        ),
    )  # fmt: skip
    connection.execute(insert(Follow).values(follower_id=jake, followee_id=anna))
    assert _refused(connection, insert(Follow).values(follower_id=jake, followee_id=anna))
    connection.execute(insert(Favorite).values(article_id=article, user_id=anna))
    assert _refused(connection, insert(Favorite).values(article_id=article, user_id=anna))
    connection.execute(insert(Tag).values(name="dragons"))
    assert _refused(connection, insert(Tag).values(name="dragons"))


def test_foreign_keys_are_enforced(connection: Connection) -> None:
    jake = _user(connection, "jake")
    now = utcnow()
    orphan = insert(Comment).values(
        body="hi", article_id=999_999, author_id=jake, created_at=now, updated_at=now
    )
    assert _refused(connection, orphan)
    assert _refused(connection, insert(Follow).values(follower_id=jake, followee_id=999_999))


def test_following_yourself_is_refused_by_the_database(connection: Connection) -> None:
    jake = _user(connection, "jake")
    assert _refused(connection, insert(Follow).values(follower_id=jake, followee_id=jake))


def test_existing_users_become_plain_active_users(connection: Connection) -> None:
    """Migration 0003 on a database that already has users."""
    migrate.downgrade(connection, "0002")
    connection.execute(
        text(
            "INSERT INTO users (username, email, password_hash, created_at, updated_at)"
            " VALUES ('old', 'old@example.com', 'x', :now, :now)"
        ),
        {"now": utcnow()},
    )
    migrate.upgrade(connection)
    row = connection.execute(
        select(User.role, User.status, User.token_generation, User.suspension_reason).where(
            User.username == "old"
        )
    ).one()
    assert tuple(row) == ("user", "active", 0, None)


def test_roles_and_statuses_are_checked_by_the_database(connection: Connection) -> None:
    jake = _user(connection, "jake")
    assert _refused(connection, update(User).where(User.id == jake).values(role="root"))
    assert _refused(connection, update(User).where(User.id == jake).values(status="gone"))
    connection.execute(update(User).where(User.id == jake).values(role="moderator"))


def test_audit_entries_outlive_their_users(connection: Connection) -> None:
    boss, jake = _user(connection, "boss"), _user(connection, "jake")
    connection.execute(
        insert(AuditEntry).values(
            actor_id=boss, target_user_id=jake, action="user.suspend", created_at=utcnow()
        )
    )
    connection.execute(delete(User).where(User.id.in_([boss, jake])))
    row = connection.execute(select(AuditEntry.actor_id, AuditEntry.target_user_id)).one()
    assert tuple(row) == (None, None)


def _search(connection: Connection, q: str) -> list[str]:
    rows, total, _ = articles.page(
        Session(bind=connection), Filters(q=q), viewer_id=None, limit=20, offset=0
    )
    assert total == len(rows)
    return [row.title for row in rows]


def test_the_search_index_covers_the_articles_from_before_it(connection: Connection) -> None:
    """Migration 0007 on a database that already has tagged articles."""
    migrate.downgrade(connection, "0006")
    jake = _user(connection, "jake")
    now = {"now": utcnow(), "author": jake}
    for slug, title, tags in (("a", "Old dragons", ["zoo"]), ("b", "Old cats", ["wyvern", "ant"])):
        article = connection.execute(
            text(
                "INSERT INTO articles (slug, title, description, body, author_id, created_at,"
                " updated_at) VALUES (:slug, :title, 'd', 'b', :author, :now, :now) RETURNING id"
            ),
            {**now, "slug": slug, "title": title},
        ).scalar_one()
        for name in tags:
            tag = connection.execute(
                text("INSERT INTO tags (name) VALUES (:name) RETURNING id"), {"name": name}
            ).scalar_one()
            connection.execute(
                text("INSERT INTO article_tags (article_id, tag_id) VALUES (:a, :t)"),
                {"a": article, "t": tag},
            )
    migrate.upgrade(connection)
    assert _search(connection, "dragon") == ["Old dragons"]
    assert _search(connection, "wyvern") == ["Old cats"]
    assert sorted(_search(connection, "old")) == ["Old cats", "Old dragons"]
    tags_text = select(Article.tags_text).where(Article.slug == "b")
    assert connection.execute(tags_text).scalar_one() == "ant wyvern"


def test_the_search_index_goes_with_a_downgrade(connection: Connection) -> None:
    migrate.downgrade(connection, "0006")
    inspector = inspect(connection)
    assert "tags_text" not in {c["name"] for c in inspector.get_columns("articles")}
    assert "search" not in {c["name"] for c in inspector.get_columns("articles")}
    assert not [t for t in inspector.get_table_names() if t.startswith("articles_fts")]
    triggers = (
        "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
        if connection.dialect.name == "postgresql"
        else "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    )
    assert not [
        n for n in connection.execute(text(triggers)).scalars() if "fts" in n or "text" in n
    ]
    migrate.upgrade(connection)
    assert "tags_text" in {c["name"] for c in inspect(connection).get_columns("articles")}


def test_postgresql_searches_through_the_gin_index(connection: Connection) -> None:
    dialect = connection.dialect.name
    if dialect == "postgresql":
        connection.execute(text("SET LOCAL enable_seqscan = off"))
        plan = connection.execute(
            text(
                "EXPLAIN SELECT id FROM articles"
                " WHERE search @@ websearch_to_tsquery('english', 'dragon')"
            )
        ).scalars()
        assert "ix_articles_search" in "\n".join(plan)
    else:
        steps = connection.execute(
            text("EXPLAIN QUERY PLAN SELECT rowid FROM articles_fts WHERE articles_fts MATCH 'x'")
        ).all()
        assert "VIRTUAL TABLE INDEX" in str(steps)


def test_postgresql_keeps_the_search_vector_in_the_row(connection: Connection) -> None:
    """Migration 0008: `main` storage on PostgreSQL, and back to `extended` on a downgrade; on
    SQLite it changes nothing."""
    if connection.dialect.name == "postgresql":
        storage = text(
            "SELECT attstorage FROM pg_attribute"
            " WHERE attrelid = 'articles'::regclass AND attname = 'search'"
        )
    else:
        storage = text("SELECT group_concat(sql, ';') FROM sqlite_master ORDER BY name")
    at_head = connection.execute(storage).scalar_one()
    migrate.downgrade(connection, "0007")
    before = connection.execute(storage).scalar_one()
    migrate.upgrade(connection)
    if connection.dialect.name == "postgresql":
        assert (at_head, before) == ("m", "x")
    else:
        assert at_head == before
