"""One minute of `make fuzz` (tests/fuzz_live.py): Schemathesis, every phase and check, as a
user and an admin, against a live `make serve` (two workers, PostgreSQL).

`make fuzz` compares each worker's memory over the first and the last minute of ten; in one
minute that leaves nothing between the two, so this compares the first 15 seconds with the last.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import fresh_database_url
from tests.fuzz_live import fuzz

pytestmark = pytest.mark.schemathesis


@pytest.fixture
def fuzz_database(tmp_path: Path) -> Iterator[str]:
    yield from fresh_database_url("postgresql", tmp_path, "unused.db")


def test_a_minute_of_fuzzing_a_live_server_fails_no_check_and_grows_no_worker(
    fuzz_database: str, tmp_path: Path
) -> None:
    outcome = fuzz(fuzz_database, 60, tmp_path, window=15)
    print(outcome.summary())  # the figures, with pytest -rP
    # every check passed, every operation and phase ran, no 5xx, no worker replaced, and each
    # worker's least RSS over the last 15 s is within 10 % of the first 15 s'
    assert outcome.problems() == [], outcome.summary()
