"""Users and follows."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import bindparam, delete, exists, false, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from db.errors import Invalid, NotFound
from db.models import Follow, User
from db.util import insert_ignore

TAKEN = "has already been taken"


def get(s: Session, user_id: int) -> User | None:
    return s.get(User, user_id)


_EXISTING = select(User.id).where(User.id == bindparam("id"))


def existing_id(s: Session, user_id: int) -> int | None:
    """The id back if that user exists: the caller check every authenticated request makes,
    on the Core path with a statement built once (no model is loaded for it)."""
    found: int | None = s.connection().execute(_EXISTING, {"id": user_id}).scalar()
    return found


def by_email(s: Session, email: str) -> User | None:
    return s.scalar(select(User).where(User.email == email.lower()))


def by_username(s: Session, username: str) -> User:
    user = s.scalar(select(User).where(User.username == username))
    if user is None:
        raise _no_profile()
    return user


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


def follow(s: Session, follower_id: int, followee: User) -> None:
    if follower_id == followee.id:
        raise Invalid.on("profile", "cannot follow yourself")
    insert_ignore(s, Follow, [{"follower_id": follower_id, "followee_id": followee.id}])


def unfollow(s: Session, follower_id: int, followee: User) -> None:
    s.execute(
        delete(Follow).where(Follow.follower_id == follower_id, Follow.followee_id == followee.id)
    )
