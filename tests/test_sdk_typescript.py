"""The TypeScript SDK: openapi-typescript's `paths` types with openapi-fetch. The example program
in sdk/typescript/ compiles under `tsc --strict` and runs under Node against a live server."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from sdk import generate
from tests.live import call


@pytest.fixture(scope="module")
def program(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The generated types and the compiled program, from a fresh generation of the spec."""
    if (reason := generate.missing_typescript_tools()) is not None:
        pytest.skip(reason)
    return generate.typescript_client(tmp_path_factory.mktemp("sdk"))


def _node(program: Path, *args: str) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node") or "node"
    command = [node, str(program / generate.PROGRAM), *args]
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


@pytest.mark.parametrize("fresh_database", ["sqlite"], indirect=True)
def test_the_program_drives_a_live_server(program: Path, server: str) -> None:
    run = _node(program, server + "/api", "tsuser")
    assert run.returncode == 0, run.stdout + run.stderr
    # what the program printed, checked against what the server holds
    status, listed = call(server, "GET", "/api/articles?author=tsuser&tag=typescript")
    assert status == 200
    (article,) = listed["articles"]
    slug = article["slug"]
    assert article["title"] == "Typed tsuser"
    status, every = call(server, "GET", "/api/articles?author=tsuser")
    newest_first = [a["title"] for a in every["articles"]]
    assert newest_first == ["Typed tsuser 3", "Typed tsuser 2", "Typed tsuser"]
    assert run.stdout.splitlines() == [
        "registered tsuser as user",
        "logged in tsuser",
        f"created {slug} tagged typescript",
        f"listed 1: {slug}",
        f"paged 3 by cursor: {','.join(newest_first)}",
        "problem 404 Not Found: article",
        "ok",
    ]
    # a second run finds the name taken: a typed 422 it did not expect, so it fails
    again = _node(program, server + "/api", "tsuser")
    assert again.returncode == 1
    assert again.stderr.strip() == "mismatch: register: status 422"


def test_the_types_refuse_a_misused_operation(program: Path, tmp_path: Path) -> None:
    """The program compiles because the types say what the API takes, not because they are
    loose: the same calls with a wrong body, parameter, path or field do not."""
    copy = tmp_path / "broken"
    shutil.copytree(program, copy, symlinks=True, ignore=shutil.ignore_patterns("dist"))
    source = (copy / "conduit.mts").read_text()
    broken = {
        "body: { user: { email, password } }": "body: { user: { email, password: 8 } }",
        'query: { author: username, tag: "typescript", limit: 5 }': 'query: { limit: "5" }',
        "article.author.username === username": "article.writer === username",
        'GET("/articles/{slug}"': 'GET("/articles/{id}"',
    }
    for original, wrong in broken.items():
        assert source.count(original) == 1, original
        source = source.replace(original, wrong)
    (copy / "conduit.mts").write_text(source)
    with pytest.raises(generate.GenerationError) as refused:
        generate.compile_typescript(copy)
    lines = source.splitlines()
    wrong_lines = {n for n, line in enumerate(lines, 1) for w in broken.values() if w in line}
    reported = {
        int(n) for n in re.findall(r"conduit\.mts\((\d+),\d+\): error TS", str(refused.value))
    }
    assert len(wrong_lines) == len(broken)
    assert wrong_lines <= reported, refused.value
