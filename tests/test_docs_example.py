"""docs/architecture.md's *adding an endpoint* is a recipe that works: its blocks, applied to a
copy of the repository where their markers say, give an endpoint that passes the spec checks,
Spectral, the compatibility guard, ruff, mypy and its own tests."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GIT = shutil.which("git") or "git"
PAGE = ROOT / "docs" / "architecture.md"
# <!-- example: FILE append --> or <!-- example: FILE after "LINE" -->, then a fenced block
_BLOCK = re.compile(
    r'<!-- example: (?P<file>\S+) (?:append|after "(?P<after>[^"]+)") -->\n'
    r"```\w+\n(?P<code>.*?)```",
    re.DOTALL,
)
CHECKS = [
    "tests/test_tags.py",
    "tests/test_spec.py",
    "tests/test_spec_lint.py",
    "tests/test_spec_compat.py",
]


@dataclass(frozen=True)
class Block:
    file: str
    after: str | None  # None: appended to the file
    code: str


def blocks(page: str) -> list[Block]:
    return [Block(m["file"], m["after"], m["code"]) for m in _BLOCK.finditer(page)]


def apply(root: Path, block: Block) -> None:
    path = root / block.file
    text = path.read_text()
    if block.after is None:
        path.write_text(text.rstrip("\n") + "\n\n\n" + block.code)
        return
    lines = text.splitlines(keepends=True)
    at = [i for i, line in enumerate(lines) if line.rstrip("\n") == block.after]
    if len(at) != 1:
        raise LookupError(f"{block.file}: {len(at)} lines read {block.after!r}, not one")
    lines.insert(at[0] + 1, block.code)
    path.write_text("".join(lines))


def copy_of_repository(target: Path) -> Path:
    listed = subprocess.run(
        [GIT, "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    (target / "node_modules").symlink_to(ROOT / "node_modules")  # Spectral, installed by make
    return target


def run(root: Path, *command: str) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        command, cwd=root, capture_output=True, text=True, env=environment, timeout=600
    )


def pytest_in(root: Path, *files: str) -> subprocess.CompletedProcess[str]:
    return run(root, sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *files)


def test_the_page_gives_every_step_its_block() -> None:
    found = blocks(PAGE.read_text())
    assert [b.file for b in found] == [
        "openapi/api.yaml",
        "openapi/api.yaml",
        ".spectral.yaml",
        "tests/test_spec.py",
        "db/articles.py",
        "handlers/tags.py",
        "tests/test_tags.py",
    ]


def test_a_marker_that_finds_no_line_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("paths:\n")
    with pytest.raises(LookupError):
        apply(tmp_path, Block("a.yaml", "path:", "  /x: {}\n"))


def test_the_worked_example_works(tmp_path: Path) -> None:
    root = copy_of_repository(tmp_path)
    for block in blocks(PAGE.read_text()):
        apply(root, block)
    changed = ["db/articles.py", "handlers/tags.py", "tests/test_tags.py", "tests/test_spec.py"]
    ruff = run(root, sys.executable, "-m", "ruff", "check", *changed)
    assert ruff.returncode == 0, ruff.stdout
    formatted = run(root, sys.executable, "-m", "ruff", "format", "--check", *changed)
    assert formatted.returncode == 0, formatted.stdout
    if (ROOT / ".mypy_cache").is_dir():  # make types ran first: start from its cache, a copy
        shutil.copytree(ROOT / ".mypy_cache", root / ".mypy_cache")
    typed = run(root, sys.executable, "-m", "mypy", *changed)
    assert typed.returncode == 0, typed.stdout
    checked = pytest_in(root, *CHECKS)
    assert checked.returncode == 0, checked.stdout[-4000:]
    assert " passed" in checked.stdout, checked.stdout
    assert " skipped" not in checked.stdout, checked.stdout


def test_a_step_left_out_fails_the_checks(tmp_path: Path) -> None:
    """The checks can fail: without the step that names the operation in tests/test_spec.py,
    the spec test refuses the new route."""
    root = copy_of_repository(tmp_path)
    for block in blocks(PAGE.read_text()):
        if block.file != "tests/test_spec.py":
            apply(root, block)
    checked = pytest_in(root, "tests/test_spec.py")
    assert checked.returncode == 1, checked.stdout[-4000:]
    assert "test_every_contract_operation_is_declared_and_nothing_else" in checked.stdout
