"""Where the CPU of one request goes, layer by layer: `python -m bench.layers`.

Starts `make serve` with one worker (in this checkout, or in `--checkout`, to compare with an
earlier commit) on a new PostgreSQL database, sends one kind of request one after another,
samples the worker with py-spy meanwhile, and gives each sample to the innermost layer on its
stack (the driver, SQLAlchemy, Flask, Connexion, uvicorn, ...). The worker's CPU time per
request, from /proc, turns the shares into milliseconds. Waiting (for the database, for the
next request) costs no CPU and is not sampled. bench/results/2026-11-30-performance-notes.md
shows the result for one
create-article request before and after issue 11.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import json
import os
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
from pathlib import Path
from typing import Any

from bench.run import fresh_database, process_group

ROOT = Path(__file__).resolve().parent.parent

# innermost first: a sample belongs to the first of these its stack shows, from the leaf up
_HANDLERS = "admin|articles|auth|comments|favorites|profiles|users|tags"
_HELPERS = "idempotency|request|state|conditional|paging"
LAYERS: list[tuple[str, re.Pattern[str]]] = [
    (name, re.compile(pattern))
    for name, pattern in [
        ("psycopg (the driver)", r"\(psycopg/"),
        ("SQLAlchemy", r"\(sqlalchemy/"),
        ("JWT (PyJWT)", r"\(jwt/"),
        ("access log (logging, python-json-logger)", r"\((logging/|pythonjsonlogger/)"),
        ("metrics (prometheus-client)", r"\((prometheus_client/|shell/metrics\.py)"),
        ("rendering (handlers/render.py, orjson)", r"\((handlers/render\.py|orjson)"),
        (
            "our handlers and queries (handlers/, db/)",
            rf"\((handlers/({_HANDLERS})\.py|shell/({_HELPERS})\.py|db/)",
        ),
        ("Flask and Werkzeug", r"\((flask|werkzeug)/"),
        (
            "the thread hand-off (shell/threads.py)",
            r"\((shell/threads\.py|threading\.py|queue\.py)",
        ),
        (
            "request validation (jsonschema, shell/validation.py)",
            r"\((jsonschema|referencing|jsonschema_specifications)/|\(shell/validation\.py",
        ),
        ("rate limits (shell/ratelimit/, redis)", r"\((shell/ratelimit/|redis/|limits/)"),
        ("the pipeline's own steps (shell/)", r"\(shell/"),
        ("Connexion and Starlette (routing, binding, CORS)", r"\((connexion|starlette)/"),
        ("uvicorn and the event loop", r"\((uvicorn|uvicorn_worker|asyncio|httptools|uvloop)/"),
    ]
]
# a stack whose leaf is one of these is waiting, not working
IDLE = re.compile(
    "|".join(
        [
            r"^(_serve \(shell/threads\.py",
            r"_worker \(concurrent/futures/thread\.py",
            r"Runner\.run",
            "select ",
            "poll ",
            "wait )",
        ]
    )
)


def article(n: int) -> dict[str, Any]:
    """What `make bench` and the peers' seeding send: 3 tags of 30, a 2 KB body."""
    words = ["lorem", "ipsum", "dolor", "sit", "amet", "consectetur", "adipiscing", "elit"]
    rnd = secrets.SystemRandom()
    return {
        "article": {
            "title": f"layers {n} {' '.join(rnd.choice(words) for _ in range(4))}",
            "description": "What one create costs, layer by layer.\n\nSecond paragraph.",
            "body": " ".join(rnd.choice(words) for _ in range(330))[:2000],
            "tagList": rnd.sample([f"tag{i}" for i in range(30)], 3),
        }
    }


def call(base: str, method: str, path: str, body: Any = None, token: str = "") -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as r:
        return json.loads(r.read() or b"null")


@contextmanager
def one_worker(checkout: Path, url: str, port: int) -> Iterator[int]:
    """`make serve` in the checkout with one worker and the production defaults; its pid."""
    env = {
        **os.environ,
        "CONDUIT_ENV": "production",
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(48),
        "PORT": str(port),
        "WORKERS": "1",
        "LOG_FORMAT": "json",
        "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/0"),
        "RATE_LIMIT_DEFAULT": "100000000/minute",
        "RATE_LIMIT_AUTH": "100000000/minute",
        "RATE_LIMIT_PREFIX": f"layers-{secrets.token_hex(4)}",
    }
    make = [shutil.which("make") or "make", "--no-print-directory", "serve"]
    with tempfile.TemporaryFile() as log, process_group(make, cwd=checkout, env=env, out=log) as p:
        yield _worker(p, f"http://127.0.0.1:{port}/api/tags")


