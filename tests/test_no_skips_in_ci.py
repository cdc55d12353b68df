"""REQUIRE_ALL=1 (set by `.ci/run`) makes a skipped test a failure, so CI never loses a part."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent

SKIPPING = """
import pytest

def test_needs_a_widget():
    pytest.skip("no widget here")
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, value: str
) -> pytest.RunResult:
    monkeypatch.setenv("REQUIRE_ALL", value)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    pytester.makepyfile(test_widget=SKIPPING)
    # the plugin is imported before pytest could rewrite its asserts; it has none
    return pytester.runpytest_subprocess(
        "-p", "tests.require_all", "-p", "no:cacheprovider", "--assert=plain", "-q"
    )  # fmt: skip


def test_a_skip_is_a_failure_under_require_all(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _run(pytester, monkeypatch, "1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*REQUIRE_ALL=1 asks for every part*no widget here*"])


def test_a_skip_stays_a_skip_on_a_laptop(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    _run(pytester, monkeypatch, "").assert_outcomes(skipped=1)
