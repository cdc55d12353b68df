"""The documentation site says what the code does: every environment variable the code reads
is on docs/configuration.md with the default the code applies, and nothing else is."""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import fields
from pathlib import Path

import pytest

from settings import Settings

ROOT = Path(__file__).resolve().parent.parent
CONFIGURATION = ROOT / "docs" / "configuration.md"
# where the code reads the environment: the service, its servers, the tests and the benchmarks
SOURCES = ["settings.py", "cli.py", "gunicorn.conf.py", "app.py", "shell", "db", "bench", "tests"]
# read, but no one's to set: the system's own, and what tests/fuzz_live.py hands its hooks
NOT_SETTINGS = {"PATH", "HOME", "PYTHONPATH", "FUZZ_DATABASE_URL"}
# the documented name of a Settings field whose name is not the variable's, lower-cased
FIELD_OF = {"CONDUIT_ENV": "environment"}
_ROW = re.compile(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]*) \|", re.MULTILINE)
_NAME = re.compile(r"[A-Z][A-Z0-9_]+")
_READERS = {"get", "_int", "_flag", "_choice", "_rate", "getenv"}


def documented(text: str) -> dict[str, str]:
    """Each variable in the page's tables, and its default column as written."""
    return {name: default.strip() for name, default in _ROW.findall(text)}


def _python_files() -> list[Path]:
    found: list[Path] = []
    for source in SOURCES:
        path = ROOT / source
        found += sorted(path.rglob("*.py")) if path.is_dir() else [path]
    return found


def read_by_code(files: list[Path]) -> dict[str, str | None]:
    """Every variable read from the environment (os.environ[...], .get, settings.py's readers),
    and the default given beside it where the call has one as a literal."""
    read: dict[str, str | None] = {}
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            name, default = _environment_read(node)
            if name is not None:
                read[name] = read.get(name) or default
    return read


def _environment_read(node: ast.AST) -> tuple[str | None, str | None]:
    if isinstance(node, ast.Subscript) and _is_environ(node.value):
        key = node.slice
        if isinstance(key, ast.Constant) and isinstance(key.value, str):
            return key.value, None
    if not isinstance(node, ast.Call):
        return None, None
    function = node.func
    called = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", "")
    if called not in _READERS:
        return None, None
    literals = [a.value for a in node.args if isinstance(a, ast.Constant)]
    names = [v for v in literals if isinstance(v, str) and _NAME.fullmatch(v)]
    if not names or (called == "get" and not _reads_environment(function)):
        return None, None
    after = literals[literals.index(names[0]) + 1 :]
    default = after[0] if after and isinstance(after[0], str) else None
    return names[0], default


def _is_environ(node: ast.AST | None) -> bool:
    return isinstance(node, ast.Attribute) and node.attr == "environ"


def _reads_environment(function: ast.expr) -> bool:
    """`os.environ.get(...)` or settings.py's `env.get(...)`, not any dict's get."""
    owner = function.value if isinstance(function, ast.Attribute) else None
    return _is_environ(owner) if not isinstance(owner, ast.Name) else owner.id == "env"


def _shown(value: object) -> str:
    """A default as the page writes it."""
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value) if value != "" else "none"


def settings_defaults() -> dict[str, str]:
    """What Settings.from_env makes of an empty production environment, by variable name."""
    made = Settings.from_env({}, signs=False)
    by_field = {field: name for name, field in FIELD_OF.items()}
    return {
        by_field.get(f.name, f.name.upper()): _shown(getattr(made, f.name)) for f in fields(made)
    }


def drift(page: str, files: list[Path]) -> list[str]:
    """What the page and the code disagree on, each in a sentence."""
    on_page = documented(page)
    read = {name: d for name, d in read_by_code(files).items() if name not in NOT_SETTINGS}
    problems = [f"{name} is read by the code but not documented" for name in read.keys() - on_page]
    problems += [f"{name} is documented but nothing reads it" for name in on_page.keys() - read]
    literal = {name: _shown(d) for name, d in read.items() if d is not None}
    expected = {**literal, **settings_defaults()}  # what settings.py makes of a raw default
    for name, written in on_page.items():
        shown = expected.get(name)
        if shown is not None and written != (shown if shown == "none" else f"`{shown}`"):
            problems.append(f"{name}: documented default {written}, the code's {shown}")
    return sorted(problems)


def test_configuration_page_matches_the_code() -> None:
    assert drift(CONFIGURATION.read_text(), _python_files()) == []


def test_every_setting_is_read_from_the_environment_by_its_documented_name() -> None:
    # the AST scan must see settings.py's readers: each Settings field has its variable
    read = read_by_code([ROOT / "settings.py"])
    assert set(settings_defaults()) <= set(read)


@pytest.mark.parametrize(
    ("edit", "complaint"),
    [
        (lambda page: page.replace("| `THREADS` | `4` |", "| `THREADS` | `8` |"), "THREADS:"),
        (lambda page: page.replace("| `HOST` | `127.0.0.1` |", "| `HOST` | `0.0.0.0` |"), "HOST:"),
        (lambda page: page.replace("| `SQL_ECHO` |", "| `SQL_ECHOES` |"), "SQL_ECHO is read"),
        (lambda page: page + "| `NO_SUCH_THING` | `1` | nothing |\n", "NO_SUCH_THING is doc"),
    ],
    ids=["a changed default", "a server default", "a renamed variable", "an invented one"],
)
def test_drift_is_caught(edit: Callable[[str], str], complaint: str) -> None:
    page = CONFIGURATION.read_text()
    edited = edit(page)
    assert edited != page
    assert any(p.startswith(complaint) for p in drift(edited, _python_files()))
