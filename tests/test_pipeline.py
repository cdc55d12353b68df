"""The order of the pipeline's checks (shell/pipeline.py): routing, then the rate limit, then
authentication, then authorization, then the body limit, then validation, then the handler.

One request that fails every check is sent, and then sent again with one more thing put right
each time; each answer must come from the next check in the order. A check moved before another
answers for it instead, and the walk fails at that step.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, select

from app import create_app
from db.models import User
from settings import Settings
from tests.conftest import Grant
from tests.helpers import Api, assert_problem, authorization

MAX_BODY = 2048
QUOTA = 5


def _suspend(client: Any, path: str, headers: dict[str, str], body: bytes) -> Any:
    headers = {**headers, "Content-Type": "application/json"}
    return client.put(path, content=body, headers=headers)


def test_each_check_answers_in_its_turn(
    settings: Settings, connection: Connection, grant: Grant
) -> None:
    app = create_app(
        replace(settings, rate_limit_default=f"{QUOTA}/minute", max_body_bytes=MAX_BODY),
        bind=connection,
    )
    with app.test_client() as setup:
        api = Api(setup)
        target, user = api.register(), api.register()
        admin = grant(api.register(), "admin")
    path = f"/api/admin/users/{target.username}/suspension"
    wrong_path = f"/api/admin/userz/{target.username}/suspension"
    bad_token = authorization("not-a-token")
    too_large = b'{"reason": "' + b"x" * MAX_BODY + b"'"  # and not JSON either
    invalid = json.dumps({"reason": ""}).encode()  # blank
    valid = json.dumps({"reason": "spam"}).encode()
    exhausted = app.test_client(client=("192.0.2.66", 50000))
    fresh = app.test_client(client=("192.0.2.77", 50000))
    with exhausted, fresh:
        for _ in range(QUOTA):  # the address's quota, spent by refused tokens
            _suspend(exhausted, path, bad_token, b"{}")

        steps = [
            # everything wrong: not even the path exists
            (exhausted, wrong_path, bad_token, too_large, 404, "resource"),
            # routed: the address has no requests left
            (exhausted, path, bad_token, too_large, 429, "rate limit"),
            # within its quota: the token is refused
            (fresh, path, bad_token, too_large, 401, "token"),
            # a valid token, of a user without the scope
            (fresh, path, authorization(user.token), too_large, 403, "scope"),
            # an admin: the body is too large
            (fresh, path, authorization(admin.token), too_large, 413, "body"),
            # a body of a size the limit takes, which breaks the schema
            (fresh, path, authorization(admin.token), invalid, 422, "reason"),
        ]
        for client, at, headers, body, status, field in steps:
            assert_problem(_suspend(client, at, headers, body), status, field)
            status_now = connection.scalar(
                select(User.status).where(User.username == target.username)
            )
            assert status_now == "active", "the handler ran before the checks were done"

        # and with everything right, the handler runs
        done = _suspend(fresh, path, authorization(admin.token), valid)
        assert done.status_code == 200, done.text
        assert done.json()["user"]["status"] == "suspended"


def test_a_refused_token_still_counts_against_the_address_before_it_is_refused(
    settings: Settings, connection: Connection
) -> None:
    app = create_app(replace(settings, rate_limit_default="2/minute"), bind=connection)
    with app.test_client(client=("192.0.2.88", 50000)) as client:
        answers = [client.get("/api/user", headers=authorization("bad")) for _ in range(3)]
    assert [r.status_code for r in answers] == [401, 401, 429]
    assert all("ratelimit" in r.headers for r in answers)
