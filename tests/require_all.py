"""REQUIRE_ALL=1 (as `.ci/run` sets it) turns every skipped test into a failed one.

Tests skip with the reason where a system part they need is missing (PostgreSQL, Chromium, Node,
nginx), which suits a laptop; CI must run every part, so there a skip is a gap to fail on.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

REQUIRE_ALL = os.environ.get("REQUIRE_ALL") == "1"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome: Any = yield
    report: pytest.TestReport = outcome.get_result()
    if REQUIRE_ALL and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped, but REQUIRE_ALL=1 asks for every part: {reason}"
