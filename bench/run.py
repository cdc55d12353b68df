"""Benchmark the service as deployed: `python -m bench.run` (what `make bench` runs).

For each database it seeds the benchmark dataset into a fresh database through the db layer,
starts the production server (`gunicorn` with uvicorn workers, as `make serve` does), drives
each read request with wrk, counts SQL statements per request, times the SQL each list request
needs when executed directly (the floor), then drives each kind of write with wrk and with one
sequential client (bench/writes.py), and reads the workers' memory after the reads and after
the writes. On PostgreSQL the same is measured, in the same rounds, on a baseline commit served
from a git worktree on a database of its own. Results go to bench/results/ as a table, a TSV
history and a chart.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import platform
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import floor, report, writes
from bench.writes import Concurrent, Writes, call
from db import migrate
from db.seed import Shape, seed
from db.session import make_engine

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql+psycopg://127.0.0.1:5432/test")
# What is measured: the production defaults, with JSON access logs and metrics on as they are
# by default, rate limits counting in Redis with limits raised so that the load is never
# refused, and an Idempotency-Key on each POST that takes one (create article, comment).
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
# the table says what they cost (docs/performance.md).
FEATURES_OFF = {"ACCESS_LOG": "off", "METRICS": "off", "RATE_LIMITS": "off"}
# The last commit before issue 20's first change (the request path as one pipeline): every read
# and write is measured against it, side by side, so the changes are judged on the same
# machine in the same minutes.
BASELINE = "68e5a2d"


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


@dataclass(frozen=True)
class Checkout:
    """A checkout the benchmark serves: this one, or the baseline's worktree."""

    root: Path
    commit: str = ""
    subject: str = ""


CURRENT = Checkout(ROOT)


@dataclass
class Served:
    """One server of a backend's run, and what was measured on it."""

    name: str  # on, off (the production features off), baseline
    base: str
    proc: subprocess.Popen[bytes]
    token: str
    results: list[Result]
    writes: dict[str, Writes] = field(default_factory=dict)
    load: Concurrent | None = None
    rss_after_writes: list[float] = field(default_factory=list)


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
    engine.dispose()
    _analyze(url)
    return time.perf_counter() - started


def prepare_baseline(checkout: Checkout, url: str, shape: Shape) -> None:
    """Migrate and seed with the baseline's own code: its schema may lack newer migrations."""
    python = str(checkout.root / ".venv" / "bin" / "python")
    sizes = {"users": shape.users, "follows": shape.follows, "articles": shape.articles,
             "favorites": shape.favorites, "comments": shape.comments}  # fmt: skip
    options = [f"--{name}={value}" for name, value in sizes.items()]
    env = _env(url, PRODUCTION)
    for command in (
        ["migrate"],
        ["seed", f"--prefix={shape.prefix}", f"--seed={shape.seed}", *options],
    ):
        subprocess.run([python, "-m", "cli", *command], cwd=checkout.root, env=env, check=True)
    _analyze(url)


def _analyze(url: str) -> None:
    engine = make_engine(url)
    if engine.dialect.name == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()


_DATASET = [
    "SELECT username, email, bio FROM users ORDER BY id",
    "SELECT follower_id, followee_id FROM follows ORDER BY 1, 2",
    "SELECT slug, title, description, body, author_id FROM articles ORDER BY id",
    "SELECT article_id, tag_id FROM article_tags ORDER BY 1, 2",
    "SELECT id, name FROM tags ORDER BY id",
    "SELECT article_id, user_id FROM favorites ORDER BY 1, 2",
    "SELECT article_id, author_id, body FROM comments ORDER BY id",
]


def dataset_digest(url: str) -> str:
    """What two seeds must agree on for their servers to be compared (times aside)."""
    digest = hashlib.sha256()
    engine = create_engine(url)
    with engine.connect() as conn:
        for query in _DATASET:
            for row in conn.execute(text(query)):
                digest.update(repr(tuple(row)).encode())
    engine.dispose()
    return digest.hexdigest()[:16]


# --- the baseline ----------------------------------------------------------------------------


