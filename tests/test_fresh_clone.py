"""The commands of the README and docs/getting-started.md work on a fresh clone, in order.

The clone is the project's files as git would hand them out (tracked, plus new files not
ignored), with no `.venv`, no database and nothing in the environment but PATH and HOME, and
with every package cache empty (pip's and uv's live under XDG_CACHE_HOME, a new directory):
`make run` must install from the lock, migrate and serve by itself within 90 seconds (the
docs say so), and `make seed` and `make migrate` must work beside it with no secret, since
they sign no token.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live import ROOT, _free_port

MAKE, GIT = shutil.which("make"), shutil.which("git")


def _clone(to: Path) -> Path:
    listed = subprocess.run(
        [str(GIT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is not in a clone
            (to / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, to / name)
    return to


SERVES_WITHIN_SECONDS = 90  # docs/getting-started.md


def _environment(port: int, caches: Path) -> dict[str, str]:
    """A newcomer's shell: none of this one's configuration, nor make's own (MAKEFLAGS), and
    package caches that hold nothing yet."""
    return {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/root"),
            "XDG_CACHE_HOME": str(caches), "PORT": str(port)}  # fmt: skip


def _make(clone: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(MAKE), *args], cwd=clone, env=env, capture_output=True,
                          text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout + done.stderr


@pytest.fixture(scope="module")
def newcomer(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, dict[str, str], float]]:
    """The clone, with `make run` serving it in the background, as the README says."""
    if MAKE is None or GIT is None:
        pytest.skip("make and git are needed to follow the README")
    clone = _clone(tmp_path_factory.mktemp("clone"))
    env = _environment(_free_port(), tmp_path_factory.mktemp("caches"))
    with (clone / "make-run.log").open("w") as log:
        started = time.monotonic()
        run = subprocess.Popen([str(MAKE), "run"], cwd=clone, env=env, stdout=log, stderr=log,
                               start_new_session=True)  # fmt: skip
        try:
            _wait_until_up(f"http://127.0.0.1:{env['PORT']}", run, clone / "make-run.log")
            yield clone, env, time.monotonic() - started
        finally:
            os.killpg(run.pid, signal.SIGTERM)  # make and the server it started
            run.wait(timeout=30)


def _wait_until_up(base: str, run: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 300  # a first `make run` installs the service's dependencies
    while True:
        try:
            urllib.request.urlopen(base + "/api/tags", timeout=2).close()
            return
        except OSError:
            if run.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(log.read_text()) from None
            time.sleep(0.5)


def _get(base: str, path: str) -> tuple[int, bytes]:
    with urllib.request.urlopen(base + path, timeout=10) as r:
        return r.status, r.read()


def test_make_run_serves_the_api_and_swagger_ui_on_sqlite(
    newcomer: tuple[Path, dict[str, str], float],
) -> None:
    clone, env, _ = newcomer
    base = f"http://127.0.0.1:{env['PORT']}"
    assert _get(base, "/api/ui/")[0] == 200
    status, body = _get(base, "/api/articles")
    assert (status, json.loads(body)["articlesCount"]) == (200, 0)
    assert (clone / ".venv" / "bin" / "python").exists()
    assert (clone / "conduit.db").exists()  # the embedded default, made by `make run`


def test_make_seed_fills_the_database_the_server_reads(
    newcomer: tuple[Path, dict[str, str], float],
) -> None:
    clone, env, _ = newcomer
    _make(clone, env, "seed", "SEED_ARGS=--users 3 --articles 5 --favorites 4 --comments 2")
    status, body = _get(f"http://127.0.0.1:{env['PORT']}", "/api/articles?limit=1")
    assert status == 200
    assert json.loads(body)["articlesCount"] == 5


def test_make_migrate_on_a_migrated_database_changes_nothing(
    newcomer: tuple[Path, dict[str, str], float],
) -> None:
    clone, env, _ = newcomer
    _make(clone, env, "migrate")
    assert _get(f"http://127.0.0.1:{env['PORT']}", "/api/tags")[0] == 200


def test_make_run_serves_soon_with_empty_package_caches(
    newcomer: tuple[Path, dict[str, str], float],
) -> None:
    clone, env, seconds = newcomer
    # nothing came from a cache of this machine's: uv filled the new one, and installed the lock
    assert any((Path(env["XDG_CACHE_HOME"]) / "uv").iterdir())
    assert (clone / ".venv-uv" / "bin" / "uv").exists()
    assert seconds <= SERVES_WITHIN_SECONDS, (clone / "make-run.log").read_text()
