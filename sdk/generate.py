"""Generate the Python and TypeScript clients from openapi/api.yaml.

    python -m sdk.generate [--out DIR] [--only python|typescript]

Python: openapi-python-client writes an installable project, DIR/python, whose package is
`conduit_client`. TypeScript: openapi-typescript writes the `paths` types for openapi-fetch,
DIR/typescript/schema.ts; next to them the example program in sdk/typescript/ is compiled with
`tsc --strict`, which checks that the types describe the API as the program uses it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "openapi" / "api.yaml"
HERE = Path(__file__).resolve().parent
PYTHON_CONFIG = HERE / "openapi-python-client.yaml"
TYPESCRIPT_SOURCES = HERE / "typescript"
NODE_MODULES = ROOT / "node_modules"
BUILD = HERE / "build"
PACKAGE = "conduit_client"
# the example program, compiled: `node DIR/typescript/dist/conduit.mjs BASE_URL USERNAME`
PROGRAM = Path("dist") / "conduit.mjs"


class GenerationError(RuntimeError):
    """A generator or the compiler refused; the message holds its output."""


def _run(command: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(  # noqa: S603  # our own tools at fixed paths, on our spec and directories
        command, cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    output = done.stdout + done.stderr
    if done.returncode != 0:
        raise GenerationError(f"{' '.join(command)} exited with {done.returncode}:\n{output}")
    return output


def missing_python_tools() -> str | None:
    """Why the Python client cannot be generated here, or None when it can."""
    try:
        import openapi_python_client  # noqa: F401  # only whether it is installed
    except ImportError:
        return "openapi-python-client is not installed (make install-dev installs it)"
    return None


def missing_typescript_tools() -> str | None:
    """Why the TypeScript client cannot be generated and compiled here, or None when it can."""
    if shutil.which("node") is None:
        return "Node.js is not installed (node is not on PATH)"
    for tool in ("openapi-typescript", "tsc"):
        if not (NODE_MODULES / ".bin" / tool).exists():
            return f"node_modules/.bin/{tool} is missing (run npm ci, or make sdk)"
    if not (NODE_MODULES / "openapi-fetch").is_dir():
        return "node_modules/openapi-fetch is missing (run npm ci, or make sdk)"
    return None


def python_client(out: Path, spec: Path = SPEC) -> Path:
    """Generate the Python client project into out/python; the directory holding the package."""
    target = out / "python"
    shutil.rmtree(target, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    # the post hooks call ruff by name: the one installed next to this interpreter
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ.get("PATH", "")}
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--path", str(spec)]
    command += ["--config", str(PYTHON_CONFIG), "--meta", "pdm", "--output-path", str(target)]
    # a warning means a part of the spec became no code, or ruff failed: never ship that
    _run([*command, "--fail-on-warning"], cwd=out, env=env)
    if not (target / PACKAGE / "__init__.py").exists():
        raise GenerationError(f"no package {PACKAGE} in {target}")
    return target


def typescript_client(out: Path, spec: Path = SPEC) -> Path:
    """Generate the TypeScript types into out/typescript and compile the example program there;
    that directory (the program is PROGRAM in it)."""
    target = out / "typescript"
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    bin_dir = NODE_MODULES / ".bin"
    # a .ts module of types, not a .d.ts: the compiler checks it while it skips node_modules' .d.ts
    _run([str(bin_dir / "openapi-typescript"), str(spec), "-o", str(target / "schema.ts")], ROOT)
    for source in TYPESCRIPT_SOURCES.iterdir():
        if source.suffix in {".mts", ".json"}:
            shutil.copy(source, target / source.name)
    if not target.resolve().is_relative_to(ROOT):
        # the compiler and Node look for openapi-fetch in node_modules above the program
        (target / "node_modules").symlink_to(NODE_MODULES, target_is_directory=True)
    compile_typescript(target)
    return target


def compile_typescript(directory: Path) -> None:
    """tsc --strict over the project in directory (its tsconfig.json); raises on any error."""
    _run([str(NODE_MODULES / ".bin" / "tsc"), "--project", str(directory), "--strict"], directory)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sdk.generate",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--out", type=Path, default=BUILD, help="where to write (sdk/build)")
    parser.add_argument("--only", choices=["python", "typescript"])
    args = parser.parse_args(argv)
    out: Path = args.out.resolve()
    steps = [("python", missing_python_tools, python_client)]
    steps.append(("typescript", missing_typescript_tools, typescript_client))
    for name, missing, generate in steps:
        if args.only not in (None, name):
            continue
        if (reason := missing()) is not None:
            print(f"cannot generate the {name} client: {reason}", file=sys.stderr)
            return 2
        try:
            print(f"{name}: {generate(out)}")
        except GenerationError as e:
            print(e, file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
