"""Installs are the same on every machine: uv.lock pins every dependency, transitive ones
included, with hashes; it agrees with pyproject.toml; and the Makefile and the image install
from it with one and the same uv (docs/adr/0011-locked-installs-with-uv.md)."""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
UV = ROOT / ".venv-uv" / "bin" / "uv"  # what the Makefile installs before anything else
LOCK = ROOT / "uv.lock"


def _uv(*args: str, cwd: Path = ROOT, offline: bool = True) -> subprocess.CompletedProcess[str]:
    if not UV.exists():
        pytest.fail(f"{UV} is missing: `make install` makes it")  # never a skip: make test has it
    return subprocess.run(
        [str(UV), *args, *(["--offline"] if offline else []), "--python", "python3.11"],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def _check(project: Path, *, offline: bool = True) -> subprocess.CompletedProcess[str]:
    return _uv("lock", "--check", cwd=project, offline=offline)


def test_the_lock_agrees_with_pyproject() -> None:
    done = _check(ROOT)
    assert done.returncode == 0, done.stderr


def test_a_dependency_added_without_locking_is_caught(tmp_path: Path) -> None:
    for name in ("pyproject.toml", "uv.lock"):
        shutil.copy(ROOT / name, tmp_path / name)
    project = tmp_path / "pyproject.toml"
    text = project.read_text()
    project.write_text(text.replace('    "tqdm>=4.66",\n', '    "tqdm>=4.66",\n    "six>=1.16",\n'))
    assert project.read_text() != text
    # online: telling that the lock no longer fits means resolving the new requirement, for
    # every Python the project supports, which a cache filled by `uv sync` alone cannot do
    done = _check(tmp_path, offline=False)
    assert done.returncode != 0
    assert "needs to be updated" in done.stderr
    assert "six" in done.stderr


def test_every_locked_package_has_hashes() -> None:
    lock = tomllib.loads(LOCK.read_text())
    unhashed = []
    for package in lock["package"]:
        if package.get("source", {}).get("editable") == ".":  # this project, built from here
            continue
        files = [*package.get("wheels", []), *([package["sdist"]] if "sdist" in package else [])]
        if not files or not all(f.get("hash", "").startswith("sha256:") for f in files):
            unhashed.append(package["name"])
    assert unhashed == []
    names = {p["name"] for p in lock["package"]}
    # transitive pins too: what connexion and flask pull in, not only what pyproject names
    assert {"starlette", "werkzeug", "jsonschema", "greenlet"} <= names


def test_the_image_installs_the_service_part_of_the_lock_with_hashes() -> None:
    done = _uv("export", "--frozen", "--no-emit-project", "--format", "requirements-txt")
    assert done.returncode == 0, done.stderr
    pins = re.findall(r"(?m)^([a-z0-9._-]+)==", done.stdout)
    assert {"connexion", "sqlalchemy"} <= set(pins)
    assert "pytest" not in pins  # the dev extra stays out of the image
    blocks = re.split(r"(?m)^(?=[a-z0-9._-]+==)", done.stdout)[1:]
    assert all("--hash=sha256:" in block for block in blocks)
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "uv export --frozen --no-emit-project" in dockerfile
    assert "--require-hashes" in dockerfile


def test_the_makefile_and_the_image_use_one_uv() -> None:
    makefile = re.search(r"(?m)^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text())
    dockerfile = re.search(r"(?m)^ARG UV_VERSION=(\S+)$", (ROOT / "Dockerfile").read_text())
    assert makefile
    assert dockerfile
    assert makefile[1] == dockerfile[1]
    version = subprocess.run([str(UV), "--version"], capture_output=True, text=True).stdout
    assert version.split()[1] == makefile[1]


def test_make_installs_from_the_lock() -> None:
    makefile = (ROOT / "Makefile").read_text()
    installs = re.findall(r"(?m)^\t(.*\b(?:uv sync|pip install)\b.*)$", makefile)
    assert installs
    for line in installs:
        assert ("uv sync" in line and "--locked" in line) or "uv==$(UV_VERSION)" in line, line
