"""Idempotency keys: a request claims its key, records its response, or lets the key go.

The caller commits the claim on its own, before the work it guards, so that a duplicate arriving
meanwhile finds it `running`; the response is recorded in the same transaction as that work, so
a resource never exists without its recorded response, nor the other way round. Every function
takes the time as `now`, which makes expiry and abandonment testable without waiting.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select, tuple_, update
from sqlalchemy.orm import Session

from db.errors import Conflict, Invalid
from db.models import IdempotencyKey
from db.util import dialect_insert

# how long a response is replayed, and a key cannot be used for another request
TTL = timedelta(hours=24)
# A claim still `running` after this long is taken to be abandoned (its process died, or its
# release failed) and may be taken over: twice the workers' timeout (gunicorn.conf.py), so no
# live request still holds it. Should one still be running, it cannot record (see `record`).
LEASE = timedelta(seconds=60)
# errors name the key as the client sent it: the request header
FIELD = "Idempotency-Key"


@dataclass(frozen=True)
class Claim:
    """The key is this request's to run; the token proves it when recording or releasing."""

    token: str


@dataclass(frozen=True)
class Replay:
    """The key's request was done before: its response, to be sent again."""

    status: int
    body: str


def claim(
    s: Session,
    *,
    user_id: int,
    key: str,
    fingerprint: str,
    now: datetime,
    ttl: timedelta = TTL,
    lease: timedelta = LEASE,
) -> Claim | Replay:
    """Claim the user's key for a request with this fingerprint; one statement when the key is
    new, two when it was used before. A different request with the key is Invalid (422); the
    same one still running elsewhere is a Conflict (409)."""
    token = secrets.token_hex(16)
    fresh: dict[str, Any] = {
        "fingerprint": fingerprint,
        "state": "running",
        "claim_token": token,
        "claimed_at": now,
        "created_at": now,
        "expires_at": now + ttl,
        "response_status": None,
        "response_body": None,
    }
    # RETURNING tells whether the row is new: on PostgreSQL (psycopg, SQLAlchemy 2.1) an INSERT
    # built with SQLAlchemy reports a row count of -1, whether a row went in or not
    inserted = s.execute(
        dialect_insert(s, IdempotencyKey)
        .values(user_id=user_id, key=key, **fresh)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.claim_token)
    ).scalar()
    if inserted is not None:
        return Claim(token)
    # the comparisons of times run in SQL: SQLite hands datetimes back without their zone
    found = s.execute(
        select(
            IdempotencyKey.fingerprint,
            IdempotencyKey.state,
            IdempotencyKey.claim_token,
            IdempotencyKey.response_status,
            IdempotencyKey.response_body,
            (IdempotencyKey.expires_at <= now).label("expired"),
            (IdempotencyKey.claimed_at <= now - lease).label("abandoned"),
        ).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    ).one_or_none()
    if found is None:  # released by its failed request between the two statements
        raise _in_use()
    if found.expired:  # as if it had been purged already
        return _take_over(s, user_id, key, found.claim_token, fresh)
    if found.fingerprint != fingerprint:
        raise Invalid.on(
            FIELD,
            "was used for a different request",
            "This Idempotency-Key was used for a request with another body or target;"
            " use a new key for a new request.",
        )
    if found.state == "done":
        return Replay(found.response_status, found.response_body)
    if found.abandoned:
        taken = {k: fresh[k] for k in ("claim_token", "claimed_at")}
        return _take_over(s, user_id, key, found.claim_token, taken)
    raise _in_use()


def record(s: Session, *, user_id: int, key: str, claim: Claim, status: int, body: str) -> None:
    """Record the response of the claimed request, in the transaction of its work. A request
    whose claim was taken over meanwhile is a Conflict: its work is rolled back with it, so
    only one attempt ever commits."""
    recorded = s.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.claim_token == claim.token,
            IdempotencyKey.state == "running",
        )
        .values(state="done", response_status=status, response_body=body)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(recorded) != 1:
        raise _in_use()


def release(s: Session, *, user_id: int, key: str, claim: Claim) -> None:
    """Let the key go after its request failed, so a corrected retry can run."""
    s.execute(
        delete(IdempotencyKey)
        .where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.claim_token == claim.token,
            IdempotencyKey.state == "running",
        )
        .execution_options(synchronize_session=False)
    )


def purge(s: Session, *, now: datetime, limit: int | None = None) -> int:
    """Delete keys that have expired, at most `limit` of them; how many were deleted.

    Rows another transaction holds are skipped (PostgreSQL's SKIP LOCKED; SQLite has one
    writer anyway): two purges at once never wait for, or deadlock with, each other."""
    expired = (
        select(IdempotencyKey.user_id, IdempotencyKey.key)
        .where(IdempotencyKey.expires_at <= now)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    purged = s.execute(
        delete(IdempotencyKey)
        .where(tuple_(IdempotencyKey.user_id, IdempotencyKey.key).in_(expired))
        .execution_options(synchronize_session=False)
    )
    return _rowcount(purged)


def _take_over(
    s: Session, user_id: int, key: str, old_token: str, values: dict[str, Any]
) -> Claim | Replay:
    """Claim a key found expired or abandoned, unless another request just did."""
    taken = s.execute(
        update(IdempotencyKey)
        .where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.claim_token == old_token,
        )
        .values(values)
        .execution_options(synchronize_session=False)
    )
    if _rowcount(taken) != 1:
        raise _in_use()
    return Claim(values["claim_token"])


def _rowcount(result: Any) -> int:
    return int(getattr(result, "rowcount", 0) or 0)


def _in_use() -> Conflict:
    return Conflict.on(
        FIELD,
        "is in use by another request",
        "Another request with this Idempotency-Key is being processed; retry later.",
    )
