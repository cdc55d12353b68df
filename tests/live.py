"""A real server process for the tests that must speak HTTP to one."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).parent.parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture
def server(fresh_database: str, tmp_path: Path) -> Iterator[str]:
    """The development server (`make run`), on a database of the test's own."""
    with serve([sys.executable, "-m", "cli", "run"], fresh_database, tmp_path) as base:
        yield base


@contextmanager
def serve(command: list[str], database_url: str, directory: Path, **env: str) -> Iterator[str]:
    """Runs the command as a server on a free port of loopback until it answers, then yields
    its base URL; its output goes to `server.log` in `directory`."""
    port = _free_port()
    environ = {
        **os.environ,
        "CONDUIT_ENV": "development",
        "PORT": str(port),
        "DATABASE_URL": database_url,
        "PYTHONPATH": str(ROOT),
        **env,
    }
    log_path = directory / "server.log"
    log = log_path.open("w")
    proc = subprocess.Popen(command, cwd=directory, env=environ, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/healthz", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(log_path.read_text()) from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        log.close()


def call(base: str, method: str, path: str, body: Any = None, token: str = "") -> tuple[int, Any]:
    headers = {"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())
