"""Faults (issue 10, item 4): what counts as the database being out of reach, in process; then
against the server as `make serve` runs it (gunicorn, two workers, production settings): the
database stopped or killed under load, a worker SIGKILLed in the middle of a write, Redis
stopped.

The database is a PostgreSQL cluster of this module's own, made with the system's `initdb` and
`pg_ctl` in a temporary directory and listening on a free port, so that stopping it touches
nothing else; Redis likewise is a `redis-server` of its own. Both are skipped with the reason
where the binaries are missing, which REQUIRE_ALL=1 (CI) turns into a failure.
"""

from __future__ import annotations

import glob
import json
import logging
import math
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from db import articles, idempotency, session
from db.errors import unreachable
from db.session import make_engine
from shell import problems
from tests.helpers import assert_problem
from tests.live import ROOT, serving

SECRET = secrets.token_urlsafe(48)  # production refuses a short or placeholder one
# how long a client waits for an answer: anything slower counts as a hang
CLIENT_TIMEOUT = 10.0
# an answer while the database is down is a quick 503, not a wait for a connection timeout
OUTAGE_ANSWER_SECONDS = 5.0
# what no error may show (as tests/test_owasp_api8_misconfiguration.py)
LEAKS = ("Traceback", "SELECT", "INSERT", "sqlalchemy", "psycopg", "OperationalError", 'File "',
         ".py", "127.0.0.1")  # fmt: skip
TAGS_PER_ARTICLE = 10  # the most an article may have (openapi/api.yaml)


# --- what a client sees -----------------------------------------------------------------------