@contextmanager
def baseline_checkout(ref: str, workdir: Path) -> Iterator[Checkout]:
    """REF in a git worktree with a virtualenv of its own (`make install`), removed after."""
    git = ["git", "-C", str(ROOT)]
    commit = _git(*git, "rev-parse", "--verify", f"{ref}^{{commit}}")
    subject = _git(*git, "log", "-1", "--format=%h %s", commit)
    path = workdir / "baseline"
    print(f"\n== baseline: {subject[:100]}\n   git worktree add {path}; make install", flush=True)
    _git(*git, "worktree", "add", "--detach", str(path), commit)
    try:
        python = getattr(sys, "_base_executable", sys.executable)  # the same interpreter
        log = workdir / "baseline-install.log"
        with log.open("wb") as out:
            done = subprocess.run(
                [shutil.which("make") or "make", "-C", str(path), "install", f"PYTHON={python}"],
                stdout=out,
                stderr=out,
            )
        if done.returncode:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise SystemExit(f"make install failed in the baseline's worktree ({ref})")
        yield Checkout(path, commit[:7], subject.split(" ", 1)[1])
    finally:
        if subprocess.run([*git, "worktree", "remove", "--force", str(path)]).returncode:
            shutil.rmtree(path, ignore_errors=True)
            subprocess.run([*git, "worktree", "prune"])


