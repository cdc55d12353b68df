"""What the two Schemathesis runs share: tests/test_schemathesis.py in-process, tests/fuzz_live.py
against a live server.

Schemathesis acts as two identities, a plain user and an admin, named in a Web Fuzzing Commons
auth document: it tries the user first on every operation and moves on to the admin where the
user is refused. Generated requests may revoke the identities' tokens (a new password, logging
out everywhere) or suspend and demote them (as the admin), so each call is followed by putting
both accounts back as they were: every case then runs with working credentials.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Connection, select, update

from db.models import User

CONFIG = Path(__file__).with_name("schemathesis.toml")
# the WFC entry name: (username, role); the document lists them in this order
IDENTITIES = {"user": ("fuzzer", "user"), "admin": ("fuzzadmin", "admin")}


def registration(username: str) -> dict[str, str]:
    """The body's `user` member that registers an identity's account."""
    return {"username": username, "email": f"{username}@example.com",
            "password": f"{username}-password"}  # fmt: skip


def login(username: str) -> dict[str, str]:
    """The body's `user` member that logs an identity in."""
    return {"email": f"{username}@example.com", "password": f"{username}-password"}


def account_keeper(conn: Connection) -> Callable[[], None]:
    """What puts the registered identities' accounts back as they are now, with their roles,
    active, and with the tokens issued at generation 0 valid. Call it once before logging them
    in: that also makes the admin."""
    roles = dict(IDENTITIES.values())
    account = (User.id, User.username, User.email, User.password_hash, User.bio, User.image)
    with conn.begin():
        kept = conn.execute(select(*account).where(User.username.in_(roles))).all()
    assert len(kept) == len(roles), kept

    def restore() -> None:
        with conn.begin():
            for row in kept:
                conn.execute(
                    update(User)
                    .where(User.id == row.id)
                    .values(
                        **row._asdict(),
                        role=roles[row.username],
                        status="active",
                        suspension_reason=None,
                        token_generation=0,
                    )
                )

    return restore


def write_wfc_auth(tokens: dict[str, str], path: Path) -> Path:
    """The Web Fuzzing Commons auth document with each identity's token, user first."""
    header = {name: {"name": "Authorization", "value": f"Token {tokens[name]}"} for name in tokens}
    entries = [{"name": name, "fixedHeaders": [header[name]]} for name in IDENTITIES]
    path.write_text(json.dumps({"auth": entries}))
    return path