@dataclass(repr=False)
class Answer:
    kind: str
    sent: float
    took: float
    status: int = 0  # 0: no HTTP answer at all (refused, reset, timed out)
    headers: dict[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""
    error: str = ""

    def json(self) -> Any:
        return json.loads(self.body)

    def __repr__(self) -> str:  # short, for assertion messages listing many
        outcome = self.status or self.error
        return f"<{self.kind}: {outcome} after {self.took:.2f} s {self.body[:200]!r}>"


def request(
    base: str, method: str, path: str, body: Any = None, token: str = "", kind: str = ""
) -> Answer:
    headers = {"Content-Type": "application/json", "X-Requested-With": "XMLHttpRequest"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    answer = Answer(kind or f"{method} {path}", time.monotonic(), 0.0)
    try:
        with urllib.request.urlopen(req, timeout=CLIENT_TIMEOUT) as r:
            answer.status, answer.headers, answer.body = r.status, _lower(r.headers), r.read()
    except urllib.error.HTTPError as e:
        answer.status, answer.headers, answer.body = e.code, _lower(e.headers), e.read()
    except OSError as e:  # refused, reset, timed out: no answer
        answer.error = repr(e)
    answer.took = time.monotonic() - answer.sent
    return answer


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def assert_unavailable(answer: Answer) -> None:
    """A 503 problem saying when to retry, that tells nothing of what failed inside."""
    assert answer.status == 503, answer
    assert answer.headers["content-type"] == "application/problem+json", answer
    assert int(answer.headers["retry-after"]) >= 1, answer
    problem = answer.json()
    assert problem["status"] == 503
    assert problem["title"] == "Service Unavailable"
    assert problem["errors"]
    assert not [leak for leak in LEAKS if leak in answer.body.decode()], answer
    assert answer.headers["x-request-id"]  # what to quote when reporting it


def register(base: str, name: str) -> str:
    user = {"username": name, "email": f"{name}@example.com", "password": "password-" + name}
    answer = request(base, "POST", "/api/users", {"user": user})
    assert answer.status == 201, answer
    token: str = answer.json()["user"]["token"]
    return token


def tags_for(title: str) -> list[str]:
    """Ten tags: eight the article's own, two that every article shares (found, not created)."""
    own = [f"{title.replace(' ', '-')}-{n}" for n in range(TAGS_PER_ARTICLE - 2)]
    return [*own, "fault-shared-a", "fault-shared-b"]


def create(base: str, token: str, title: str) -> Answer:
    article = {"title": title, "description": "d", "body": "b", "tagList": tags_for(title)}
    return request(base, "POST", "/api/articles", {"article": article}, token, kind="create")


def wait_for(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"not within {seconds} s: {what}"
        time.sleep(0.05)


# --- in process: what counts as an outage, and its answer ------------------------------------


def _lost(*_args: Any) -> list[str]:
    raise OperationalError(
        "SELECT tags.name FROM tags", {}, Exception("server closed the connection"),
        connection_invalidated=True,
    )  # fmt: skip


def _pool_exhausted(*_args: Any) -> list[str]:
    raise PoolTimeout("QueuePool limit of size 4 overflow 4 reached")


@pytest.mark.parametrize("failure", [_lost, _pool_exhausted])
def test_a_database_out_of_reach_is_a_503_logged_once_without_a_traceback(
    client: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    failure: Callable[..., list[str]],
) -> None:
    monkeypatch.setattr(problems, "DATABASE_OUTAGE", problems.DatabaseOutage(60))
    monkeypatch.setattr(articles, "tags_in_use", failure)
    caplog.set_level(logging.INFO, logger="shell.problems")
    answers = [client.get("/api/tags") for _ in range(3)]
    for r in answers:
        body = assert_problem(r, 503, "server")
        assert int(r.headers["retry-after"]) == problems.RETRY_UNAVAILABLE_SECONDS
        assert not [leak for leak in LEAKS if leak in r.text], r.text
        assert body["detail"] == "The service is briefly unavailable; retry in 5 seconds."
    logged = [(r.levelname, r.exc_info) for r in caplog.records if r.name == "shell.problems"]
    assert logged == [("WARNING", None)]  # once for the three, and no traceback


def test_a_keyed_write_in_an_outage_is_a_503_and_logs_no_traceback(
    api: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The write fails, and so does giving its Idempotency-Key back: neither logs a
    traceback."""
    jake = api.register()
    monkeypatch.setattr(problems, "DATABASE_OUTAGE", problems.DatabaseOutage(60))

    def lost(*args: Any, **_kwargs: Any) -> Any:
        return _lost(*args)

    monkeypatch.setattr(articles, "create", lost)
    monkeypatch.setattr(idempotency, "release", lost)
    caplog.set_level(logging.INFO)
    article = {"article": {"title": "t", "description": "d", "body": "b"}}
    headers = {**jake.headers, "Idempotency-Key": "outage-1"}
    r = api.client.post("/api/articles", json=article, headers=headers)
    assert_problem(r, 503, "server")
    released = [r for r in caplog.records if r.name == "shell.idempotency"]
    assert [r.getMessage() for r in released] == ["could not release an idempotency key"]
    assert [r for r in caplog.records if r.exc_info] == []


def test_a_database_error_that_is_no_outage_is_still_a_500(
    client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_args: Any) -> list[str]:  # an OperationalError, on a connection still fine
        raise OperationalError("SELECT tags.name FROM tags", {}, Exception("disk full"))

    monkeypatch.setattr(articles, "tags_in_use", broken)
    assert_problem(client.get("/api/tags"), 500, "server")


def test_a_refused_connection_counts_as_an_outage() -> None:
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/none")
    with pytest.raises(OperationalError) as refused:
        engine.connect()
    engine.dispose()
    assert unreachable(refused.value)


def test_a_database_that_never_answers_is_an_outage_after_the_connect_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(session, "CONNECT_TIMEOUT_SECONDS", 1)
    silent = socket.socket()  # the kernel completes the handshake; nothing ever answers
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{silent.getsockname()[1]}/x")
    failed: list[BaseException] = []

    def connect() -> None:
        try:
            engine.connect()
        except OperationalError as e:
            failed.append(e)

    # on a thread of its own: without the timeout, connecting would wait for ever
    attempt = threading.Thread(target=connect, daemon=True)
    started = time.monotonic()
    attempt.start()
    attempt.join(timeout=10)
    took = time.monotonic() - started
    silent.close()
    assert len(failed) == 1, "still connecting after 10 s"
    assert took < 5  # 1 s, and room for a busy machine
    assert unreachable(failed[0])


def test_a_statement_the_server_cancels_is_no_outage(postgresql_url: str) -> None:
    """An OperationalError with a SQLSTATE of its own (57014, query_canceled): the server
    answers, and the same statement would fail again."""
    engine = make_engine(postgresql_url)
    with engine.connect() as conn:
        conn.execute(text("SET statement_timeout = 1"))
        with pytest.raises(OperationalError) as cancelled:
            conn.execute(text("SELECT pg_sleep(1)"))
    engine.dispose()
    assert not unreachable(cancelled.value)


# --- a PostgreSQL cluster of our own ----------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=_version)
    if found:
        return Path(found[-1]).parent
    on_path = shutil.which("pg_ctl")
    if on_path is None:
        pytest.skip("no initdb/pg_ctl (Debian's postgresql package) to start a cluster with")
    return Path(on_path).parent


def _version(pg_ctl: str) -> int:
    major = Path(pg_ctl).parent.parent.name  # /usr/lib/postgresql/<major>/bin/pg_ctl
    return int(major) if major.isdigit() else 0


class Cluster:
    """A throwaway cluster: trust authentication, on 127.0.0.1 and a free port, its socket in
    its own directory. PostgreSQL refuses to run as root, so as root it runs as `postgres`."""

    def __init__(self, directory: Path) -> None:
        self.bin = _postgres_bin()
        self.directory = directory
        self.data = directory / "data"
        self.port = _free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/conduit"
        self.dsn = f"host=127.0.0.1 port={self.port} user=postgres dbname=conduit"
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(directory, owner.pw_uid, owner.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str) -> None:
        command = [*self.as_user, str(self.bin / args[0]), *args[1:]]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stdout + done.stderr

    def create(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                  "--no-sync")  # fmt: skip
        self.start()
        with psycopg.connect(self.dsn, dbname="postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE conduit")

    def start(self) -> None:
        """Returns once the server accepts connections (`-w`)."""
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1"
            f" -c unix_socket_directories={self.directory}"
            # a process crash loses nothing fsync would have kept; only a machine crash does
            " -c fsync=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l",
                  str(self.directory / "server.log"), "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "immediate") -> None:
        """`immediate`: every server process quits at once, as in a crash."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        command = [*self.as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "status"]
        return subprocess.run(command, capture_output=True, check=False).returncode == 0

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            return conn.execute(sql, params).fetchall()

    def waiting_on_locks(self) -> int:
        rows = self.query(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = 'conduit' AND wait_event_type = 'Lock'"
        )
        count: int = rows[0][0]
        return count

    def in_transaction(self) -> int:
        """Sessions other than this query's own with a transaction open."""
        rows = self.query(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = 'conduit'"
            " AND xact_start IS NOT NULL AND pid <> pg_backend_pid()"
        )
        count: int = rows[0][0]
        return count

    def articles(self, titles: list[str]) -> dict[str, list[tuple[str, list[str]]]]:
        """title -> [(slug, its tags, sorted)], one entry per article with that title."""
        rows = self.query(
            "SELECT a.title, a.slug,"
            " coalesce(array_agg(t.name ORDER BY t.name) FILTER (WHERE t.id IS NOT NULL), '{}')"
            " FROM articles a LEFT JOIN article_tags j ON j.article_id = a.id"
            " LEFT JOIN tags t ON t.id = j.tag_id WHERE a.title = ANY(%s) GROUP BY a.id",
            titles,
        )
        found: dict[str, list[tuple[str, list[str]]]] = {}
        for title, slug, tags in rows:
            found.setdefault(title, []).append((slug, list(tags)))
        return found


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    # not under pytest's own temporary directory: that is readable by its owner alone, and
    # the cluster may run as another user
    directory = Path(tempfile.mkdtemp(prefix="conduit-faults-"))
    pg = Cluster(directory)
    try:
        pg.create()
        yield pg
    finally:
        subprocess.run([*pg.as_user, str(pg.bin / "pg_ctl"), "-D", str(pg.data), "-m",
                        "immediate", "stop"], capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Deployed:
    base: str
    pidfile: Path

    def workers(self) -> set[int]:
        """The gunicorn master's children."""
        master = int(self.pidfile.read_text())
        children = Path(f"/proc/{master}/task/{master}/children").read_text()
        return {int(pid) for pid in children.split()}


@pytest.fixture(scope="module")
def deployed(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """`make serve` on the cluster: migrated, then gunicorn with two workers, in production."""
    workdir = tmp_path_factory.mktemp("served")
    env = {**os.environ, "DATABASE_URL": cluster.url, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "cli", "migrate"], cwd=workdir, env=env, check=True,
                   capture_output=True)  # fmt: skip
    pidfile = workdir / "gunicorn.pid"
    gunicorn = [str(Path(sys.executable).parent / "gunicorn"), "app:create_app()",
                "--config", str(ROOT / "gunicorn.conf.py"), "--pid", str(pidfile)]  # fmt: skip
    config = {
        "CONDUIT_ENV": "production",
        "SECRET_KEY": SECRET,
        "DATABASE_URL": cluster.url,
        "WORKERS": "2",
        "REDIS_URL": "",
        # the load below comes from one address, far faster than any person
        "RATE_LIMIT_DEFAULT": "100000/minute",
        "RATE_LIMIT_AUTH": "100000/minute",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    with serving(gunicorn, config, workdir, probe="/healthz") as base:
        server = Deployed(base, pidfile)
        wait_for(lambda: len(server.workers()) == 2, 30, "two workers")
        yield server


@pytest.fixture
def served(cluster: Cluster, deployed: Deployed) -> Iterator[Deployed]:
    """The server, with the database started again after the test if it failed with it down,
    so that one failure does not fail the tests after it."""
    try:
        yield deployed
    finally:
        if not cluster.running():
            cluster.start()


def assert_whole_or_absent(
    cluster: Cluster, base: str, sent: list[str], answered: dict[str, Answer]
) -> dict[str, str]:
    """Every article sent exists with all its tags, or not at all, in the database and through
    the API; one that was answered 201 exists. Returns title -> slug of those that exist."""
    found = cluster.articles(sent)
    slugs = {}
    for title in sent:
        rows = found.get(title, [])
        assert len(rows) <= 1, (title, rows)  # each title was sent once
        if answered.get(title) is not None and answered[title].status == 201:
            assert rows, f"{title!r} was answered 201 but is not in the database"
        if rows:
            slug, tags = rows[0]
            assert tags == sorted(tags_for(title)), (title, tags)
            shown = request(base, "GET", f"/api/articles/{slug}")
            assert shown.status == 200, shown
            assert sorted(shown.json()["article"]["tagList"]) == sorted(tags_for(title))
            slugs[title] = slug
    return slugs


# --- the database stopped under load ----------------------------------------------------------


class Load:
    """Clients reading the article list and creating articles (with ten tags each), all the
    time, on threads of their own, recording every answer."""

    def __init__(self, base: str, token: str, readers: int = 2, writers: int = 2) -> None:
        self.base, self.token = base, token
        self.answers: list[Answer] = []
        self.titles: list[str] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._read) for _ in range(readers)]
        self.threads += [threading.Thread(target=self._write, args=(n,)) for n in range(writers)]
        self.created: dict[str, Answer] = {}

    def __enter__(self) -> Load:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=CLIENT_TIMEOUT * 2)

    def _read(self) -> None:
        while not self.stop.is_set():
            self._keep(request(self.base, "GET", "/api/articles?limit=5", kind="list"))

    def _write(self, n: int) -> None:
        i = 0
        while not self.stop.is_set():
            title = f"load {n} {i}"
            i += 1
            with self.lock:
                self.titles.append(title)
            answer = create(self.base, self.token, title)
            self.created[title] = answer
            self._keep(answer)

    def _keep(self, answer: Answer) -> None:
        with self.lock:
            self.answers.append(answer)

    def sent_between(self, start: float, end: float) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if start <= a.sent < end]

    def wait(self, since: float, each: int = 5) -> None:
        """Until each kind of request, sent since then, has been answered `each` times. (Time
        is not the measure: how much a second holds depends on what else the machine runs.)"""

        def enough() -> bool:
            sent = self.sent_between(since, math.inf)
            return all(sum(a.kind == kind for a in sent) >= each for kind in ("list", "create"))

        wait_for(enough, 30, f"{each} answers of each kind")


def test_a_stopped_database_is_a_503_with_retry_after_and_the_service_recovers_unrestarted(
    cluster: Cluster, served: Deployed
) -> None:
    token = register(served.base, "loader")
    workers = served.workers()
    with Load(served.base, token) as load:
        load.wait(since=0)  # served as usual for a while
        cluster.stop("immediate")
        down = time.monotonic()
        load.wait(since=down, each=20)
        ready = request(served.base, "GET", "/readyz")
        restarting = time.monotonic()
        cluster.start()  # returns a moment after the server accepts connections
        up = time.monotonic()
        load.wait(since=up, each=10)

    answers = load.answers
    assert [a for a in answers if a.error] == []  # every request answered: none hung or reset
    assert {a.status for a in answers} <= {200, 201, 503}, [a for a in answers if a.status >= 500]
    for a in answers:
        if a.status == 503:
            assert_unavailable(a)
    during = load.sent_between(down, restarting)
    assert {a.kind for a in during if a.status == 503} == {"list", "create"}
    assert [a.status for a in during] == [503] * len(during)
    assert max(a.took for a in during) < OUTAGE_ANSWER_SECONDS
    assert ready.status == 503, ready
    assert int(ready.headers["retry-after"]) >= 1
    # back at once: no request finds a connection the database closed (db/session.py)
    after = load.sent_between(up, time.monotonic())
    assert {a.kind for a in after} == {"list", "create"}
    assert [a.status for a in after] == [201 if a.kind == "create" else 200 for a in after]
    assert request(served.base, "GET", "/readyz").status == 200
    assert served.workers() == workers  # recovered by itself: the same processes
    # what was being written when the database went away is whole or absent
    assert_whole_or_absent(cluster, served.base, load.titles, load.created)


def test_pooled_connections_a_restarted_database_closed_fail_no_request(
    cluster: Cluster, served: Deployed
) -> None:
    token = register(served.base, "pooled")

    def burst() -> list[Answer]:
        # enough at once to open several connections in each worker's pool
        calls = [("GET", "/api/articles?limit=1", ""), ("GET", "/api/user", token)] * 16
        with ThreadPoolExecutor(8) as pool:
            return list(pool.map(lambda c: request(served.base, c[0], c[1], token=c[2]), calls))

    assert {a.status for a in burst()} == {200}
    cluster.restart("fast")  # every session ended by the server, the pools left full of them
    answers = burst()
    assert [a.status for a in answers] == [200] * len(answers), [a for a in answers if a.error
                                                                 or a.status != 200]  # fmt: skip


# --- all or nothing ---------------------------------------------------------------------------


@contextmanager
def tags_held(cluster: Cluster) -> Iterator[None]:
    """Linking articles to tags waits while this lasts: an article being created stops in the
    middle, its row and its tags inserted, not yet linked, not committed. (Creating one locks
    the article counter first, so the others wait at their start, in a transaction too.)"""
    conn = psycopg.connect(cluster.dsn)
    try:
        conn.execute("LOCK TABLE article_tags IN EXCLUSIVE MODE")  # reads go on, inserts wait
        yield
    finally:
        conn.close()  # rolled back, or gone with the server


def creating(base: str, token: str, titles: list[str]) -> dict[str, Future[Answer]]:
    pool = ThreadPoolExecutor(len(titles))
    pending = {title: pool.submit(create, base, token, title) for title in titles}
    pool.shutdown(wait=False)
    return pending


def test_an_article_being_created_when_the_database_dies_exists_whole_or_not_at_all(
    cluster: Cluster, served: Deployed
) -> None:
    token = register(served.base, "crashed")
    titles = [f"crashed {n}" for n in range(4)]
    with tags_held(cluster):
        pending = creating(served.base, token, titles)
        wait_for(lambda: cluster.waiting_on_locks() == len(titles), 10, "all in the middle")
        cluster.stop("immediate")
        answered = {title: f.result() for title, f in pending.items()}
    cluster.start()
    for answer in answered.values():
        assert_unavailable(answer)
    # whole or absent; and absent, since the database died before any of them committed
    assert assert_whole_or_absent(cluster, served.base, titles, answered) == {}
    # and the client's retry, told by the 503, creates each one whole
    retried = {title: create(served.base, token, title) for title in titles}
    assert [a.status for a in retried.values()] == [201] * len(titles)
    assert set(assert_whole_or_absent(cluster, served.base, titles, retried)) == set(titles)


def test_an_article_being_created_when_its_worker_is_killed_exists_whole_or_not_at_all(
    cluster: Cluster, served: Deployed
) -> None:
    token = register(served.base, "orphaned")
    titles = [f"orphaned {n}" for n in range(4)]
    killed = served.workers()
    with tags_held(cluster):
        pending = creating(served.base, token, titles)
        wait_for(lambda: cluster.waiting_on_locks() == len(titles), 10, "all in the middle")
        for pid in killed:  # both: the four requests may be on either
            os.kill(pid, signal.SIGKILL)
        answered = {title: f.result() for title, f in pending.items()}
    assert [a.status for a in answered.values()] == [0] * len(titles)  # no one left to answer
    # the killed workers' sessions end (rolled back) once each finds its client gone
    wait_for(lambda: cluster.in_transaction() == 0, 10, "the orphaned transactions ended")
    wait_for(lambda: len(served.workers() - killed) == 2, 30, "two new workers")
    wait_for(lambda: request(served.base, "GET", "/api/tags").status == 200, 30, "serving")
    assert assert_whole_or_absent(cluster, served.base, titles, answered) == {}


# --- Redis stopped ----------------------------------------------------------------------------


class RedisServer:
    """A redis-server of our own, on a free port, keeping nothing on disk."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("no redis-server (Debian's redis-server package)")
        self.command = [binary, "--port", str(_free_port()), "--bind", "127.0.0.1",
                        "--save", "", "--appendonly", "no", "--dir", str(directory)]  # fmt: skip
        self.url = f"redis://127.0.0.1:{self.command[2]}/0"
        self.proc: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url, socket_timeout=1)

    def keys(self) -> int:
        count = self.client().dbsize()
        assert isinstance(count, int)
        return count

    def start(self) -> None:
        self.proc = subprocess.Popen(self.command, stdout=subprocess.DEVNULL)
        wait_for(self._answers, 10, "redis-server answers")

    def _answers(self) -> bool:
        try:
            return bool(self.client().ping())
        except redis.ConnectionError:
            return False

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()  # ours, by its pid
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def test_with_its_redis_stopped_the_api_keeps_serving_and_counts_in_it_once_it_is_back(
    own_redis: RedisServer, tmp_path: Path
) -> None:
    env = {
        "CONDUIT_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'faults.db'}",
        "REDIS_URL": own_redis.url,
        # under 40 a process claims one slot at a time (shell/ratelimit.py), so that every request
        # asks Redis; more than this test makes in a minute
        "RATE_LIMIT_DEFAULT": "39/minute",
    }
    with serving([sys.executable, "-m", "cli", "run"], env, tmp_path) as base:
        token = register(base, "limited")
        counted = request(base, "GET", "/api/user", token=token)
        assert counted.status == 200
        assert "ratelimit" in counted.headers
        assert own_redis.keys() > 0  # the counters are in Redis

        own_redis.stop()
        answers = [
            request(base, "GET", "/api/tags"),
            request(base, "GET", "/api/user", token=token),
            create(base, token, "without redis"),
            request(base, "POST", "/api/users/login",
                    {"user": {"email": "limited@example.com", "password": "wrong"}}),
            request(base, "POST", "/api/users/login",
                    {"user": {"email": "limited@example.com", "password": "password-limited"}}),
        ]  # fmt: skip
        assert [a.status for a in answers] == [200, 200, 201, 401, 200], answers
        # the first waits for Redis's short timeout; after it, Redis is not tried for a while
        assert max(a.took for a in answers) < 2.0, [a.took for a in answers]

        own_redis.start()  # empty: it keeps nothing on disk
        wait_for(
            lambda: "ratelimit" in request(base, "GET", "/api/user", token=token).headers,
            15,  # the storage is tried again 5 s after the last failure (shell/ratelimit.py)
            "counted again",
        )
        assert own_redis.keys() > 0