def _git(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()


# --- the server, as deployed -----------------------------------------------------------------


def _env(url: str, config: dict[str, str]) -> dict[str, str]:
    return {
        **os.environ,
        "CONDUIT_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": SECRET_KEY,
        **config,
    }


@contextmanager
def server(
    url: str,
    port: int,
    workers: int,
    log: Path,
    config: dict[str, str],
    checkout: Checkout = CURRENT,
) -> Iterator[subprocess.Popen[bytes]]:
    """`make serve`, the command users deploy with, in a process group of its own."""
    env = {**_env(url, config), "PORT": str(port), "WORKERS": str(workers)}
    make = [shutil.which("make") or "make", "--no-print-directory", "serve"]
    with log.open("wb") as out, process_group(make, cwd=checkout.root, env=env, out=out) as proc:
        try:
            wait_ready(f"http://127.0.0.1:{port}/api/tags", proc, workers)
        except SystemExit:
            print(log.read_text(errors="replace")[-3000:], file=sys.stderr)
            raise
        yield proc


@contextmanager
def process_group(
    command: list[str], *, cwd: Path, env: dict[str, str], out: IO[bytes]
) -> Iterator[subprocess.Popen[bytes]]:
    """A server command in a process group of its own, stopped with all it started (make's
    shell, gunicorn and its workers) when the block ends."""
    proc = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
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


SERVERS = ("gunicorn", "granian")


def worker_pids(root: int) -> list[int]:
    """The workers under `make serve` (or a granian): the children of the first server process."""
    pending = [root]
    while pending:
        pid = pending.pop(0)
        cmdline = Path(f"/proc/{pid}/cmdline")
        program = cmdline.read_bytes().split(b"\0")[:2] if cmdline.exists() else []
        if any(Path(arg.decode()).name in SERVERS for arg in program):  # not make's shell
            return _children(pid)
        pending += _children(pid)
    return []


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def workers_rss(proc: subprocess.Popen[bytes]) -> list[float]:
    return [rss_mib(pid) for pid in worker_pids(proc.pid)]


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


def wrk(
    url: str,
    token: str,
    *,
    seconds: int,
    connections: int,
    threads: int,
    script: list[str] | None = None,
) -> dict[str, float]:
    """One wrk run; `script`: a Lua script's path, then its arguments."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
    if token:
        command += ["-H", f"Authorization: Token {token}"]
    if script:
        command += ["-s", script[0], url, "--", *script[1:]]
    else:
        command.append(url)
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


# --- one backend -----------------------------------------------------------------------------


def bench_backend(
    backend: str,
    args: argparse.Namespace,
    workdir: Path,
    *,
    scale: float,
    lists_only: bool = False,
    baseline: Checkout | None = None,
) -> dict[str, Any]:
    shape = Shape(prefix="bench", seed=1).scaled(scale)
    with contextlib.ExitStack() as stack:
        url = stack.enter_context(fresh_database(backend, workdir))
        print(f"\n== {backend}: seeding {shape.articles} articles ...", flush=True)
        seed_seconds = prepare(url, shape)
        configs: dict[str, tuple[str, dict[str, str], Checkout]] = {
            "on": (url, PRODUCTION, CURRENT)
        }
        if args.compare and not lists_only:
            configs["off"] = (url, {**PRODUCTION, **FEATURES_OFF}, CURRENT)
        same_dataset = None
        if baseline is not None and not lists_only:
            print(f"\n== {backend}: seeding the baseline's own database ...", flush=True)
            baseline_url = stack.enter_context(fresh_database(backend, workdir))
            prepare_baseline(baseline, baseline_url, shape)
            same_dataset = dataset_digest(url) == dataset_digest(baseline_url)
            if not same_dataset:
                print("!! the baseline's seed made another dataset: see the report", flush=True)
            configs["baseline"] = (baseline_url, PRODUCTION, baseline)
        served: dict[str, Served] = {}
        for i, (name, (db, config, checkout)) in enumerate(configs.items()):
            log = workdir / f"server-{backend}-{name}.log"
            port = args.port + i
            proc = stack.enter_context(server(db, port, args.workers, log, config, checkout))
            base = f"http://127.0.0.1:{port}"
            served[name] = _served(backend, name, base, proc, args, lists_only=lists_only)
        on = served["on"]
        for round_ in range(args.rounds):
            for i in range(len(on.results)):
                # side by side: each request on every server in turn, in alternating order
                for s in list(served.values())[:: 1 if (round_ + i) % 2 == 0 else -1]:
                    _measure(s.results[i], s.base, s.token, args, round_, s.name)
        rss = workers_rss(on.proc)
        for r in on.results:
            tok = on.token if r.endpoint.auth else ""
            r.serial_ms = one_connection_p50(on.base + r.endpoint.path, tok, args.warmup + 2)
        # before the writes: they add rows the list requests would then page through
        sql = floor.measure(url, [r.endpoint for r in on.results], user="benchuser00")
        for r in on.results:
            r.statements = sql[r.endpoint.key].statements
            r.floor_ms = sql[r.endpoint.key].floor_ms if r.endpoint.is_list else None
        writers = [s for name, s in served.items() if name != "off"]
        if args.writes and not lists_only:
            bench_writes(writers, args, workdir / backend, shape)
    return {"backend": backend, "results": on.results, "off": _results(served, "off"),
            "rss_mib": rss, "rss_after_writes": on.rss_after_writes, "writes": on.writes,
            "baseline": _baseline(served, baseline, same_dataset),
            "seed_seconds": seed_seconds, "shape": shape, "scale": scale}  # fmt: skip


def _served(
    backend: str,
    name: str,
    base: str,
    proc: subprocess.Popen[bytes],
    args: argparse.Namespace,
    *,
    lists_only: bool,
) -> Served:
    token = writes.login(base, "bench", 0)
    mine = call(base, "GET", "/api/articles?author=benchuser07&limit=20")["articles"]
    slug = min(mine, key=lambda a: a["title"])["slug"]
    chosen = [
        ep
        for ep in endpoints(slug)
        if (ep.is_list or not lists_only) and (not args.only or ep.key in args.only)
    ]
    return Served(name, base, proc, token, [Result(backend, ep) for ep in chosen])


def _results(served: dict[str, Served], name: str) -> list[Result] | None:
    return served[name].results if name in served else None


def _baseline(
    served: dict[str, Served], checkout: Checkout | None, same_dataset: bool | None
) -> dict[str, Any] | None:
    if checkout is None or "baseline" not in served:
        return None
    s = served["baseline"]
    return {"commit": checkout.commit, "subject": checkout.subject, "results": s.results,
            "writes": s.writes, "rss_after_writes": s.rss_after_writes,
            "same_dataset": same_dataset}  # fmt: skip


def _record(into: Result | writes.Writes, m: dict[str, float], label: str, unit: str) -> None:
    """One wrk run's figures, kept for the medians and printed as they come."""
    into.rps.append(m["rps"])
    into.p50_ms.append(m["p50"])
    into.p99_ms.append(m["p99"])
    into.errors += int(m["errors"])
    print(
        f"  {label} {m['rps']:8.0f} {unit}  p50 {m['p50']:6.2f} ms  p99 {m['p99']:6.2f} ms"
        f"  errors {m['errors']:.0f}",
        flush=True,
    )


def _measure(
    r: Result, base: str, token: str, args: argparse.Namespace, round_: int, config: str
) -> None:
    url = base + r.endpoint.path
    tok = token if r.endpoint.auth else ""
    shape = {"connections": args.connections, "threads": args.threads}
    wrk(url, tok, seconds=args.warmup, **shape)
    m = wrk(url, tok, seconds=args.duration, **shape)
    _record(r, m, f"round {round_ + 1} {config:<8} {r.endpoint.label:<48}", "req/s")


# --- writes ----------------------------------------------------------------------------------


def bench_writes(
    writers: list[Served], args: argparse.Namespace, workdir: Path, shape: Shape
) -> None:
    """Each kind of write, concurrent then sequential, on each server in turn, round by round."""
    seeded = [f"{shape.prefix}user{i:02d}" for i in range(shape.users)]
    for s in writers:
        s.load = Concurrent(
            s.base, workdir / f"writes-{s.name}", prefix=shape.prefix, users=shape.users
        )
        s.writes = {kind: Writes(kind) for kind in writes.KINDS}
    for round_ in range(args.rounds):
        for i, kind in enumerate(writes.KINDS):
            for s in writers[:: 1 if (round_ + i) % 2 == 0 else -1]:
                _measure_writes(s, kind, args, round_)
        for s in writers[:: 1 if round_ % 2 == 0 else -1]:
            # the same payloads on every server, other ones (and other users) each round
            phases = writes.sequential(
                s.base, n=args.writes, run=str(round_ + 1), seed=round_ + 1, seeded=seeded
            )
            for kind, phase in phases.items():
                w = s.writes[kind]
                w.seq_rate.append(phase.rate)
                w.seq_p50_ms.append(phase.p50_ms)
                w.seq_errors += phase.errors
                print(
                    f"  round {round_ + 1} {s.name:<8} {writes.LABELS[kind] + ', sequential':<48}"
                    f" {phase.rate:8.1f} writes/s  p50 {phase.p50_ms:6.2f} ms"
                    f"  errors {phase.errors}",
                    flush=True,
                )
    for s in writers:
        s.rss_after_writes = workers_rss(s.proc)


def _measure_writes(s: Served, kind: str, args: argparse.Namespace, round_: int) -> None:
    assert s.load is not None
    shape = {"connections": args.connections, "threads": args.threads}
    wrk(s.base, "", seconds=args.warmup, script=s.load.script(kind, args.threads), **shape)
    m = wrk(s.base, "", seconds=args.duration, script=s.load.script(kind, args.threads), **shape)
    label = f"round {round_ + 1} {s.name:<8} {writes.LABELS[kind]:<48}"
    _record(s.writes[kind], m, label, "writes/s")


def _terminate(signum: int, _frame: FrameType | None) -> None:
    """SIGTERM unwinds like Ctrl-C: servers stopped, databases dropped, the worktree removed."""
    raise SystemExit(128 + signum)


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
    p.add_argument(
        "--writes",
        type=int,
        default=300,
        help="requests per phase of the sequential writes (0: measure no writes at all)",
    )
    p.add_argument(
        "--baseline",
        default=BASELINE,
        metavar="REF",
        help="measure every read and write on PostgreSQL beside this commit too, served from "
        "a git worktree on a database of its own ('': no baseline)",
    )
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
    signal.signal(signal.SIGTERM, _terminate)
    machine = f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    backends = args.backends.split(",")
    started = time.monotonic()
    runs = []
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        baseline = None
        if args.baseline and "postgresql" in backends:
            baseline = stack.enter_context(baseline_checkout(args.baseline, Path(tmp)))
        for backend in backends:
            # the baseline on PostgreSQL only: on SQLite it would add a third of the run
            pair = baseline if backend == "postgresql" else None
            runs.append(bench_backend(backend, args, Path(tmp), scale=args.scale, baseline=pair))
        scaled = None
        if args.compare_scale and "postgresql" in backends:
            scaled = bench_backend(
                "postgresql", args, Path(tmp), scale=args.compare_scale, lists_only=True
            )
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    args.minutes = (time.monotonic() - started) / 60
    report.write(RESULTS, runs, scaled, args=vars(args), stamp=stamp, machine=machine)
    print(report.table(runs, scaled, stamp=stamp, machine=machine, args=vars(args)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
