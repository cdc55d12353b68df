"""Typed SQLAlchemy models. The newest Alembic migration must describe exactly these."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Text,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Who may do what is decided in api/ (roles map to scopes there); the database knows the names
ROLES = ("user", "moderator", "admin")
STATUSES = ("active", "suspended")

# Stable constraint names, so migrations can refer to them on every database.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """Now, in UTC, cut to milliseconds: what the API shows is exactly what is stored."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: DateTime(timezone=True)}


class User(Base):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role IN ('user', 'moderator', 'admin')", name="role"),
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    # stored lower-cased, so the unique constraint is case-insensitive on every database
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    bio: Mapped[str | None] = mapped_column(Text)
    image: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # articles written and articles favourited: kept exact by the database's triggers
    # (migration 0002), so the author and favorited filters count in one row
    articles_count: Mapped[int] = mapped_column(server_default=text("0"))
    favorites_count: Mapped[int] = mapped_column(server_default=text("0"))
    role: Mapped[str] = mapped_column(String(16), server_default=text("'user'"))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    suspension_reason: Mapped[str | None] = mapped_column(String(500))
    # every token carries the generation it was issued in; raising it revokes them all at once
    # (password change, role change, suspension, logout everywhere)
    token_generation: Mapped[int] = mapped_column(server_default=text("0"))


class Counter(Base):
    """Totals kept exact by the database's triggers (migration 0002): the rows `articles`, one
    per slot, whose sum is the total (migration 0006: on PostgreSQL each session adds to its own
    slot, so that writers do not queue on one row; SQLite keeps slot 0 only)."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    slot: Mapped[int] = mapped_column(SmallInteger, primary_key=True, server_default=text("0"))
    value: Mapped[int] = mapped_column(BigInteger)


class Follow(Base):
    __tablename__ = "follows"
    __table_args__ = (
        CheckConstraint("follower_id <> followee_id", name="not_self"),
        # "who follows X" (profile lookups go by the primary key)
        Index(None, "followee_id", "follower_id"),
    )

    follower_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    followee_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class Article(Base):
    __tablename__ = "articles"
    __table_args__ = (
        # the global list, newest first, ties broken by id
        Index(None, "created_at", "id"),
        # author filter and the feed
        Index(None, "author_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    slug: Mapped[str] = mapped_column(String(255), unique=True)
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(String(1000))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # its tag names, space-separated in code-point order, kept by triggers (migration 0007) for
    # the search index, which reads one row: PostgreSQL's generated `search` tsvector (GIN), or
    # SQLite's FTS5 table `articles_fts`; neither is a model (see SEARCH_OBJECTS)
    tags_text: Mapped[str] = mapped_column(Text, server_default=text("''"))


# the search index's parts that each engine keeps in its own terms (migration 0007), which the
# models do not describe: Alembic's comparison leaves them out (db/migrate.py)
SEARCH_OBJECTS = frozenset(
    {
        "search",
        "ix_articles_search",
        "articles_fts",
        "articles_fts_data",
        "articles_fts_idx",
        "articles_fts_docsize",
        "articles_fts_config",
    }
)


class ArticleSlug(Base):
    """A slug an article had before a new title gave it another: it still leads there, and no
    other article gets it while this one exists (migration 0004)."""

    __tablename__ = "article_slugs"

    slug: Mapped[str] = mapped_column(String(255), primary_key=True)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), index=True
    )


class Tag(Base):
    __tablename__ = "tags"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    # articles with this tag, kept exact by a trigger (migration 0002)
    articles_count: Mapped[int] = mapped_column(server_default=text("0"))


class ArticleTag(Base):
    __tablename__ = "article_tags"
    # tag filter: articles with a tag
    __table_args__ = (Index(None, "tag_id", "article_id"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    tag_id: Mapped[int] = mapped_column(ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)


class Favorite(Base):
    __tablename__ = "favorites"
    # favorited filter: articles a user favourited (counts go by the primary key)
    __table_args__ = (Index(None, "user_id", "article_id"),)

    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )


class Comment(Base):
    __tablename__ = "comments"
    # comments of an article, oldest first
    __table_args__ = (Index(None, "article_id", "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body: Mapped[str] = mapped_column(Text)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    """A moderation or administration action: who did what, to whom, when and why."""

    __tablename__ = "audit_log"
    # newest first
    __table_args__ = (Index(None, "created_at", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    actor_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    action: Mapped[str] = mapped_column(String(32))
    # the user acted upon: the account itself, or the author of what was deleted
    target_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # what was acted upon, as it was then (a deleted article keeps its slug and title here)
    subject: Mapped[str | None] = mapped_column(String(500))
    reason: Mapped[str | None] = mapped_column(String(500))


class IdempotencyKey(Base):
    """A request made with an `Idempotency-Key` (migration 0005): while `running`, a duplicate
    is refused; once `done`, a retry with the same fingerprint gets the recorded response."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        CheckConstraint("state IN ('running', 'done')", name="state"),
        # purging what expired
        Index(None, "expires_at"),
    )

    # keys are the client's own, so they are unique per user only
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    # sha256, in hex, of the operation, its path parameters and its canonical JSON body
    fingerprint: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(8))
    # which attempt holds the key: an attempt whose claim was taken over may not record
    claim_token: Mapped[str] = mapped_column(String(32))
    claimed_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    response_status: Mapped[int | None] = mapped_column(Integer)
    # the JSON body as sent the first time, replayed as it is
    response_body: Mapped[str | None] = mapped_column(Text)