def _worker(proc: subprocess.Popen[bytes], url: str) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the server exited before answering")
        with contextlib.suppress(OSError):
            urllib.request.urlopen(url, timeout=2).close()
            python = [pid for pid in _descendants(proc.pid) if _is_gunicorn(pid)]
            # the master is the gunicorn process whose parent is make's shell; its child works
            workers = [pid for pid in python if _parent(pid) in python]
            if workers:
                return workers[0]
        time.sleep(0.3)
    raise SystemExit("the server did not answer within 120 s")


def _is_gunicorn(pid: int) -> bool:
    program = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")[:2]
    return any(Path(arg.decode()).name == "gunicorn" for arg in program)


def _parent(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def _descendants(pid: int) -> list[int]:
    found, pending = [], [pid]
    while pending:
        p = pending.pop()
        children = Path(f"/proc/{p}/task/{p}/children")
        kids = [int(c) for c in children.read_text().split()] if children.exists() else []
        found += kids
        pending += kids
    return found


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def layer_of(stack: str) -> str:
    frames = stack.split(";")
    for frame in reversed(frames):
        for name, pattern in LAYERS:
            if pattern.search(frame):
                return name
    return "other (Python itself)"


def shares(raw: Path) -> dict[str, float]:
    counted: collections.Counter[str] = collections.Counter()
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack or IDLE.match(stack.split(";")[-1]):
            continue
        counted[layer_of(stack)] += int(n)
    total = sum(counted.values()) or 1
    return {name: n / total for name, n in counted.most_common()}


def _create(base: str, token: str, _slug: str, n: int) -> Any:
    return call(base, "POST", "/articles", article(100 + n), token)


def _article(base: str, _token: str, slug: str, _n: int) -> Any:
    return call(base, "GET", f"/articles/{slug}")


def _tags(base: str, _token: str, _slug: str, _n: int) -> Any:
    return call(base, "GET", "/tags")


# what can be measured, each as one request of its own (n numbers the request)
KINDS = {
    "create": ("POST /api/articles (token)", _create),
    "article": ("GET /api/articles/{slug}", _article),
    "tags": ("GET /api/tags", _tags),
}


def measure(
    checkout: Path, requests: int, port: int, kind: str = "create"
) -> tuple[float, dict[str, float]]:
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with fresh_database("postgresql", Path(tempfile.gettempdir())) as url:  # no file: PostgreSQL
        subprocess.run(
            [str(checkout / ".venv/bin/python"), "-m", "cli", "migrate"],
            cwd=checkout,
            env={**os.environ, "DATABASE_URL": url, "CONDUIT_ENV": "production"},
            check=True,
            capture_output=True,
        )
        with one_worker(checkout, url, port) as pid:
            base = f"http://127.0.0.1:{port}/api"
            user = {"username": "layers", "email": "layers@example.com", "password": "pw-layers-1"}
            token = call(base, "POST", "/users", {"user": user})["user"]["token"]
            slug = ""
            for n in range(100):  # warm: prepared statements, caches, the first tags
                slug = call(base, "POST", "/articles", article(n), token)["article"]["slug"]
            send = KINDS[kind][1]
            for n in range(100):
                send(base, token, slug, -100 - n)
            with tempfile.TemporaryDirectory() as tmp:
                raw = Path(tmp) / "samples.txt"
                sampler = subprocess.Popen(
                    [spy, "record", "--pid", str(pid), "--rate", "997", "--format", "raw", "--gil",
                     "--output", str(raw), "--nonblocking"],
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )  # fmt: skip
                time.sleep(1.0)  # py-spy attaches
                started = cpu_seconds(pid)
                for n in range(requests):
                    send(base, token, slug, n)
                used = cpu_seconds(pid) - started
                sampler.send_signal(signal.SIGINT)
                sampler.wait(timeout=60)
                return used / requests * 1000, shares(raw)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.layers", description=__doc__)
    p.add_argument("--checkout", type=Path, default=ROOT, help="a checkout with its .venv")
    p.add_argument("--requests", type=int, default=1000)
    p.add_argument("--port", type=int, default=8191)
    p.add_argument("--request", choices=sorted(KINDS), default="create")
    args = p.parse_args(argv)
    ms, parts = measure(args.checkout.resolve(), args.requests, args.port, args.request)
    label = KINDS[args.request][0]
    print(f"{label}, one client: {ms:.2f} ms of worker CPU per request\n")
    print("| layer | share | ms |\n|---|---:|---:|")
    for name, share in parts.items():
        print(f"| {name} | {share * 100:.0f} % | {share * ms:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
