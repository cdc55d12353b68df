"""`make fuzz`: Schemathesis against a live `make serve` for a time budget, while each worker's
memory is watched. `python -m tests.fuzz_live --minutes 10`; tests/test_fuzz_live.py runs one
minute of it in `make test`.

The server is the production one: gunicorn with two uvicorn workers, CONDUIT_ENV=production, on
a new PostgreSQL database of its own (dropped afterwards), per-process rate-limit counters. The
limits are raised out of the fuzzer's reach: it sends thousands of requests a minute from one
address, as the same two users, and the deployed 300 a minute (30 for registering and logging
in, 5 failed logins) would answer nearly all of them with 429, fuzzing only the limiter. Even
with the first two raised, 534 of 790 logins in a 10-minute run were 429s of the failed-login
limit, leaving the login itself all but untested; the in-process run (tests/helpers.py) and
tests/test_rate_limits.py meet those 429s instead.

`st run --max-time` runs every phase: the schema's examples, coverage of each operation's
edges, then fuzzing (positive and negative cases, each operation on its own) and stateful
scenarios along the links, the last two repeated until the time is spent; every check, as the
two identities of tests/fuzzing.py, put back after each call by tests/fuzz_hooks.py (which
also gives the stateful scenarios keys of their own: it says why). One Schemathesis worker, so
that no request is in flight while the accounts are put back.

Every second, the resident memory (VmRSS) of each gunicorn worker is sampled. It passes when
Schemathesis reports no failure and no error, the server answered no 5xx, no worker was
replaced, and each worker's least RSS over the last window (a minute) is less than 10 % above
its least over the first. The least, not the median: a sample can land in the middle of an
argon2 hash (64 MiB, freed when it ends), and when the last window is mostly logins, as the
stateful phase can make it, more than half of them do (a one-minute run failed so, at +15 %
on the median and +4 % on the least). What a worker keeps raises its least sample too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from db.session import make_engine
from tests.conftest import fresh_database_url
from tests.fuzzing import CONFIG, IDENTITIES, account_keeper, login, registration, write_wfc_auth
from tests.live import ROOT, call, serving

WORKERS = 2
RSS_GROWTH_LIMIT = 0.10
SAMPLE_SECONDS = 1.0


@dataclass
class Outcome:
    """What one run found: Schemathesis' report, the server's answers, the workers' memory."""

    seed: int
    window: int  # seconds of samples compared at the start and at the end
    exit_code: int  # Schemathesis'
    report: dict[str, Any]
    answers: Counter[tuple[str, int]]  # (operation, status) per request, from the access log
    samples: dict[int, list[tuple[float, int]]] = field(default_factory=dict)  # pid: (s, KiB)
    output: Path = Path()  # Schemathesis' own account of the run, failures reproduced

    @property
    def requests(self) -> int:
        return sum(self.answers.values())

    def windows(self, pid: int) -> tuple[list[int], list[int]]:
        """A worker's RSS samples in the first and in the last window."""
        samples = self.samples[pid]
        end = samples[-1][0]
        first = [kib for t, kib in samples if t < self.window]
        last = [kib for t, kib in samples if t >= end - self.window]
        return first, last

    def growth(self) -> dict[int, float]:
        """Each worker's least RSS over the last window against its least over the first."""
        growth = {}
        for pid in self.samples:
            first, last = self.windows(pid)
            growth[pid] = min(last) / min(first) - 1
        return growth

    def problems(self) -> list[str]:
        """Everything that makes the run fail; empty when it passed."""
        report, found = self.report, []
        for failure in report["failures"]:
            found.append(f"{failure['title']} ({failure['count']}x): {failure['operations']}")
        found += [f"error: {error['title']} ({error['count']}x)" for error in report["errors"]]
        operations = report["operations"]
        if operations["tested"] != operations["total"]:
            found.append(f"only {operations['tested']} of {operations['total']} operations tested")
        for phase in ("examples", "coverage", "fuzzing", "stateful"):
            if report["phases"][phase]["status"] not in ("success", "failure"):
                found.append(f"the {phase} phase did not run: {report['phases'][phase]}")
        if self.exit_code != 0 and not found:
            found.append(f"Schemathesis exited with {self.exit_code}")
        found += [
            f"{n} answers {status} from {op}"
            for (op, status), n in self.answers.items()
            if status >= 500
        ]
        if len(self.samples) != WORKERS:
            found.append(f"{len(self.samples)} worker processes seen: a worker was replaced")
        found += [
            f"worker {pid}: RSS grew {g:.1%}"
            for pid, g in self.growth().items()
            if g >= RSS_GROWTH_LIMIT
        ]
        return found

    def summary(self) -> str:
        cases = self.report["test_cases"]
        operations = {op for op, _status in self.answers if op != "none"}  # none: unrouted
        lines = [
            f"seed {self.seed}, {self.report['running_time']:.0f} s: {self.requests} requests, "
            f"{cases['generated']} test cases generated, "
            f"{len(operations)} operations answered, {len(self.report['failures'])} failures",
            "statuses: " + ", ".join(f"{s} {n}" for s, n in sorted(self._statuses().items())),
            f"worker RSS in MiB per {self.window} s, min / median / max:",
        ]
        growth = self.growth()
        for pid, samples in self.samples.items():
            end = samples[-1][0]
            row = []
            for start in range(0, int(end) - self.window + 1, self.window):  # whole windows
                kib = [k for t, k in samples if start <= t < start + self.window]
                if kib:
                    row.append(
                        f"{min(kib) / 1024:.0f}/{statistics.median(kib) / 1024:.0f}/"
                        f"{max(kib) / 1024:.0f}"
                    )
            first, last = self.windows(pid)
            lines.append(f"  {pid}: " + "  ".join(row))
            lines.append(
                f"  {pid}: least {min(first) / 1024:.1f} MiB first "
                f"{self.window} s, {min(last) / 1024:.1f} MiB last "
                f"{self.window} s: {growth[pid]:+.1%}"
            )
        problems = self.problems()
        lines.append("problems: " + ("; ".join(problems) if problems else "none"))
        if problems:  # each failure with its request, response and a curl line to reproduce it
            text = self.output.read_text()
            lines.append(f"Schemathesis' output: {self.output}")
            if "= FAILURES =" in text:
                failures = text.split("= FAILURES =", 1)[1].split("= SUMMARY =", 1)[0]
                lines.append(failures[:8000])
        return "\n".join(lines)

    def _statuses(self) -> Counter[int]:
        statuses: Counter[int] = Counter()
        for (_op, status), n in self.answers.items():
            statuses[status] += n
        return statuses


