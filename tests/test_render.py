"""Wire formats that clients check with a regex."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from handlers.render import timestamp


@pytest.mark.parametrize(
    ("moment", "shown"),
    [
        (datetime(2016, 2, 18, 3, 22, 56, 637000), "2016-02-18T03:22:56.637Z"),  # SQLite: naive UTC
        (datetime(2016, 2, 18, 3, 22, 56, 637000, tzinfo=UTC), "2016-02-18T03:22:56.637Z"),
        (datetime(2016, 2, 18, 3, 22, 56, tzinfo=UTC), "2016-02-18T03:22:56.000Z"),
        (datetime(2016, 2, 18, 3, 22, 56, 999999, tzinfo=UTC), "2016-02-18T03:22:56.999Z"),
        # another zone is shown in UTC
        (datetime(2016, 2, 18, 5, 22, 56, 5000, tzinfo=timezone(timedelta(hours=2))),
         "2016-02-18T03:22:56.005Z"),
    ],
)  # fmt: skip
def test_timestamps_are_utc_with_milliseconds_and_z(moment: datetime, shown: str) -> None:
    assert timestamp(moment) == shown
