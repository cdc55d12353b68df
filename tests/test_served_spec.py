"""The served spec is openapi/api.yaml itself: components and $refs intact, so that a generator
pointed at the URL names its models after the document's components."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.live import serving

SPEC = Path(__file__).parent.parent / "openapi" / "api.yaml"


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SPEC.read_text())
    return loaded


def _refs(node: Any) -> int:
    if isinstance(node, dict):
        return ("$ref" in node) + sum(_refs(v) for v in node.values())
    if isinstance(node, list):
        return sum(_refs(v) for v in node)
    return 0


def test_served_json_is_the_document_with_its_components(
    client: Any, document: dict[str, Any]
) -> None:
    r = client.get("/api/openapi.json")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    served = r.json()
    assert served == document
    assert {"Article", "SingleArticleResponse", "Problem"} <= served["components"]["schemas"].keys()
    assert _refs(served) > 100  # every response and most bodies point at a component


def test_served_yaml_is_the_file_as_written(client: Any) -> None:
    r = client.get("/api/openapi.yaml")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("application/yaml")
    assert r.text == SPEC.read_text()  # comments and key order included


def test_the_document_revalidates_with_its_entity_tag(client: Any) -> None:
    first = client.get("/api/openapi.json")
    assert first.headers["cache-control"] == "no-cache"
    again = client.get("/api/openapi.json", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert client.get("/api/openapi.yaml").headers["etag"] != first.headers["etag"]
    stale = client.get("/api/openapi.json", headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200
    assert stale.json()["openapi"] == "3.0.3"


def test_head_answers_without_a_body(client: Any) -> None:
    r = client.head("/api/openapi.yaml")
    assert r.status_code == 200
    assert r.content == b""
    assert int(r.headers["content-length"]) == len(SPEC.read_bytes())


def test_only_reads_are_answered(client: Any) -> None:
    r = client.post("/api/openapi.json", json={})
    assert r.status_code in (404, 405)
    assert r.headers["content-type"] == "application/problem+json"


def test_behind_a_path_prefix_only_the_server_url_moves(app: Any, document: dict[str, Any]) -> None:
    with app.test_client(root_path="/conduit") as prefixed:
        served = prefixed.get("/api/openapi.json").json()
        as_yaml = yaml.safe_load(prefixed.get("/api/openapi.yaml").text)
    assert served["servers"][0]["url"] == "/conduit/api"
    assert as_yaml == served
    assert {**served, "servers": document["servers"]} == document


def test_swagger_ui_reads_the_served_document(client: Any) -> None:
    page = client.get("/api/ui/")
    assert page.status_code == 200
    assert "/api/openapi.json" in page.text


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("served-spec")
    env = {"CONDUIT_ENV": "development", "DATABASE_URL": f"sqlite:///{workdir / 'spec.db'}",
           "REDIS_URL": ""}  # fmt: skip
    with serving([sys.executable, "-m", "cli", "run"], env, workdir) as base:
        yield base


def test_a_generator_at_the_live_url_names_models_after_components(
    live: str, document: dict[str, Any], tmp_path: Path
) -> None:
    generator = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent))
    if generator is None:
        pytest.skip("openapi-python-client is not installed (make install-dev installs it)")
    out = tmp_path / "client"
    subprocess.run(
        [generator, "generate", "--url", f"{live}/api/openapi.json", "--output-path", str(out),
         "--meta", "none"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    models = (out / "models" / "__init__.py").read_text()
    names = set(re.findall(r"^from \.\w+ import (\w+)$", models, re.MULTILINE))
    # components that are classes in Python: all but plain strings and numbers
    objects = {
        name
        for name, schema in document["components"]["schemas"].items()
        if schema.get("type") not in ("string", "integer", "number", "boolean") or "enum" in schema
    }
    assert objects <= names, objects - names
    # what the resolved document made: models named after an operation and a status code
    assert not {n for n in names if re.search(r"\d{3}", n)}, names
    # every other model is a component's own nested object, named after the component
    assert all(any(n.startswith(c) for c in objects) for n in names), names
    listing = (out / "api" / "articles" / "list_articles.py").read_text()
    assert "MultipleArticlesResponse" in listing
