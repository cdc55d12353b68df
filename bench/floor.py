"""What the database alone needs for each request: its statements, run directly, no HTTP."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import event

from app import create_app
from db.session import make_engine
from settings import Settings

_BOOKKEEPING = ("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT", "BEGIN", "COMMIT")


class EndpointLike(Protocol):
    @property
    def key(self) -> str: ...
    @property
    def path(self) -> str: ...
    @property
    def auth(self) -> bool: ...


@dataclass(frozen=True)
class Sql:
    statements: int
    floor_ms: float


def measure(url: str, endpoints: Iterable[EndpointLike], *, user: str) -> dict[str, Sql]:
    """Capture each request's SQL through the real app, then time that SQL on its own."""
    engine = make_engine(url)
    # its requests only record their SQL: no access lines in the bench's output
    settings = Settings(environment="test", database_url=url, secret_key="b" * 48, access_log=False)
    app = create_app(settings, bind=engine)
    captured: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_rest: Any) -> None:
        if not statement.lstrip().upper().startswith(_BOOKKEEPING):
            captured.append((statement, parameters))

    found: dict[str, Sql] = {}
    with app.test_client() as client:
        login = {"user": {"email": f"{user}@example.com", "password": "password-00"}}
        token = client.post("/api/users/login", json=login).json()["user"]["token"]
        event.listen(engine, "before_cursor_execute", record)
        for ep in endpoints:
            captured.clear()
            headers = {"Authorization": f"Token {token}"} if ep.auth else {}
            assert client.get(ep.path, headers=headers).status_code == 200, ep.path
            found[ep.key] = Sql(len(captured), _time(engine, list(captured)))
        event.remove(engine, "before_cursor_execute", record)
    engine.dispose()
    return found


def _time(engine: Any, statements: list[tuple[str, Any]], rounds: int = 300) -> float:
    """Median milliseconds to run the statements one after another and fetch every row."""
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        times = []
        for _ in range(rounds):
            started = time.perf_counter()
            for statement, parameters in statements:
                cursor.execute(statement, parameters)
                cursor.fetchall()
            times.append((time.perf_counter() - started) * 1000)
        raw.rollback()
        return statistics.median(times)
    finally:
        raw.close()
