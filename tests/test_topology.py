"""The deployment docker-compose.yml describes, run from local processes: nginx, with the same
deploy/nginx/conduit.conf (only the upstream addresses and the listen port substituted), in
front of two `make serve` processes that share one new PostgreSQL database and Redis.

`make topology-test` runs this file alone. The tests run in file order on one topology; the
last one kills an app process.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
import redis
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from db import migrate
from db.migrate import LOCK_KEY
from settings import Settings
from tests.conftest import fresh_database_url
from tests.live import _free_port
from tests.test_deploy_files import (
    NGINX_CONF,
    nginx_binary,
    nginx_main_config,
    render_nginx,
)

ROOT = Path(__file__).parent.parent
REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# small enough to reach in a few requests; below 40 the counting is exact (shell/ratelimit.py)
AUTH_QUOTA = 7
START_SECONDS = 60


@dataclass
class Reply:
    status: int
    headers: Message
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
) -> Reply:
    data = raw if raw is not None else json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method)
    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=15) as r:
            return Reply(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        with e:
            return Reply(e.code, e.headers, e.read())


@dataclass
class Topology:
    nginx: str
    apps: list[str]
    groups: list[int]  # each app's process group: make, gunicorn and its workers
    logs: list[Path]  # each app's output
    nginx_log: Path  # nginx's access log, one JSON line per request
    client: dict[str, str]  # the headers of this run's client
    addresses: list[str]  # every client address used, whose counters go at the end
    token: str = ""

    def new_client(self) -> str:
        """An address of the benchmarking range: the apps trust the local proxy's
        X-Forwarded-For, so each client counts on its own, apart from other runs' clients."""
        address = f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"  # noqa: S311  # not secret
        self.addresses.append(address)
        return address

    def nginx_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.nginx_log.read_text().splitlines() if line]

    def auth(self) -> dict[str, str]:
        return {**self.client, "Authorization": f"Token {self.token}"}


def _wait_until_ready(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_SECONDS
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{url} never answered; output:\n{log.read_text()[-4000:]}")
        time.sleep(0.2)


@contextlib.contextmanager
def _process_group(
    command: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """A process in a session of its own, so that it and every child it starts (make's shell,
    gunicorn's workers) are stopped together, whatever happens."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        yield proc
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=25)
        # workers outlive their master for a moment; nothing of the group may stay behind
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def fresh_postgres(directory: Path) -> contextlib.AbstractContextManager[str]:
    """A new PostgreSQL database of this test's own, dropped at the end."""
    return contextlib.contextmanager(fresh_database_url)("postgresql", directory, "unused")


def _redis_or_fail() -> redis.Redis:
    client = redis.Redis.from_url(REDIS_URL)
    client.ping()  # no Redis is a failure here, as in tests/test_rate_limits.py
    return client


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    nginx = nginx_binary()
    tmp = tmp_path_factory.mktemp("topology")
    store = _redis_or_fail()
    addresses: list[str] = []
    with contextlib.ExitStack() as stack:
        stack.callback(store.close)
        database = stack.enter_context(fresh_postgres(tmp))
        ports = [_free_port(), _free_port()]
        common = {
            k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MAKELEVEL", "MFLAGS")
        } | {
            "CONDUIT_ENV": "production",
            "HOST": "127.0.0.1",
            "SECRET_KEY": secrets.token_urlsafe(48),  # one for both: a token works at either
            "DATABASE_URL": database,
            "REDIS_URL": REDIS_URL,
            "TRUSTED_PROXIES": "127.0.0.1",
            "WORKERS": "1",
            "THREADS": "2",
            "RATE_LIMIT_AUTH": f"{AUTH_QUOTA}/hour",  # a window that cannot end mid-test
            "RATE_LIMIT_DEFAULT": "100000/minute",  # the kill test's loop of GETs stays under it
        }
        # `make serve` itself, with the interpreter running these tests; nothing reinstalled
        make = [
            "make",
            "--no-print-directory",
            f"VENV={sys.prefix}",
            "-o",
            f"{sys.prefix}/.installed",
            "serve",
        ]
        procs, logs = [], []
        for n, port in enumerate(ports, 1):
            env = common | {
                "PORT": str(port),
                "PROMETHEUS_MULTIPROC_DIR": str(tmp / f"metrics-{n}"),
            }
            logs.append(tmp / f"app{n}.log")
            # both start at once: their migrations of the new database race, as in compose
            procs.append(stack.enter_context(_process_group(make, env, logs[-1])))
        apps = [f"http://127.0.0.1:{port}" for port in ports]
        for app, proc, log in zip(apps, procs, logs, strict=True):
            _wait_until_ready(app + "/readyz", proc, log)

        nginx_port = _free_port()
        conf = tmp / "conduit.conf"
        upstreams = [f"127.0.0.1:{port}" for port in ports]
        conf.write_text(render_nginx(NGINX_CONF.read_text(), upstreams, f"127.0.0.1:{nginx_port}"))
        main = nginx_main_config(tmp, conf)
        nginx_log = tmp / "nginx-access.log"
        command = [
            nginx,
            "-e",
            str(tmp / "error.log"),
            "-p",
            str(tmp),
            "-c",
            str(main),
            "-g",
            "daemon off;",
        ]
        proxy = stack.enter_context(_process_group(command, dict(os.environ), nginx_log))
        base = f"http://127.0.0.1:{nginx_port}"
        _wait_until_ready(base + "/healthz", proxy, tmp / "error.log")

        run = Topology(base, apps, [p.pid for p in procs], logs, nginx_log, {}, addresses)
        run.client["X-Forwarded-For"] = run.new_client()
        stack.callback(_forget_counters, store, addresses)
        yield run


def _forget_counters(store: redis.Redis, addresses: list[str]) -> None:
    """The counters of this run's client addresses (its users' ones expire within the minute)."""
    for address in addresses:
        keys = list(store.scan_iter(f"*address:{address}/*"))
        if keys:
            store.delete(*keys)


def _migrating(env: dict[str, str]) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "cli", "migrate"]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )


