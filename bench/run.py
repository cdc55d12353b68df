"""Benchmark the service as deployed: `python -m bench.run` (what `make bench` runs).

For each database it seeds the benchmark dataset into a fresh database through the db layer,
starts the production server (`gunicorn` with uvicorn workers, as `make serve` does), drives
each read request with wrk, times a write mix at one connection, counts SQL statements per
request, reads the workers' memory, and times the SQL each list request needs when executed
directly (the floor). Results go to bench/results/ as a table, a TSV history and a chart.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import floor, report
from db import migrate
from db.seed import Shape, seed
from db.session import make_engine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")
# What is measured: the production defaults, with JSON access logs and metrics on as they are
# by default, rate limits counting in Redis with limits raised so that the load is never
# refused, and an Idempotency-Key on each POST that takes one (see write_mix).
UNREACHED_RATE = "100000000/minute"
# one secret for every server of a run: a token from one is good on the other (side by side)
SECRET_KEY = secrets.token_urlsafe(48)
PRODUCTION = {
    "LOG_FORMAT": "json",
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
    "RATE_LIMIT_DEFAULT": UNREACHED_RATE,
    "RATE_LIMIT_AUTH": UNREACHED_RATE,
}
# Beside it, in the same run: the same service with each of those features switched off, so
# the table says what they cost (README, Benchmarks).
FEATURES_OFF = {"ACCESS_LOG": "off", "METRICS": "off", "RATE_LIMITS": "off"}


@dataclass(frozen=True)
class Endpoint:
    key: str
    path: str
    auth: bool
    target: int | None  # requests per second the issue asks for
    is_list: bool = True
    shown_as: str = ""

    @property
    def label(self) -> str:
        return f"GET {self.shown_as or self.path}" + (" (token)" if self.auth else "")


def endpoints(slug: str) -> list[Endpoint]:
    return [
        Endpoint("list", "/api/articles?limit=20", False, 800),
        Endpoint("list_auth", "/api/articles?limit=20", True, 800),
        Endpoint("feed", "/api/articles/feed?limit=20", True, 800),
        Endpoint("tag", "/api/articles?tag=golang&limit=20", False, 800),
        Endpoint("author", "/api/articles?author=benchuser07&limit=20", False, None),
        Endpoint("favorited", "/api/articles?favorited=benchuser07&limit=20", False, None),
        Endpoint("article", f"/api/articles/{slug}", False, 1400, False, "/api/articles/{slug}"),
        Endpoint("tags", "/api/tags", False, 1800, is_list=False),
        Endpoint("profile", "/api/profiles/benchuser07", False, 1500, is_list=False),
    ]


@dataclass
class Result:
    backend: str
    endpoint: Endpoint
    rps: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    errors: int = 0
    statements: int = 0
    floor_ms: float | None = None
    serial_ms: float | None = None


# --- databases -------------------------------------------------------------------------------


@contextmanager
def fresh_database(backend: str, workdir: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{workdir / 'bench.db'}"
        return
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"conduit_bench_{secrets.token_hex(4)}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def prepare(url: str, shape: Shape) -> float:
    engine = make_engine(url)
    with engine.begin() as conn:
        migrate.upgrade(conn)
    started = time.perf_counter()
    seed(engine, shape, progress=True)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    return time.perf_counter() - started


# --- the server, as deployed -----------------------------------------------------------------


@contextmanager
def server(
    url: str, port: int, workers: int, log: Path, config: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """`make serve`, the command users deploy with, in a process group of its own."""
    env = {
        **os.environ,
        "CONDUIT_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        "PORT": str(port),
        "WORKERS": str(workers),
        **config,
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [shutil.which("make") or "make", "--no-print-directory", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            try:
                wait_ready(f"http://127.0.0.1:{port}/api/tags", proc, workers)
            except SystemExit:
                print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
                raise
            yield proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


def wait_ready(url: str, proc: subprocess.Popen[bytes], workers: int) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited before answering")
        try:
            urllib.request.urlopen(url, timeout=2).close()
            if len(worker_pids(proc.pid)) >= workers:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit("the server did not answer within 120 s")


def _children(pid: int) -> list[int]:
    found = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in found.read_text().split()] if found.exists() else []


def worker_pids(root: int) -> list[int]:
    """The gunicorn workers under `make serve`: the children of the first gunicorn process."""
    pending = [root]
    while pending:
        pid = pending.pop(0)
        cmdline = Path(f"/proc/{pid}/cmdline")
        program = cmdline.read_bytes().split(b"\0")[:2] if cmdline.exists() else []
        if any(Path(arg.decode()).name == "gunicorn" for arg in program):  # not make's shell
            return _children(pid)
        pending += _children(pid)
    return []


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def call(
    base: str,
    method: str,
    path: str,
    token: str = "",
    body: Any = None,
    extra: dict[str, str] | None = None,
) -> Any:
    headers = {"Content-Type": "application/json", **(extra or {})}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as r:
        raw = r.read()
    return json.loads(raw) if raw else None


# --- wrk -------------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def _ms(value: str) -> float:
    number, unit = _find(r"^([\d.]+)([a-z]+)$", value)
    return float(number) * _UNITS[unit]


def _find(pattern: str, text: str) -> tuple[str, ...]:
    match = re.search(pattern, text, re.M)
    if match is None:
        raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return match.groups()


def wrk(url: str, token: str, *, seconds: int, connections: int, threads: int) -> dict[str, float]:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if token:
        command[1:1] = ["-H", f"Authorization: Token {token}"]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(_find(r"Requests/sec:\s+([\d.]+)", out)[0]),
        "p50": _ms(_find(r"^\s*50%\s+(\S+)\s*$", out)[0]),
        "p99": _ms(_find(r"^\s*99%\s+(\S+)\s*$", out)[0]),
        "errors": float((int(non_2xx.group(1)) if non_2xx else 0)
                        + (sum(map(int, socket.groups())) if socket else 0)),
    }  # fmt: skip


def one_connection_p50(url: str, token: str, seconds: int) -> float:
    """Median latency with one request at a time: the time one request takes, end to end."""
    return wrk(url, token, seconds=seconds, connections=1, threads=1)["p50"]


def serial_p50(run: Callable[[], Any], n: int) -> float:
    """Median milliseconds of one request after another, at one connection."""
    times = []
    for _ in range(n):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


# --- one backend -----------------------------------------------------------------------------


def bench_backend(
    backend: str,
    args: argparse.Namespace,
    workdir: Path,
    *,
    scale: float,
    lists_only: bool = False,
) -> dict[str, Any]:
    shape = Shape(prefix="bench", seed=1).scaled(scale)
    with fresh_database(backend, workdir) as url:
        print(f"\n== {backend}: seeding {shape.articles} articles ...", flush=True)
        seed_seconds = prepare(url, shape)
        base = f"http://127.0.0.1:{args.port}"
        configs = {"on": PRODUCTION}
        if args.compare and not lists_only:
            configs["off"] = {**PRODUCTION, **FEATURES_OFF}
        with contextlib.ExitStack() as servers:
            procs = {
                name: servers.enter_context(
                    server(
                        url,
                        args.port + i,
                        args.workers,
                        workdir / f"server-{backend}-{name}.log",
                        config,
                    )
                )
                for i, (name, config) in enumerate(configs.items())
            }
            proc = procs["on"]
            bases = {name: f"http://127.0.0.1:{args.port + i}" for i, name in enumerate(configs)}
            login = {"user": {"email": "benchuser00@example.com", "password": "password-00"}}
            token = call(base, "POST", "/api/users/login", body=login)["user"]["token"]
            mine = call(base, "GET", "/api/articles?author=benchuser07&limit=20")["articles"]
            slug = min(mine, key=lambda a: a["title"])["slug"]
            chosen = [
                ep
                for ep in endpoints(slug)
                if (ep.is_list or not lists_only) and (not args.only or ep.key in args.only)
            ]
            measured = {name: [Result(backend, ep) for ep in chosen] for name in configs}
            results = measured["on"]
            for round_ in range(args.rounds):
                for i in range(len(results)):
                    # side by side: each request on both servers in turn, in alternating order
                    order = list(configs)[:: 1 if (round_ + i) % 2 == 0 else -1]
                    for name in order:
                        _measure(measured[name][i], bases[name], token, args, round_, name)
            rss = [rss_mib(pid) for pid in worker_pids(proc.pid)]
            for r in results:
                tok = token if r.endpoint.auth else ""
                r.serial_ms = one_connection_p50(base + r.endpoint.path, tok, args.warmup + 2)
            writes = {} if lists_only else write_mix(base, token, slug, n=args.writes)
        sql = floor.measure(url, [r.endpoint for r in results], user="benchuser00")
        for r in results:
            r.statements = sql[r.endpoint.key].statements
            r.floor_ms = sql[r.endpoint.key].floor_ms if r.endpoint.is_list else None
    return {"backend": backend, "results": results, "off": measured.get("off"), "rss_mib": rss,
            "writes": writes, "seed_seconds": seed_seconds, "shape": shape,
            "scale": scale}  # fmt: skip


def _measure(
    r: Result, base: str, token: str, args: argparse.Namespace, round_: int, config: str
) -> None:
    url = base + r.endpoint.path
    tok = token if r.endpoint.auth else ""
    shape = {"connections": args.connections, "threads": args.threads}
    wrk(url, tok, seconds=args.warmup, **shape)
    m = wrk(url, tok, seconds=args.duration, **shape)
    r.rps.append(m["rps"])
    r.p50_ms.append(m["p50"])
    r.p99_ms.append(m["p99"])
    r.errors += int(m["errors"])
    print(
        f"  round {round_ + 1} {config:<3} {r.endpoint.label:<48} {m['rps']:8.0f} req/s"
        f"  p50 {m['p50']:6.2f} ms  p99 {m['p99']:6.2f} ms  errors {m['errors']:.0f}",
        flush=True,
    )


def write_mix(base: str, token: str, slug: str, *, n: int) -> dict[str, float]:
    """p50 of each write at one connection."""
    counter = iter(range(10**9))
    article = {"article": {"title": "", "description": "bench", "body": "x" * 2000,
                           "tagList": ["golang", "rust", "bench"]}}  # fmt: skip

    def create() -> None:
        n = next(counter)
        article["article"]["title"] = f"bench write {n}"
        call(base, "POST", "/api/articles", token, article, {"Idempotency-Key": f"bench-a-{n}"})

    def favorite() -> None:
        call(base, "POST", f"/api/articles/{slug}/favorite", token)
        call(base, "DELETE", f"/api/articles/{slug}/favorite", token)

    def comment() -> None:
        key = {"Idempotency-Key": f"bench-c-{next(counter)}"}
        call(base, "POST", f"/api/articles/{slug}/comments", token, {"comment": {"body": "b"}}, key)

    return {
        "create article": serial_p50(create, n),
        # one favourite and one unfavourite: half is the cost of one
        "favourite": serial_p50(favorite, n) / 2,
        "comment": serial_p50(comment, n),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    p.add_argument("--backends", default="postgresql,sqlite")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--duration", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--workers", type=int, default=int(os.environ.get("WORKERS", "2")))
    p.add_argument("--port", type=int, default=8181)
    p.add_argument("--scale", type=float, default=1.0, help="100 gives 100,000 articles")
    p.add_argument("--writes", type=int, default=200, help="requests per write kind")
    p.add_argument(
        "--compare-scale",
        type=float,
        default=100.0,
        help="run the list requests again on PostgreSQL at this scale and compare (0: skip)",
    )
    p.add_argument(
        "--compare",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="measure each read beside a server with the production features off",
    )
    p.add_argument(
        "--only",
        type=lambda keys: set(keys.split(",")),
        default=set(),
        help="only these requests, by key: list,list_auth,feed,tag,author,favorited,...",
    )
    args = p.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk is missing: apt-get install -y wrk", file=sys.stderr)
        return 2
    machine = f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            runs.append(bench_backend(backend, args, Path(tmp), scale=args.scale))
        scaled = None
        if args.compare_scale and "postgresql" in args.backends.split(","):
            scaled = bench_backend(
                "postgresql", args, Path(tmp), scale=args.compare_scale, lists_only=True
            )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    report.write(RESULTS, runs, scaled, args=vars(args), stamp=stamp, machine=machine)
    print(report.table(runs, scaled, stamp=stamp, machine=machine, args=vars(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
