"""Users and follows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Row, Select, bindparam, delete, exists, false, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db import audit
from db.errors import Conflict, Forbidden, Invalid, NotFound
from db.models import Comment, Follow, User
from db.util import insert_ignore

TAKEN = "has already been taken"
# the key of the advisory lock that role and status changes take (any constant of our own)
_ACCOUNT_CHANGES = 0x636F6E64


def get(s: Session, user_id: int, *, lock: bool = False) -> User | None:
    """The user; `lock`, for a change to the account: its row stays locked until the
    transaction ends, so that of two conditional edits (If-Match) at once the second compares
    against what the first committed. FOR UPDATE, not FOR NO KEY UPDATE: an edit of the username
    or email would otherwise upgrade the lock while the user's own favourite, holding a share
    of the key, waits to update its count, and the two would deadlock. A locked read is always
    read afresh, even when the session holds the user already."""
    return s.get(User, user_id, with_for_update=lock or None, populate_existing=lock)


# the caller's profile comes along: a write that shows its author (an article, a comment)
# then needs no statement of its own to read it
_CALLER = select(
    User.id, User.role, User.status, User.token_generation, User.username, User.bio, User.image
).where(User.id == bindparam("id"))


def caller(s: Session, user_id: int) -> Any:
    """Who a token's subject is now (id, role, status, token generation), or None when gone:
    the one statement every authenticated request makes, on the Core path, built once."""
    return s.connection().execute(_CALLER, {"id": user_id}).first()


def revoke_tokens(s: Session, user: User) -> None:
    """Every token issued to the user so far stops working. Raised in SQL, so that two
    revocations at once raise it twice; reading the attribute afterwards loads the new value."""
    user.token_generation = User.token_generation + 1
    s.flush()


def by_email(s: Session, email: str) -> User | None:
    return s.scalar(select(User).where(User.email == email.lower()))


def by_login(s: Session, login: str) -> User | None:
    """The user with this email, or this username (a username never holds an "@")."""
    if "@" in login:
        return by_email(s, login)
    return s.scalar(select(User).where(User.username == login))


def by_username(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise _no_profile()
    return user


def account_suspended() -> Forbidden:
    """What a suspended account is told, at login and on every token it holds."""
    return Forbidden.on("account", "is suspended", "This account is suspended.")


def _no_profile() -> NotFound:
    return NotFound.on("profile", "not found", "There is no user with that username.")


def create(s: Session, *, username: str, email: str, password_hash: str) -> User:
    _refuse_taken(s, username=username, email=email.lower())
    user = User(username=username, email=email.lower(), password_hash=password_hash)
    s.add(user)
    _flush_unique(s)
    return user


def update(s: Session, user: User, changes: Mapping[str, Any]) -> User:
    """Apply the given columns; email and username must stay unique."""
    if "email" in changes:
        changes = {**changes, "email": changes["email"].lower()}
    _refuse_taken(
        s, username=changes.get("username"), email=changes.get("email"), other_than=user.id
    )
    for column, value in changes.items():
        setattr(user, column, value)
    _flush_unique(s)
    return user


def _refuse_taken(
    s: Session, *, username: str | None, email: str | None, other_than: int | None = None
) -> None:
    clauses = []
    if username is not None:
        clauses.append(User.username == username)
    if email is not None:
        clauses.append(User.email == email)
    if not clauses:
        return
    query = select(User.username, User.email).where(or_(*clauses))
    if other_than is not None:
        query = query.where(User.id != other_than)
    rows = s.execute(query).all()
    errors = {}
    if any(r.username == username for r in rows):
        errors["username"] = [TAKEN]
    if any(r.email == email for r in rows):
        errors["email"] = [TAKEN]
    if errors:
        raise Invalid(errors)


def _flush_unique(s: Session) -> None:
    # a concurrent request may take the name between the check above and this flush
    try:
        with s.begin_nested():
            s.flush()
    except IntegrityError:
        raise Invalid({"username": [TAKEN]}, "That username or email was just taken.") from None


_PROFILE = select(User.username, User.bio, User.image, false().label("following")).where(
    User.username == bindparam("username")
)
_PROFILE_SEEN_BY = select(
    User.username,
    User.bio,
    User.image,
    exists()
    .where(Follow.follower_id == bindparam("viewer"), Follow.followee_id == User.id)
    .label("following"),
).where(User.username == bindparam("username"))


def profile(s: Session, username: str, viewer_id: int | None) -> Any:
    """A profile as the viewer sees it, following flag included: one statement."""
    statement = _PROFILE if viewer_id is None else _PROFILE_SEEN_BY
    values = {"username": username, "viewer": viewer_id}
    found = s.connection().execute(statement, values).first()
    if found is None:
        raise _no_profile()
    return found


_FOLLOWED = select(User.id, User.username, User.bio, User.image).where(
    User.username == bindparam("username")
)
_UNFOLLOW = delete(Follow).where(
    Follow.follower_id == bindparam("follower"), Follow.followee_id == bindparam("followee")
)


def _followed(s: Session, username: str) -> Any:
    """Who is (un)followed, as a profile shows them, with their id: on the Core path."""
    found: Any = s.connection().execute(_FOLLOWED, {"username": username}).first()
    if found is None:
        raise _no_profile()
    return found


def follow(s: Session, follower_id: int, username: str) -> Any:
    """Follow the user (following twice is once); who that is, as their profile shows them."""
    followee = _followed(s, username)
    if follower_id == followee.id:
        raise Invalid.on("profile", "cannot follow yourself")
    insert_ignore(s, Follow, [{"follower_id": follower_id, "followee_id": followee.id}])
    return followee


def unfollow(s: Session, follower_id: int, username: str) -> Any:
    followee = _followed(s, username)
    s.connection().execute(_UNFOLLOW, {"follower": follower_id, "followee": followee.id})
    return followee


# --- administration -------------------------------------------------------------------------


def _starting_with(prefix: str) -> str:
    """A LIKE pattern matching text that starts with `prefix` taken literally."""
    return prefix.replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def _managed(*where: Any) -> Select[Any]:
    """Users with what an administrator sees of their activity, in one statement."""

    def counted(*condition: Any) -> Any:
        return select(func.count()).where(*condition).scalar_subquery()

    return select(
        User,
        counted(Comment.author_id == User.id).label("comments"),
        counted(Follow.followee_id == User.id).label("followers"),
        counted(Follow.follower_id == User.id).label("following"),
    ).where(*where)


def managed(s: Session, username: str) -> Row[Any]:
    """One user with counts (`User`, `comments`, `followers`, `following`)."""
    found = s.execute(_managed(User.username == username)).first()
    if found is None:
        raise _no_profile()
    return found


def listing(
    s: Session, *, prefix: str | None, limit: int, offset: int
) -> tuple[Sequence[Row[Any]], int]:
    """Users with counts in the order they joined (those whose username or email starts with
    `prefix`, in any case, if given), and how many match in all: two statements whatever the
    page size."""
    where = []
    if prefix:
        pattern = _starting_with(prefix)
        where.append(
            or_(User.username.ilike(pattern, escape="!"), User.email.ilike(pattern, escape="!"))
        )
    total = s.scalar(select(func.count()).select_from(User).where(*where)) or 0
    rows = s.execute(_managed(*where).order_by(User.id).limit(limit).offset(offset)).all()
    return rows, total


def _one_account_change_at_a_time(s: Session) -> None:
    """Role and status changes run one after another. Two admins demoting each other at once
    would otherwise each see the other still there and leave no admin; and row locks alone,
    taken by the change, the audit entry's foreign keys and the check on the remaining admins
    in whatever order each transaction meets them, deadlock. A transaction-scoped advisory
    lock on PostgreSQL; SQLite has one writer at a time anyway."""
    if s.get_bind().dialect.name == "postgresql":
        s.execute(select(func.pg_advisory_xact_lock(_ACCOUNT_CHANGES)))


def _refuse_losing_last_admin(s: Session, user: User) -> None:
    """An action that takes away an admin's rights needs another active admin left."""
    if user.role != "admin" or user.status != "active":
        return
    admins = s.scalars(select(User.id).where(User.role == "admin", User.status == "active")).all()
    if len(set(admins) - {user.id}) == 0:
        raise Conflict.on(
            "role", "is the last admin", "The last remaining admin cannot lose that role."
        )


