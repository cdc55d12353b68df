"""Schemathesis over the whole spec, in-process through the Connexion ASGI app, with auth.

Each database gets a fresh, really committed database for the run: generated requests build on
each other (the fuzzing user, articles created by one step and used by the next).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from sqlalchemy import Connection

from app import create_app
from tests.conftest import fresh_database_url, migrated_engine
from tests.helpers import app_settings

CONFIG = Path(__file__).with_name("schemathesis.toml")
FUZZ_SETTINGS = settings(
    max_examples=25, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)
pytestmark = pytest.mark.schemathesis


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    yield from fresh_database_url(request.param, tmp_path_factory.mktemp("fuzz"), "fuzz.db")


@pytest.fixture(scope="module")
def fuzz_connection(fuzz_database: str) -> Iterator[Connection]:
    """The app's one connection: its commits are real, unless a test opens a transaction."""
    with migrated_engine(fuzz_database) as engine, engine.connect() as conn:
        yield conn


@pytest.fixture(scope="module")
def fuzz_app(fuzz_database: str, fuzz_connection: Connection) -> Any:
    return create_app(app_settings(fuzz_database), bind=fuzz_connection)


@pytest.fixture(scope="module")
def fuzz_schema(fuzz_app: Any) -> Any:
    config = schemathesis.Config.from_path(CONFIG)
    return schemathesis.openapi.from_asgi("/api/openapi.json", fuzz_app, config=config)


@pytest.fixture(scope="module")
def fuzz_token(fuzz_schema: Any) -> str:
    """A user of its own, so the generated requests that need one are authenticated."""
    user = {"username": "fuzzer", "email": "fuzzer@example.com", "password": "fuzzer-password"}
    response = fuzz_schema["/users"]["POST"].Case(body={"user": user}).call()
    assert response.status_code == 201, response.text
    token: str = response.json()["user"]["token"]
    return token


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@FUZZ_SETTINGS
def test_every_operation(case: Any, fuzz_token: str) -> None:
    """Positive and negative cases, every check, including unauthenticated probes."""
    case.call_and_validate(headers={"Authorization": f"Token {fuzz_token}"})


def test_stateful_along_links(
    fuzz_schema: Any, fuzz_token: str, fuzz_connection: Connection
) -> None:
    """Create an article, then get, update, comment on, favourite and delete it, and so on."""
    transitions: Counter[str] = Counter()
    statuses: Counter[str] = Counter()

    class Workflow(fuzz_schema.as_state_machine()):  # type: ignore[misc]  # built at run time
        # Each scenario starts from the same data and is rolled back: Hypothesis replays
        # scenarios and refuses ones whose steps depend on what an earlier scenario left behind.
        def setup(self) -> None:
            super().setup()
            self.scenario = fuzz_connection.begin()

        def teardown(self) -> None:
            self.scenario.rollback()
            super().teardown()

        def get_call_kwargs(self, case: Any) -> dict[str, Any]:  # noqa: ARG002 - same for all
            return {"headers": {"Authorization": f"Bearer {fuzz_token}"}}

        def step(self, input: Any) -> Any:
            if input.transition is not None:
                transitions[input.transition.id.split(" -> ")[1]] += 1
            return super().step(input)

        def after_call(self, response: Any, case: Any) -> None:
            super().after_call(response, case)  # records what the use-after-free checks need
            statuses[f"{case.operation.definition.raw['operationId']} {response.status_code}"] += 1

    Workflow.run(
        settings=settings(
            max_examples=60,
            stateful_step_count=6,
            deadline=None,
            derandomize=True,  # scenarios are rolled back, so the same run every time
            suppress_health_check=list(HealthCheck),
            # no shrinking: the database keeps what earlier steps did, so a replay cannot
            # reproduce a run exactly (Schemathesis' own default for state machines)
            phases=[Phase.generate],
        )
    )
    # the declared links were walked, and led to real successes on the created resources
    for link in (
        "GetArticle",
        "UpdateArticle",
        "DeleteArticle",
        "CreateComment",
        "FavoriteArticle",
    ):
        assert any(t.endswith(link) for t in transitions), (link, transitions)
    for outcome in ("create_article 201", "get_article 200", "delete_article 204",
                    "create_comment 201", "favorite_article 200"):  # fmt: skip
        assert statuses[outcome] > 0, (outcome, statuses)
