"""Wire shapes of the objects in openapi/api.yaml, built from models and query rows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from db.models import User


def timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and Z, the format RealWorld clients check."""
    if moment.tzinfo is not None:  # SQLite keeps no zone; everything is stored in UTC
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="milliseconds") + "Z"


def user(u: User, token: str) -> dict[str, Any]:
    return {
        "user": {
            "email": u.email,
            "token": token,
            "username": u.username,
            "bio": u.bio,
            "image": u.image,
            "role": u.role,
        }
    }


def managed_user(row: Any) -> dict[str, Any]:
    """A user as an administrator sees it, from a row of `db.users.managed`."""
    u: User = row.User
    return {
        "username": u.username,
        "email": u.email,
        "bio": u.bio,
        "image": u.image,
        "role": u.role,
        "status": u.status,
        "suspensionReason": u.suspension_reason,
        "createdAt": timestamp(u.created_at),
        "counts": {
            "articles": u.articles_count,
            "favorites": u.favorites_count,
            "comments": row.comments,
            "followers": row.followers,
            "following": row.following,
        },
    }


def audit_entry(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "createdAt": timestamp(row.created_at),
        "actor": row.actor,
        "action": row.action,
        "target": row.target,
        "subject": row.subject,
        "reason": row.reason,
    }


def profile(row: Any, *, following: bool | None = None) -> dict[str, Any]:
    """A Profile from anything with username, bio and image (a User or a query row)."""
    return {
        "username": row.username,
        "bio": row.bio,
        "image": row.image,
        "following": bool(row.following if following is None else following),
    }


def article(row: Any, tags: list[str], *, with_body: bool = False) -> dict[str, Any]:
    """An article card; a single article shows its body, list items do not."""
    shaped = {
        "slug": row.slug,
        "title": row.title,
        "description": row.description,
        "tagList": tags,
        "createdAt": timestamp(row.created_at),
        "updatedAt": timestamp(row.updated_at),
        "favorited": bool(row.favorited),
        "favoritesCount": int(row.favorites_count),
        "author": profile(row),
    }
    if with_body:
        shaped["body"] = row.body
    return shaped


def comment(row: Any, *, author: Any = None, following: bool | None = None) -> dict[str, Any]:
    return {
        "id": row.id,
        "createdAt": timestamp(row.created_at),
        "updatedAt": timestamp(row.updated_at),
        "body": row.body,
        "author": profile(author or row, following=following),
    }