def set_role(s: Session, user: User, role: str, *, by: int | None) -> None:
    """A new role takes effect on the user's next login: their tokens are revoked. `by` is the
    admin who changed it, or None from the command line."""
    _one_account_change_at_a_time(s)
    s.refresh(user)  # as it is now that no other change can be under way
    if role == user.role:
        return
    if role != "admin":
        _refuse_losing_last_admin(s, user)
    before, user.role = user.role, role
    revoke_tokens(s, user)
    audit.record(s, actor_id=by, action="user.role", target_user_id=user.id,
                 subject=f"{before} -> {role}")  # fmt: skip


def suspend(s: Session, user: User, reason: str, *, by: int) -> None:
    _one_account_change_at_a_time(s)
    s.refresh(user)
    _refuse_losing_last_admin(s, user)
    user.status = "suspended"
    user.suspension_reason = reason
    revoke_tokens(s, user)
    audit.record(s, actor_id=by, action="user.suspend", target_user_id=user.id, reason=reason)


def reinstate(s: Session, user: User, *, by: int) -> None:
    _one_account_change_at_a_time(s)
    s.refresh(user)
    if user.status == "active":
        return
    user.status = "active"
    user.suspension_reason = None
    s.flush()
    audit.record(s, actor_id=by, action="user.reinstate", target_user_id=user.id)
