"""End to end: the service as a user starts it (`python -m cli run`), spoken to over HTTP."""

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
    port = _free_port()
    env = {
        **os.environ,
        "CONDUIT_ENV": "development",
        "PORT": str(port),
        "DATABASE_URL": fresh_database,
        "PYTHONPATH": str(ROOT),
    }
    log = (tmp_path / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "run"], cwd=tmp_path, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"{base}/api/tags", timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError((tmp_path / "server.log").read_text()) from None
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=10)
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


def test_a_new_user_registers_writes_and_sees_the_article_listed(server: str) -> None:
    status, ui = 0, ""
    with urllib.request.urlopen(f"{server}/api/ui/", timeout=5) as r:
        status, ui = r.status, r.read().decode()
    assert status == 200
    assert "swagger-ui" in ui

    status, body = call(
        server,
        "POST",
        "/api/users",
        {"user": {"username": "newbie", "email": "newbie@example.com", "password": "password1"}},
    )
    assert status == 201
    token = body["user"]["token"]
    article = {"title": "Hello world", "description": "First", "body": "Hi", "tagList": ["intro"]}
    status, body = call(server, "POST", "/api/articles", {"article": article}, token)
    assert status == 201
    slug = body["article"]["slug"]

    status, body = call(server, "GET", "/api/articles")
    assert status == 200
    assert body["articlesCount"] == 1
    assert [a["slug"] for a in body["articles"]] == [slug]
    status, body = call(server, "GET", "/api/tags")
    assert body == {"tags": ["intro"]}
    status, body = call(server, "DELETE", f"/api/articles/{slug}", token=token)
    assert (status, body) == (204, None)
    status, body = call(server, "GET", f"/api/articles/{slug}")
    assert status == 404
    assert body["errors"] == {"article": ["not found"]}