def fuzz(
    database_url: str, seconds: int, workdir: Path, *, window: int = 60, seed: int | None = None
) -> Outcome:
    """Serve `database_url` (empty, PostgreSQL) as `make serve` does and fuzz it for `seconds`."""
    seed = random.randrange(2**32) if seed is None else seed  # noqa: S311  # a seed, not a secret
    env = {"DATABASE_URL": database_url, "PYTHONPATH": str(ROOT)}
    subprocess.run(
        [sys.executable, "-m", "cli", "migrate"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    server = {
        **env,
        "CONDUIT_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(30),  # 40 characters
        "WORKERS": str(WORKERS),
        "REDIS_URL": "",
        "RATE_LIMIT_DEFAULT": "1000000/minute",  # the module's docstring says why
        "RATE_LIMIT_AUTH": "1000000/minute",
        "RATE_LIMIT_LOGIN_FAILURES": "1000000/minute",
        "PROMETHEUS_MULTIPROC_DIR": str(workdir / "metrics"),
    }
    pidfile = workdir / "gunicorn.pid"
    # `make serve`'s command; the pid file names the master, whose children are the workers
    command = [
        str(Path(sys.executable).with_name("gunicorn")),
        "app:create_app()",
        "--config",
        str(ROOT / "gunicorn.conf.py"),
        "--pid",
        str(pidfile),
    ]
    with serving(command, server, workdir) as base:
        tokens = _identities(base, env)
        auth = write_wfc_auth(tokens, workdir / "identities.json")
        sampler = _Sampler(int(pidfile.read_text()))
        sampler.start()
        output = workdir / "schemathesis.log"
        try:
            exit_code = _schemathesis(base, auth, seconds, seed, env, workdir, output)
        finally:
            sampler.stop()
    return Outcome(
        seed=seed,
        window=window,
        exit_code=exit_code,
        report=json.loads((workdir / "report.json").read_text()),
        answers=_answers(workdir / "server.log"),
        samples=sampler.samples,
        output=output,
    )


def _identities(base: str, env: dict[str, str]) -> dict[str, str]:
    """Register the two accounts, make one an admin as an operator would, and log both in."""
    for username, _role in IDENTITIES.values():
        status, body = call(base, "POST", "/api/users", {"user": registration(username)})
        assert status == 201, body
    admin = IDENTITIES["admin"][0]
    subprocess.run(
        [sys.executable, "-m", "cli", "admin", admin, "--role", "admin"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        capture_output=True,
    )
    engine = make_engine(env["DATABASE_URL"], pool_size=1)
    with engine.connect() as conn:
        account_keeper(conn)()  # the state tests/fuzz_hooks.py puts back after each call
    engine.dispose()
    tokens = {}
    for name, (username, _role) in IDENTITIES.items():
        status, body = call(base, "POST", "/api/users/login", {"user": login(username)})
        assert status == 200, body
        tokens[name] = body["user"]["token"]
    return tokens


def _schemathesis(
    base: str, auth: Path, seconds: int, seed: int, env: dict[str, str], workdir: Path, out: Path
) -> int:
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "--config-file",
        str(CONFIG),
        "run",
        f"{base}/api/openapi.json",
        "--checks",
        "all",
        "--max-time",
        str(seconds),
        "--continue-on-failure",
        "--workers",
        "1",
        "--auth-wfc",
        str(auth),
        "--seed",
        str(seed),
        "--report",
        "json",
        "--report-json-path",
        str(workdir / "report.json"),
    ]
    hooks = {"SCHEMATHESIS_HOOKS": "tests.fuzz_hooks", "FUZZ_DATABASE_URL": env["DATABASE_URL"]}
    with out.open("w") as log:
        done = subprocess.run(
            command,
            cwd=workdir,  # where it keeps its cache of failures: each run starts afresh
            env={**os.environ, **env, **hooks},
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=seconds + 600,
        )
    if not (workdir / "report.json").exists():  # it never ran: a usage or a hook error
        raise AssertionError(out.read_text()[-4000:])
    return done.returncode


def _answers(server_log: Path) -> Counter[tuple[str, int]]:
    """(operation, status) of every request the server's access lines record."""
    answers: Counter[tuple[str, int]] = Counter()
    for line in server_log.read_text().splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if "status" in entry and "duration_ms" in entry:
                answers[entry["operation"] or "none", entry["status"]] += 1
    return answers


class _Sampler(threading.Thread):
    """Every second, the VmRSS of each child of the gunicorn master."""

    def __init__(self, master: int) -> None:
        super().__init__(daemon=True)
        self.master = master
        self.samples: dict[int, list[tuple[float, int]]] = {}
        self._done = threading.Event()

    def run(self) -> None:
        start = time.monotonic()
        while not self._done.wait(SAMPLE_SECONDS):
            now = time.monotonic() - start
            for pid in _children(self.master):
                with contextlib.suppress(OSError):  # gone since it was listed
                    status = Path(f"/proc/{pid}/status").read_text()
                    kib = next(
                        int(line.split()[1])
                        for line in status.splitlines()
                        if line.startswith("VmRSS:")
                    )
                    self.samples.setdefault(pid, []).append((now, kib))

    def stop(self) -> None:
        self._done.set()
        self.join()


def _children(parent: int) -> list[int]:
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                # the fields after the command's name, which may hold spaces: state, ppid, ...
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[1]) == parent:
                    children.append(int(entry.name))
    return children


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.fuzz_live",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--window", type=int, default=60, help="seconds of RSS compared")
    parser.add_argument("--seed", type=int)
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="conduit-fuzz-"))
    print(f"fuzzing for {args.minutes:g} min; logs in {workdir}", flush=True)
    try:
        with contextlib.contextmanager(fresh_database_url)("postgresql", workdir, "") as url:
            outcome = fuzz(
                url, round(args.minutes * 60), workdir, window=args.window, seed=args.seed
            )
    except (pytest.skip.Exception, pytest.fail.Exception) as e:  # no PostgreSQL answers
        print(e.msg, file=sys.stderr)
        return 2
    print(outcome.summary())
    return 1 if outcome.problems() else 0


if __name__ == "__main__":
    sys.exit(main())