def test_migrations_of_one_new_database_at_once_take_turns(tmp_path: Path) -> None:
    """Every app process migrates at start-up (`make serve`, the image's CMD). Three at once on a
    new PostgreSQL database wait for the migration lock (held here, as if a fourth were
    migrating), then all succeed, where all but one used to fail on the catalog."""
    with fresh_postgres(tmp_path) as database:
        engine = create_engine(database)
        try:
            with engine.connect() as holder, engine.connect() as watcher:
                holder.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
                env = {**os.environ, "DATABASE_URL": database}
                migrations = [_migrating(env) for _ in range(3)]
                waiting = 0
                deadline = time.monotonic() + 60
                running = migrations
                while waiting < 3 and running and time.monotonic() < deadline:
                    time.sleep(0.2)
                    waiting = watcher.execute(text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                    )).scalar_one()  # fmt: skip
                    watcher.rollback()  # a fresh snapshot of pg_locks each time
                    running = [m for m in migrations if m.poll() is None]
                assert waiting == 3, [m.poll() for m in migrations]
                holder.commit()  # the lock goes with the transaction
            outputs = [m.communicate(timeout=60)[0].decode() for m in migrations]
            assert [m.returncode for m in migrations] == [0, 0, 0], "\n".join(outputs)
            with engine.connect() as conn:
                versions = conn.execute(text("SELECT version_num FROM alembic_version")).all()
        finally:
            engine.dispose()
        head = ScriptDirectory.from_config(migrate.config()).get_current_head()
        assert [v for (v,) in versions] == [head]


