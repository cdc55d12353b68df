"""What one request costs on each server stack, from the bare event loop up to this service:
`python -m bench.stack`.

Issue 11 asks for sequential writes at rates that leave each request less time, end to end,
than the stack this service is built on takes for an empty one; this measures that floor. Every
server runs one worker under gunicorn, as `make serve` runs them. One client sends requests one
after another, each on a new connection (as the sequential writes of `make bench` and the
peers' seeding script do), in blocks that go round the servers in turn, so that a machine whose
speed drifts treats them all alike. For each: the median time a request takes end to end (the
client's part included), the rate that makes, and the worker's CPU per request (from /proc).

The stacks, each with one operation that answers a small fixed JSON body (bench/stack_apps.py):
a bare ASGI app on uvicorn; Connexion's AsyncApp; Connexion's FlaskApp behind Connexion's own
bridge to Flask (a2wsgi); this service's pipeline (shell/pipeline.py) on the same operation;
plain Flask on gunicorn's sync workers (the plain-Flask peer's stack). Then this service
itself (`make serve`, production defaults, a new PostgreSQL database): GET /api/tags and the
four writes the issue measures, shaped as `make bench`'s sequential writes send them.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench import writes
from bench.layers import ROOT, cpu_seconds, one_worker
from bench.run import (
    BASELINE,
    baseline_checkout,
    fresh_database,
    process_group,
    wait_ready,
    worker_pids,
)

UVICORN = ["gunicorn", "--worker-class", "uvicorn_worker.UvicornWorker"]
SYNC = ["gunicorn", "--worker-class", "sync"]
GRANIAN = ["granian", "--interface", "asgi"]
# name, the server and its options, and the app (gunicorn's form; granian's is told apart)
STACKS = [
    ("a bare ASGI app on uvicorn", [*UVICORN, "bench.stack_apps:raw"]),
    ("a bare ASGI app on granian", [*GRANIAN, "bench.stack_apps:raw"]),
    ("Connexion AsyncApp", [*UVICORN, "bench.stack_apps:connexion_async()"]),
    (
        "Connexion FlaskApp, its own bridge (a2wsgi)",
        [*UVICORN, "bench.stack_apps:connexion_flask()"],
    ),
    (
        "this service's pipeline, the same operation, on uvicorn",
        [*UVICORN, "bench.stack_apps:pipeline()"],
    ),
    (
        "this service's pipeline, the same operation, on granian",
        [*GRANIAN, "--factory", "bench.stack_apps:pipeline"],
    ),
    ("plain Flask, gunicorn sync worker", [*SYNC, "bench.stack_apps:plain_flask()"]),
]


@dataclass
class Served:
    """One server under measurement: what one request to it is, and what it took."""

    name: str
    worker: int
    send: Callable[[int], object]
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)


@contextmanager
def floor_app(arguments: list[str], port: int) -> Iterator[int]:
    """gunicorn (or granian) with one worker serving one of bench/stack_apps.py; the worker's
    pid. It runs outside the checkout, where gunicorn would read this service's
    gunicorn.conf.py."""
    server, *options = arguments
    program = str(Path(sys.executable).with_name(server))
    if server == "granian":
        where = ["--workers", "1", "--host", "127.0.0.1", "--port", str(port)]
    else:
        where = ["--workers", "1", "--bind", f"127.0.0.1:{port}"]
    command = [program, *where, *options]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    with (
        tempfile.TemporaryDirectory() as elsewhere,
        tempfile.TemporaryFile() as log,
        process_group(command, cwd=Path(elsewhere), env=env, out=log) as proc,
    ):
        wait_ready(f"http://127.0.0.1:{port}/api/ping", proc, workers=1)
        yield worker_pids(proc.pid)[0]


def _get_any(url: str, _n: int) -> bytes:
    return get(url)


def get(url: str) -> bytes:
    """One request on a new connection, its body read."""
    with urllib.request.urlopen(url, timeout=30) as r:
        body: bytes = r.read()
        return body


def measure(servers: list[Served], rounds: int, block: int) -> None:
    """Blocks of `block` requests to each server in turn, the first server changing each round."""
    for served in servers:  # warm: imports, prepared statements, caches
        for n in range(100):
            served.send(n)
    for round_ in range(rounds):
        start = round_ % len(servers)
        for served in servers[start:] + servers[:start]:
            used, began = cpu_seconds(served.worker), time.perf_counter()
            for n in range(block):
                served.send(n)
            served.wall_ms.append((time.perf_counter() - began) / block * 1000)
            served.cpu_ms.append((cpu_seconds(served.worker) - used) / block * 1000)


def service_requests(base: str) -> list[tuple[str, Callable[[int], object]]]:
    """A read with no token, and the four writes shaped as `make bench`'s sequential writes
    send them (bench/writes.py): each favourite and follow adds or removes a row, each article
    has a new title, 3 tags and a body of about 2 KB, each comment 80 to 400 characters."""
    rnd = random.Random(11)  # noqa: S311  # the same texts each run, not a secret
    tokens = []
    for name in ("stack-a", "stack-b"):
        user = {"username": name, "email": f"{name}@example.com", "password": f"pw-{name}-1"}
        tokens.append(writes.call(base, "POST", "/api/users", body={"user": user})["user"]["token"])
    token = tokens[0]
    first = writes.article(rnd, "On stacks")
    slug = writes.call(base, "POST", "/api/articles", token, {"article": first})["article"]["slug"]
    titles = itertools.count()

    def tags(_n: int) -> object:
        return get(f"{base}/api/tags")

    def favourite(n: int) -> object:
        method = "POST" if n % 2 == 0 else "DELETE"
        return writes.call(base, method, f"/api/articles/{slug}/favorite", token)

    def follow(n: int) -> object:
        return writes.call(
            base, "POST" if n % 2 == 0 else "DELETE", "/api/profiles/stack-b/follow", token
        )

    def comment(_n: int) -> object:
        body = {"comment": {"body": writes.text(rnd, rnd.randint(80, 400))}}
        return writes.call(base, "POST", f"/api/articles/{slug}/comments", token, body)

    def create(_n: int) -> object:
        body = {"article": writes.article(rnd, f"Stack {next(titles)}")}
        return writes.call(base, "POST", "/api/articles", token, body)

    return [
        ("GET /api/tags", tags),
        ("favourite, then unfavourite", favourite),
        ("follow, then unfollow", follow),
        ("comment", comment),
        ("create article", create),
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stack", description=__doc__)
    p.add_argument("--rounds", type=int, default=8)
    p.add_argument("--block", type=int, default=200, help="requests per server per round")
    p.add_argument("--port", type=int, default=8291, help="the first of the ports used")
    p.add_argument(
        "--baseline",
        default=BASELINE,
        metavar="REF",
        help="serve this commit too, from a git worktree on a database of its own, and measure "
        "its GET /api/tags and writes in the same rounds ('': no baseline)",
    )
    args = p.parse_args(argv)
    with ExitStack() as stack:
        servers = []
        for n, (name, arguments) in enumerate(STACKS):
            url = f"http://127.0.0.1:{args.port + n}/api/ping"
            worker = stack.enter_context(floor_app(arguments, args.port + n))
            servers.append(Served(name, worker, functools.partial(_get_any, url)))
        database = stack.enter_context(fresh_database("postgresql", Path(tempfile.gettempdir())))
        port = args.port + len(STACKS)
        worker = stack.enter_context(one_worker(ROOT, database, port))
        servers += [
            Served(f"this service: {name}", worker, send)
            for name, send in service_requests(f"http://127.0.0.1:{port}")
        ]
        if args.baseline:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            checkout = stack.enter_context(baseline_checkout(args.baseline, workdir))
            database = stack.enter_context(fresh_database("postgresql", workdir))
            worker = stack.enter_context(one_worker(checkout.root, database, port + 1))
            servers += [
                Served(f"baseline {checkout.commit}: {name}", worker, send)
                for name, send in service_requests(f"http://127.0.0.1:{port + 1}")
            ]
        measure(servers, args.rounds, args.block)
    print(
        f"One client, a new connection per request, one worker each; medians of {args.rounds} "
        f"rounds of {args.block} requests\n"
    )
    print("| server | ms per request, end to end | requests/s | worker CPU, ms per request |")
    print("|---|---:|---:|---:|")
    for s in servers:
        wall, cpu = statistics.median(s.wall_ms), statistics.median(s.cpu_ms)
        print(f"| {s.name} | {wall:.2f} | {1000 / wall:.0f} | {cpu:.2f} |")
    return 0


if __name__ == "__main__":
    if shutil.which("make") is None:
        raise SystemExit("make is needed: this service is started with `make serve`")
    raise SystemExit(main())
