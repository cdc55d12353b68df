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


@contextmanager
def serving(
    command: list[str], env: dict[str, str], workdir: Path, probe: str = "/api/tags"
) -> Iterator[str]:
    """`command` run as a server on a free port (PORT) until the block ends; its base URL."""
    port = _free_port()
    env = {**os.environ, "PORT": str(port), "PYTHONPATH": str(ROOT), **env}
    with (workdir / "server.log").open("w") as log:
        proc = subprocess.Popen(command, cwd=workdir, env=env, stdout=log, stderr=log)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(base + probe, timeout=1).close()
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError((workdir / "server.log").read_text()) from None
                    time.sleep(0.2)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@pytest.fixture
def server(fresh_database: str, tmp_path: Path) -> Iterator[str]:
    env = {
        "CONDUIT_ENV": "development",
        "DATABASE_URL": fresh_database,
        # the process's own counters, whatever this shell's REDIS_URL says
        "REDIS_URL": "",
        # the concurrency tests make more anonymous requests from one address in a minute than
        # any person; the other limits stay as deployed
        "RATE_LIMIT_DEFAULT": "100000/minute",
    }
    with serving([sys.executable, "-m", "cli", "run"], env, tmp_path) as base:
        yield base


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
