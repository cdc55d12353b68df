"""`Idempotency-Key` (draft-ietf-httpapi-idempotency-key-header) on the operations that create.

A request with the header claims the key for its user in a short transaction of its own, which
is committed at once: a duplicate arriving meanwhile finds the claim and gets 409. The handler
then runs, and its response is recorded in the transaction of what it created (which the
pipeline commits, shell/state.py); a retry with the
same key, operation, path and body gets that response again, marked `Idempotent-Replayed:
true`, and creates nothing. A failed request lets its key go, so a corrected retry can run.
Without the header nothing here touches the database.
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

from db import idempotency
from db.errors import unreachable
from db.models import utcnow
from db.session import begin_again
from shell import state

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
    """Make a create operation honour `Idempotency-Key`. With a key, the key is claimed in a
    transaction of its own, and the response is recorded in the handler's, which the pipeline
    commits; if that is rolled back instead, the key is let go."""

    @functools.wraps(handler)  # Connexion reads the handler's parameters through this
    def run(*args: P.args, **kwargs: P.kwargs) -> Answer:
        header = request.headers.get(HEADER)
        if header is None:
            reply, status = handler(*args, **kwargs)
            return reply, status, {}
        served = state.current()
        assert served.caller is not None  # every create requires a token
        s, me, key = served.session(), served.caller.id, key_of(header)
        served.idempotency_key = key
        claimed = _claim(served, me, key, request_fingerprint(handler.__name__, kwargs))
        if isinstance(claimed, idempotency.Replay):
            return orjson.loads(claimed.body), claimed.status, {REPLAYED: "true"}
        begin_again(s)
        served.on_rollback(functools.partial(_release, served, me, key, claimed))
        reply, status = handler(*args, **kwargs)
        body = orjson.dumps(reply).decode()
        idempotency.record(s, user_id=me, key=key, claim=claimed, status=status, body=body)
        return reply, status, {}

    return run


def _claim(
    served: state.RequestState, me: int, key: str, fingerprint: str
) -> idempotency.Claim | idempotency.Replay:
    """Claim the key, committed at once: a duplicate sees the claim while the work runs."""
    s, now = served.session(), utcnow()
    if PURGE.due():
        idempotency.purge(s, now=now, limit=PURGE_BATCH)
    claimed = idempotency.claim(s, user_id=me, key=key, fingerprint=fingerprint, now=now)
    served.commit()
    return claimed


def _release(served: state.RequestState, me: int, key: str, claimed: idempotency.Claim) -> None:
    """After the work was rolled back: the key is free again, so a corrected retry can use it."""
    s = served.session()
    try:
        begin_again(s)
        idempotency.release(s, user_id=me, key=key, claim=claimed)
        served.commit()
    except SQLAlchemyError as e:
        # the request's own error is the one to report; the claim is then abandoned, and a
        # retry takes it over once idempotency.LEASE has passed. With the database out of
        # reach that is every keyed write: a line each, and no traceback (shell/problems.py
        # tells of the outage)
        log.warning("could not release an idempotency key", exc_info=not unreachable(e))
        s.rollback()
