"""What shell/internals.py relies on in Connexion's private parts is still there and still
does what it did: an upgrade that moves it fails here, by name, not somewhere downstream."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from connexion.exceptions import InvalidSpecification
from connexion.spec import OpenAPISpecification, Specification

from app import create_app, load_spec
from settings import Settings
from shell import internals as connexion_private
from shell.middleware import BufferedWSGI


def test_the_flask_bridge_is_the_attribute_connexion_serves_flask_through(app: Any) -> None:
    bridge = app._middleware_app.asgi_app
    assert isinstance(bridge, BufferedWSGI)
    assert bridge.app == app.app.wsgi_app  # Flask's own WSGI app, behind our bridge


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
    connexion_private.validate_each_document_once()  # wraps the counting one
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
