"""`Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) on the operations that create.

A request with the header claims the key for its user in a short transaction of its own, which
is committed at once: a duplicate arriving meanwhile finds the claim and gets 409. The handler
then runs, and its response is recorded in the transaction of what it created; a retry with the
same key, operation, path and body gets that response again, marked `Idempotent-Replayed:
true`, and creates nothing. A failed request lets its key go, so a corrected retry can run.
Without the header nothing here touches the database: the handler's work is committed as it
always was.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec

import orjson
from flask import request
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from db import idempotency
from db.errors import unreachable
from db.models import utcnow
from db.session import begin_again
from shell.state import caller_id, session

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
# Expired keys are purged by the requests that claim keys, at most this often per process and
# this many at a time, so that no request pays for a backlog; `python -m cli
# purge-idempotency-keys` purges them all
PURGE_EVERY_SECONDS = 60.0
PURGE_BATCH = 1000
# the draft's form is a structured-field string (RFC 8941): "..." with \" and \\ escaped
_ESCAPED = re.compile(r"\\([\"\\])")

P = ParamSpec("P")
Created = tuple[dict[str, Any], int]
Answer = tuple[dict[str, Any], int, dict[str, str]]


def key_of(header: str) -> str:
    """The key a header value names: a structured-field string (the draft's form) is unquoted,
    so `"abc"` and `abc` are one key. The spec's pattern has checked the syntax already."""
    if len(header) >= 2 and header[0] == header[-1] == '"':
        return _ESCAPED.sub(r"\1", header[1:-1])
    return header


def request_fingerprint(operation: str, arguments: dict[str, Any]) -> str:
    """What makes two requests the same: the operation, its path parameters (which article) and
    its body, as canonical JSON. json rather than orjson: a body may carry, in fields the API
    ignores, integers too large for orjson."""
    canonical = json.dumps(
        [operation, arguments], sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class Schedule:
    """At most once per `every` seconds, across the threads of a process."""

    def __init__(self, every: float) -> None:
        self.every = every
        self.next = 0.0
        self._lock = threading.Lock()

    def due(self) -> bool:
        now = time.monotonic()
        with self._lock:
            if now < self.next:
                return False
            self.next = now + self.every
            return True


PURGE = Schedule(PURGE_EVERY_SECONDS)


def idempotent(handler: Callable[P, Created]) -> Callable[P, Answer]:
    """Make a create operation honour `Idempotency-Key`. The handler leaves its transaction
    open; this commits it, with the response recorded when the request carries a key."""

    @functools.wraps(handler)  # Connexion reads the handler's parameters through this
    def run(*args: P.args, **kwargs: P.kwargs) -> Answer:
        header = request.headers.get(HEADER)
        s = session()
        if header is None:
            reply, status = handler(*args, **kwargs)
            s.commit()
            return reply, status, {}
        me, key = caller_id(), key_of(header)
        claimed = _claim(s, me, key, request_fingerprint(handler.__name__, kwargs))
        if isinstance(claimed, idempotency.Replay):
            return orjson.loads(claimed.body), claimed.status, {REPLAYED: "true"}
        begin_again(s)
        try:
            reply, status = handler(*args, **kwargs)
            body = orjson.dumps(reply).decode()
            idempotency.record(s, user_id=me, key=key, claim=claimed, status=status, body=body)
            s.commit()
        except Exception:
            _release(s, me, key, claimed)
            raise
        return reply, status, {}

    return run


def _claim(
    s: Session, me: int, key: str, fingerprint: str
) -> idempotency.Claim | idempotency.Replay:
    """Claim the key, committed at once: a duplicate sees the claim while the work runs."""
    now = utcnow()
    if PURGE.due():
        idempotency.purge(s, now=now, limit=PURGE_BATCH)
    claimed = idempotency.claim(s, user_id=me, key=key, fingerprint=fingerprint, now=now)
    s.commit()
    return claimed


def _release(s: Session, me: int, key: str, claimed: idempotency.Claim) -> None:
    s.rollback()
    try:
        begin_again(s)
        idempotency.release(s, user_id=me, key=key, claim=claimed)
        s.commit()
    except SQLAlchemyError as e:
        # the request's own error is the one to report; the claim is then abandoned, and a
        # retry takes it over once idempotency.LEASE has passed. With the database out of
        # reach that is every keyed write: a line each, and no traceback (shell/problems.py
        # tells of the outage)
        log.warning("could not release an idempotency key", exc_info=not unreachable(e))
        s.rollback()
