"""Spec lint (`make spec-lint`): Spectral with the OWASP API Security ruleset, as configured in
.spectral.yaml, and openapi-spec-validator, over openapi/api.yaml.

Errors and warnings fail; the ruleset defines no hints or infos. Spectral itself comes from
package.json (`npm ci`); without Node or it the Spectral tests skip, which CI counts as a
failure.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from openapi_spec_validator import OpenAPIV30SpecValidator

from openapi.release import RELEASED, SPEC, load

ROOT = Path(__file__).resolve().parent.parent
SPECTRAL = ROOT / "node_modules" / ".bin" / "spectral"
RULESET = ROOT / ".spectral.yaml"
SEVERITIES = {0: "error", 1: "warn", 2: "info", 3: "hint"}
FAILING = {0, 1}

# A document with what the OWASP rules exist to catch: an unbounded string and array, an integer
# without format or limits, an unprotected write, no 401, 429 or 500 declared. Linted next to the
# spec, it proves the ruleset is loaded and can fail.
CANARY = """\
openapi: 3.0.3
info: {title: Canary, version: '1', description: Lint canary}
servers: [{url: /api}]
paths:
  /things:
    post:
      operationId: create_thing
      description: Creates a thing
      tags: [Things]
      requestBody:
        content:
          application/json:
            schema:
              type: object
              properties:
                name: {type: string}
                count: {type: integer}
                tags: {type: array, items: {type: string, maxLength: 8}}
      responses:
        '201': {description: Created}
tags: [{name: Things, description: Things}]
"""


def _spectral_needed() -> None:
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed (Spectral runs on it): install nodejs and npm")
    if not SPECTRAL.exists():
        pytest.skip("Spectral is not installed: `npm ci` (make spec-lint does it)")


@pytest.fixture(scope="module")
def findings(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    """Spectral's findings by document: the spec's and the canary's, from one run (Spectral
    takes several seconds to start)."""
    _spectral_needed()
    canary = tmp_path_factory.mktemp("lint") / "canary.yaml"
    canary.write_text(CANARY)
    run = subprocess.run(
        [
            str(SPECTRAL),
            "lint",
            str(SPEC),
            str(canary),
            "--ruleset",
            str(RULESET),
            "--format",
            "json",
            "--quiet",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,  # the ruleset's overrides name openapi/api.yaml from here
        timeout=300,
        check=False,
    )
    assert run.returncode in (0, 1), run.stderr  # 1: findings (the canary's at least); 2: broken
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for finding in json.loads(run.stdout):
        found[Path(finding["source"]).name].append(finding)
    return found


def _show(finding: dict[str, Any]) -> str:
    line = finding["range"]["start"]["line"] + 1
    where = ".".join(str(part) for part in finding["path"])
    severity = SEVERITIES[finding["severity"]]
    return f"{severity} {finding['code']} line {line} {where}: {finding['message']}"


def test_spectral_finds_no_error_or_warning(findings: dict[str, list[dict[str, Any]]]) -> None:
    failing = [_show(f) for f in findings[SPEC.name] if f["severity"] in FAILING]
    assert failing == [], "\n".join(failing)


def test_the_owasp_rules_are_loaded_and_can_fail(
    findings: dict[str, list[dict[str, Any]]],
) -> None:
    codes = {f["code"] for f in findings["canary.yaml"] if f["severity"] in FAILING}
    assert {
        "owasp:api4:2023-string-limit",  # name
        "owasp:api4:2023-integer-format",  # count
        "owasp:api4:2023-integer-limit-legacy",
        "owasp:api4:2023-array-limit",  # tags
        "owasp:api2:2023-write-restricted",  # no security at all
        "owasp:api8:2023-define-error-responses-401",
        "owasp:api4:2023-rate-limit-responses-429",
        "owasp:api8:2023-define-error-responses-500",
    } <= codes, sorted(codes)
    # turned off for the whole document in .spectral.yaml
    assert "owasp:api4:2023-string-restricted" not in codes


def test_every_rule_turned_off_says_why() -> None:
    """Each `off` in .spectral.yaml has a comment above it (or above the override it is in)."""
    lines = RULESET.read_text().splitlines()
    part_of_override = re.compile(r"\s+(-\s+files:|files:|rules:|-\s+\".*\"|\S+:\s+\"off\")\s*$")
    unexplained = []
    for i, line in enumerate(lines):
        if not re.search(r":\s+\"?off\"?\s*(#.*)?$", line) or "#" in line:
            continue
        above = i - 1
        while above >= 0 and line.startswith("      ") and part_of_override.match(lines[above]):
            above -= 1
        if above < 0 or not lines[above].lstrip().startswith("#"):
            unexplained.append(line.strip())
    assert unexplained == []
    assert '"off"' in RULESET.read_text()  # the check above had something to look at


@pytest.mark.parametrize("document", [SPEC, RELEASED], ids=["current", "released"])
def test_openapi_spec_validator_finds_nothing(document: Path) -> None:
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in OpenAPIV30SpecValidator(load(document)).iter_errors()
    ]
    assert errors == [], "\n".join(errors)
