"""Loaded into `st run` by tests/fuzz_live.py (SCHEMATHESIS_HOOKS), never by the test suite:
a hook registered on import applies to every schema in the process.
"""

from __future__ import annotations

import os
import threading
import uuid
from typing import Any

import schemathesis

from db.session import make_engine
from tests.fuzzing import account_keeper

_connection = make_engine(os.environ["FUZZ_DATABASE_URL"], pool_size=1).connect()
_restore = account_keeper(_connection)
_lock = threading.Lock()  # one connection, whichever thread the call was made on


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """A stateful scenario's valid Idempotency-Key is made unique.

    A request repeating an earlier key and body is answered with the earlier response, "even if
    what it created has changed since" (the spec, after draft-ietf-httpapi-idempotency-key-
    header): the article it names may have been deleted by an earlier scenario, and the links
    from it then lead to a 404 that Schemathesis' `ensure_resource_availability` takes for a
    created resource gone missing. tests/test_schemathesis.py clears the keys before its
    stateful run for the same reason; here the phases share one process. The stateless phases
    keep the generated keys, so replays and reused keys are still fuzzed, and negative keys are
    left as they are."""
    headers, meta = case.headers, case.meta
    if (
        headers
        and "Idempotency-Key" in headers
        and meta is not None
        and meta.phase.name == "stateful"
        and not meta.is_negative_at("header")
    ):
        headers["Idempotency-Key"] = str(uuid.uuid4())


@schemathesis.hook
def after_call(context: Any, case: Any, response: Any) -> None:
    """After every call, both identities' accounts are put back as they were when the fuzzer
    started (tests/fuzzing.py says why), straight in the server's database."""
    with _lock:
        _restore()