def test_both_apps_answer_through_nginx_with_the_request_id(topology: Topology) -> None:
    mine = f"topology-{secrets.token_hex(6)}"
    answer = call(
        topology.nginx, "GET", "/api/tags", headers={**topology.client, "X-Request-ID": mine}
    )
    assert answer.status == 200
    assert answer.headers["X-Request-ID"] == mine
    # none sent: nginx makes one, and the app keeps it (so both logs carry the same id)
    made = call(topology.nginx, "GET", "/api/tags", headers=topology.client).headers["X-Request-ID"]
    # one the app would not keep: nginx replaces it the way the app would
    bad = call(
        topology.nginx, "GET", "/api/tags", headers={**topology.client, "X-Request-ID": "a b"}
    )
    replaced = bad.headers["X-Request-ID"]
    assert replaced not in ("a b", made)
    for _ in range(4):
        assert call(topology.nginx, "GET", "/healthz").status == 200
    lines = topology.nginx_lines()
    logged = {line["request_id"] for line in lines}
    assert {mine, made, replaced} <= logged
    app_logs = "".join(log.read_text() for log in topology.logs)
    for rid in (mine, made, replaced):
        assert f'"request_id":"{rid}"' in app_logs
    # round robin: both apps served some of these
    served_by = {line["upstream"] for line in lines}
    assert {app.removeprefix("http://") for app in topology.apps} <= served_by


def test_a_user_registers_writes_and_pages_through_nginx(topology: Topology) -> None:
    user = {"username": "jake", "email": "jake@example.com", "password": "jakejakejake"}
    registered = call(topology.nginx, "POST", "/api/users", {"user": user}, topology.client)
    assert registered.status == 201, registered.body
    login = {"user": {"email": user["email"], "password": user["password"]}}
    logged_in = call(topology.nginx, "POST", "/api/users/login", login, topology.client)
    assert logged_in.status == 200, logged_in.body
    topology.token = logged_in.json()["user"]["token"]
    for n in range(3):
        article = {"title": f"Dragons {n}", "description": "d" * 450, "body": "b", "tagList": ["t"]}
        created = call(
            topology.nginx, "POST", "/api/articles", {"article": article}, topology.auth()
        )
        assert created.status == 201, created.body

    listed = call(
        topology.nginx, "GET", "/api/articles?author=jake&limit=1", headers=topology.auth()
    )
    assert listed.status == 200
    assert listed.json()["articlesCount"] == 3
    # the links point at the proxy the client asked, not at the app that answered
    links = {
        part.split(";")[1].strip(): part.split(";")[0].strip(" <>")
        for part in listed.headers["Link"].split(",")
    }
    assert links['rel="next"'] == f"{topology.nginx}/api/articles?author=jake&limit=1&offset=1"
    nxt = call(links['rel="next"'], "GET", "", headers=topology.auth())
    assert nxt.status == 200
    assert nxt.json()["articles"][0]["title"] != listed.json()["articles"][0]["title"]
    assert listed.headers["RateLimit-Policy"] == '"default";q=100000;w=60'
    assert listed.headers["RateLimit"].startswith('"default";r=')


def test_an_idempotent_post_is_replayed_by_either_app(topology: Topology) -> None:
    key = secrets.token_hex(16)
    article = {"article": {"title": "Only once", "description": "d", "body": "b"}}
    headers = {**topology.auth(), "Idempotency-Key": key}
    # through nginx (either app), then to each app directly, then through nginx again
    targets = [topology.nginx, *topology.apps, topology.nginx, topology.nginx]
    answers = [call(base, "POST", "/api/articles", article, headers) for base in targets]
    assert [a.status for a in answers] == [201] * len(targets)
    assert answers[0].headers["Idempotent-Replayed"] is None
    assert [a.headers["Idempotent-Replayed"] for a in answers[1:]] == ["true"] * (len(targets) - 1)
    assert {a.body for a in answers} == {answers[0].body}
    listed = call(
        topology.nginx, "GET", "/api/articles?author=jake&limit=100", headers=topology.auth()
    )
    assert [a["title"] for a in listed.json()["articles"]].count("Only once") == 1


