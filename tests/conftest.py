"""Fixtures: every database test runs on SQLite and on PostgreSQL, each in its own transaction.

PostgreSQL comes from TEST_POSTGRES_URL (default: the local server's `test` database, used only
to create a throwaway database per run). Where none answers, the PostgreSQL half is skipped
with the reason, unless REQUIRE_POSTGRES=1, where that is a failure.

The browser, SDK, lint and topology tests skip with the reason where a system part they need
(Chromium, Node, nginx) is missing. REQUIRE_ALL=1 (as in CI: `.ci/run`) turns every skip into
a failure, so that CI always runs every part.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app import create_app
from db import migrate
from db.models import User
from db.session import make_engine
from settings import Settings
from tests.helpers import Account, Api, app_settings

# the `server` fixture: a real server process, for tests that must speak HTTP to one
# and REQUIRE_ALL=1, which makes every skip a failure
pytest_plugins = ["tests.live", "tests.require_all", "pytester"]

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_ALL") == "1" or os.environ.get("REQUIRE_POSTGRES") == "1"


# The files that take longest, started first: pytest-xdist hands whole files (--dist loadfile)
# to the two workers in collection order, and a long file started last would leave one worker
# running it alone for minutes at the end.
SLOW_FIRST = (
    "test_schemathesis.py",
    "test_fresh_clone.py",
    "test_fuzz_live.py",
    "test_concurrency.py",
    "test_topology.py",
    "test_sdk_python.py",
    "test_swagger_ui.py",
    "test_sdk_typescript.py",
    "test_docs_example.py",
    "test_rate_limits.py",
    "test_faults.py",
    "test_e2e.py",
    "test_observability_server.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return SLOW_FIRST.index(name) if name in SLOW_FIRST else len(SLOW_FIRST)

    items.sort(key=rank)  # stable: within a file, and among the rest, the order is kept


def _fresh_postgres() -> Iterator[str]:
    """A new, empty database on the PostgreSQL server, dropped afterwards."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    name = f"conduit_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        admin.dispose()
        reason = f"PostgreSQL at {POSTGRES_URL} is not reachable: {str(e).splitlines()[0]}"
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        # the one skip of the suite: only where no PostgreSQL answers, never in CI (see above)
        pytest.skip(reason)
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def fresh_database_url(kind: str, directory: Path, name: str) -> Iterator[str]:
    """A new, empty database of the kind ("sqlite" or "postgresql"); a SQLite one is the file
    `name` in `directory`."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / name}"
    else:
        yield from _fresh_postgres()


@contextmanager
def migrated_engine(url: str) -> Iterator[Engine]:
    """An engine on the database, migrated: Alembic is the only way a schema is created."""
    eng = make_engine(url)
    with eng.begin() as conn:
        migrate.upgrade(conn)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


@pytest.fixture(scope="session")
def postgresql_url() -> Iterator[str]:
    yield from _fresh_postgres()


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of a test's own, for tests whose data must really be committed."""
    yield from fresh_database_url(request.param, tmp_path, "fresh.db")


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """A migrated database: Alembic is the only way a schema is created, here too."""
    with migrated_engine(database_url) as eng:
        yield eng


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """Every test runs inside a transaction that is rolled back."""
    with engine.connect() as conn:
        outer = conn.begin()
        yield conn  # the app's commits become savepoint releases
        outer.rollback()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return app_settings(database_url)


@pytest.fixture
def app(settings: Settings, connection: Connection) -> Any:
    return create_app(settings, bind=connection)


@pytest.fixture
def client(app: Any) -> Iterator[Any]:
    with app.test_client() as c:
        yield c


@pytest.fixture
def api(client: Any) -> Api:
    return Api(client)


Grant = Callable[[Account, str], Account]


@pytest.fixture
def grant(connection: Connection) -> Grant:
    """Give the account a role straight in the database (its token stays valid)."""

    def give(account: Account, role: str) -> Account:
        connection.execute(update(User).where(User.username == account.username).values(role=role))
        return account

    return give
