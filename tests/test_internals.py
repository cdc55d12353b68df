"""What shell/internals.py relies on in the libraries' private parts and messages is still there
and still does what it did: an upgrade that moves it fails here, by name, not somewhere
downstream. And nothing else of ours reaches into a private part."""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

import pytest
from connexion.exceptions import InvalidSpecification
from connexion.spec import OpenAPISpecification, Specification
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware

from app import create_app, load_spec
from settings import Settings
from shell import internals

ROOT = Path(__file__).parent.parent
# our code, everything but tests and the benchmarks, which measure libraries as they come
OURS = [
    *(p for folder in ("shell", "handlers", "db") for p in (ROOT / folder).rglob("*.py")),
    ROOT / "app.py",
    ROOT / "settings.py",
    ROOT / "cli.py",
]
# scope keys the libraries keep for themselves, and the words of their messages
LIBRARY_STRINGS = ("connexion_context", "connexion_routing", "Disallowed CORS")


def test_connexion_still_validates_through_the_hook_it_had(monkeypatch: pytest.MonkeyPatch) -> None:
    """`Specification.__init__` calls `_validate_spec(spec)`: a spec it refuses goes through it."""
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr(OpenAPISpecification, "_validate_spec", classmethod(
        lambda _cls, spec: calls.append(spec)))  # fmt: skip
    Specification.from_dict(copy.deepcopy(load_spec()))
    assert len(calls) == 1


def test_the_document_is_validated_once_and_a_broken_one_every_time(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    checked: list[str] = []
    real = OpenAPISpecification._validate_spec

    def counting(_cls: type, spec: dict[str, Any]) -> None:
        checked.append(spec["info"]["title"])
        real(spec)

    monkeypatch.setattr(OpenAPISpecification, "_validate_spec", classmethod(counting))
    internals.validate_each_document_once()  # wraps the counting one
    create_app(settings)
    create_app(settings)
    assert checked == ["Conduit API"]
    broken = copy.deepcopy(load_spec())
    broken["info"]["title"] = "Broken"
    broken["paths"]["/tags"]["get"]["responses"] = "none"  # not a responses object
    for _ in range(2):
        with pytest.raises(InvalidSpecification):
            Specification.from_dict(copy.deepcopy(broken))
    assert checked == ["Conduit API", "Broken", "Broken"]


def test_starlette_still_names_what_a_preflight_refuses_in_its_words() -> None:
    async def unused(*_args: Any) -> None:  # pragma: no cover - a preflight is answered here
        raise AssertionError

    cors = CORSMiddleware(unused, allow_origins=["*"], allow_methods=["GET"])
    asked = Headers({"origin": "https://x.example", "access-control-request-method": "PATCH"})
    refused = bytes(cors.preflight_response(asked).body).decode()
    assert refused.startswith(internals.CORS_REFUSAL)
    assert internals.refused_cors_part(refused) == "method"


def private_reaches(source: str) -> list[str]:
    """Every `x._name` in the source but on `self` and `cls` (our own classes' own parts)."""
    return [
        f"{node.lineno}: {ast.unparse(node)}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))
    ]


@pytest.mark.parametrize("path", OURS, ids=lambda p: str(p.relative_to(ROOT)))
def test_nothing_else_reaches_into_a_private_part(path: Path) -> None:
    if path == ROOT / "shell" / "internals.py":
        return
    source = path.read_text()
    matched = [s for s in LIBRARY_STRINGS if s in source]
    assert (private_reaches(source), matched) == ([], [])


def test_the_scan_finds_a_reach_put_back() -> None:
    assert private_reaches("app._middleware_app.asgi_app = bridge") == ["1: app._middleware_app"]
    assert private_reaches("self._session.close()") == []
    assert private_reaches((ROOT / "shell" / "internals.py").read_text())