def test_a_rate_limit_is_counted_once_for_both_apps(topology: Topology) -> None:
    """Through nginx and straight to each app in turn: one count in Redis, so the quota runs out
    after AUTH_QUOTA requests in all, where each process counting alone would allow more."""
    address = topology.new_client()
    login = {"user": {"email": "jake@example.com", "password": "jakejakejake"}}
    targets = [topology.nginx, *topology.apps] * 3
    answers = [
        call(base, "POST", "/api/users/login", login, {"X-Forwarded-For": address})
        for base in targets
    ]
    assert [a.status for a in answers] == [200] * AUTH_QUOTA + [429] * (len(targets) - AUTH_QUOTA)
    # each app tells where the client stands in the shared count
    remaining = [a.headers["RateLimit"].split(";t=")[0] for a in answers[:AUTH_QUOTA]]
    assert remaining == [f'"auth";r={AUTH_QUOTA - n}' for n in range(1, AUTH_QUOTA + 1)]
    refused = answers[-1]
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0


def test_gzip_spares_the_etags_that_if_match_needs(topology: Topology) -> None:
    accept = {**topology.auth(), "Accept-Encoding": "gzip"}
    listed = call(topology.nginx, "GET", "/api/articles?author=jake", headers=accept)
    assert listed.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in listed.headers["Vary"]
    articles = json.loads(gzip.decompress(listed.body))["articles"]
    slug = articles[0]["slug"]
    long_body = {"article": {"body": "A long story. " * 200}}
    assert (
        call(topology.nginx, "PUT", f"/api/articles/{slug}", long_body, topology.auth()).status
        == 200
    )
    read = call(topology.nginx, "GET", f"/api/articles/{slug}", headers=accept)
    assert len(read.body) > 2048  # gzip would have compressed it
    assert read.headers["Content-Encoding"] is None
    assert not read.headers["ETag"].startswith("W/")
    change = {"article": {"description": "changed"}}
    written = call(
        topology.nginx,
        "PUT",
        f"/api/articles/{slug}",
        change,
        {**topology.auth(), "If-Match": read.headers["ETag"]},
    )
    assert written.status == 200, written.body


def test_nginx_refuses_a_body_the_app_would_refuse_in_the_same_shape(topology: Topology) -> None:
    limit = Settings().max_body_bytes
    too_big = b'{"user": "' + b"x" * limit + b'"}'
    at_nginx = call(topology.nginx, "POST", "/api/users", raw=too_big, headers=topology.client)
    at_app = call(topology.apps[0], "POST", "/api/users", raw=too_big, headers=topology.client)
    assert at_nginx.status == at_app.status == 413
    assert at_nginx.json() == at_app.json()
    assert at_nginx.headers["Content-Type"] == "application/problem+json"
    assert at_nginx.headers["X-Request-ID"]
    # nginx answered this one itself: no app saw it
    (line,) = [
        x for x in topology.nginx_lines() if x["request_id"] == at_nginx.headers["X-Request-ID"]
    ]
    assert line["upstream"] == ""


def test_killing_an_app_process_loses_no_get(topology: Topology) -> None:
    """SIGKILL one app (make, gunicorn and its worker) while GETs run through nginx: each one
    still succeeds, nginx retrying on the other app what the dead one did not answer."""
    address = topology.new_client()
    statuses: list[int] = []
    stop = threading.Event()

    def loop(n: int) -> None:
        i = 0
        while not stop.is_set():
            i += 1
            headers = {"X-Forwarded-For": address, "X-Request-ID": f"kill-{n}-{i}"}
            statuses.append(
                call(topology.nginx, "GET", "/api/articles?limit=5", headers=headers).status
            )

    threads = [threading.Thread(target=loop, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    try:
        deadline = time.monotonic() + 30
        while len(statuses) < 30 and time.monotonic() < deadline:
            time.sleep(0.01)
        os.killpg(topology.groups[0], signal.SIGKILL)
        killed_at = len(statuses)
        while len(statuses) < killed_at + 60 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=20)
    assert len(statuses) >= killed_at + 60, "the loop stalled"
    assert set(statuses) == {200}, statuses
    dead, alive = (app.removeprefix("http://") for app in topology.apps)
    lines = [x for x in topology.nginx_lines() if x["request_id"].startswith("kill-")]
    # the first try at the dead app failed and the same GET went to the other one
    assert any(x["upstream"] == f"{dead}, {alive}" for x in lines), lines
    with pytest.raises(urllib.error.URLError, match="refused"):
        urllib.request.urlopen(topology.apps[0] + "/healthz", timeout=2)
