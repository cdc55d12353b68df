"""Observability as deployed: gunicorn with two worker processes, one set of metrics."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live import ROOT, serving

REQUESTS = 60
LIST_TAGS_OK = {"operation": "list_tags", "status": "200"}


@pytest.fixture
def deployed(fresh_database: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`make serve`: migrated first, then gunicorn with two uvicorn workers, JSON logs."""
    env = {**os.environ, "DATABASE_URL": fresh_database, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "cli", "migrate"],
        cwd=tmp_path,
        env={**env, "CONDUIT_ENV": "development"},
        check=True,
        capture_output=True,
    )
    metrics_dir = tmp_path / "metrics"
    gunicorn = [
        str(Path(sys.executable).parent / "gunicorn"),
        "app:create_app()",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
    ]
    config = {
        "CONDUIT_ENV": "development",
        "DATABASE_URL": fresh_database,
        "WORKERS": "2",
        "LOG_FORMAT": "json",
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        "REDIS_URL": "",
    }
    # probed on /healthz, which is not counted as API traffic
    with serving(gunicorn, config, tmp_path, probe="/healthz") as base:
        yield base, metrics_dir


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {})) as r:
        return r.status, r.read()


def _list_tags_total(base: str) -> float:
    _, page = _get(f"{base}/metrics")
    for family in text_string_to_metric_families(page.decode()):
        for s in family.samples:
            if s.name == "conduit_requests_total" and s.labels == LIST_TAGS_OK:
                return s.value
    return 0.0


def test_metrics_count_every_worker_whichever_worker_answers(
    deployed: tuple[str, Path],
) -> None:
    base, metrics_dir = deployed
    with ThreadPoolExecutor(8) as pool:
        statuses = list(pool.map(lambda _: _get(f"{base}/api/tags")[0], range(REQUESTS)))
    assert statuses == [200] * REQUESTS
    # both workers served some: each keeps its counts in files named after its pid
    pids = {p.stem.rsplit("_", 1)[1] for p in metrics_dir.glob("counter_*.db")}
    assert len(pids) == 2, pids
    # and any worker, asked several times, reports the sum of both
    assert {_list_tags_total(base) for _ in range(6)} == {float(REQUESTS)}


def _log_lines_once_written(log: Path, request_ids: set[str]) -> list[dict[str, Any]]:
    """The server log's lines, once lines of all of `request_ids` are among them: a worker
    writes its access line as the answer ends, which may be just after the client read it."""
    deadline = time.monotonic() + 10
    while True:
        *complete, _being_written = log.read_text().split("\n")
        lines = [json.loads(line) for line in complete]
        missing = request_ids - {line.get("request_id") for line in lines}
        if not missing:
            return lines
        assert time.monotonic() < deadline, f"no log lines for {missing}"
        time.sleep(0.05)


def test_json_log_lines_from_every_worker_carry_the_request_id(
    deployed: tuple[str, Path], tmp_path: Path
) -> None:
    base, _ = deployed
    sent = {f"deployed-{n}" for n in range(10)}
    for request_id in sorted(sent):
        _get(f"{base}/api/tags", {"X-Request-ID": request_id})
    lines = _log_lines_once_written(tmp_path / "server.log", sent)
    # every line the server wrote is JSON, gunicorn's own included
    assert {"gunicorn.error", "conduit.access"} <= {line["logger"] for line in lines}
    access = {line["request_id"]: line for line in lines if line["logger"] == "conduit.access"}
    for n in range(10):
        line = access[f"deployed-{n}"]
        assert (line["operation"], line["status"], line["client"]) == (
            "list_tags",
            200,
            "127.0.0.1",
        )
    # and the server's own access line is gone: one line per request
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
