"""A production process freezes what it built at start-up, so the collector stops walking it.

A full collection over the app's objects took about 100 ms, with every request of the worker
waiting: that was the p99 of the reads at 16 connections (docs/performance.md). Each case runs
in a process of its own, since a frozen object is never collected.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

PROGRAM = """
import gc
from app import create_app
app = create_app()
with app.test_client() as client:  # the lifespan runs: what a server does at start-up
    assert client.get("/api/tags").status_code == 200
    print(gc.get_freeze_count())
"""


def _frozen(environment: str, tmp_path: Path) -> int:
    env = {
        "CONDUIT_ENV": environment,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'frozen.db'}",
        "SECRET_KEY": "a-secret-for-this-test-only-" + "x" * 40,
        "RATE_LIMITS": "off",
        "LOG_LEVEL": "WARNING",
        "PATH": "/usr/bin:/bin",
    }
    migrate = [sys.executable, "-m", "cli", "migrate"]
    subprocess.run(migrate, cwd=ROOT, env=env, check=True, capture_output=True, timeout=120)
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return int(done.stdout.split()[-1])


def test_a_production_app_freezes_its_start_up_objects(tmp_path: Path) -> None:
    # the app, its spec and its validators are well over 50,000 objects
    assert _frozen("production", tmp_path) > 50_000


def test_development_freezes_nothing(tmp_path: Path) -> None:
    assert _frozen("development", tmp_path) == 0
