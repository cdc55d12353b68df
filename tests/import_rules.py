"""An import-linter contract type for the project's single-file modules (settings.py, ...).

import-linter builds its graph from packages only, so it cannot look inside app.py, cli.py or
settings.py. This contract reads a file's imports itself (every `import` and `from ... import`,
at any depth, also under `if TYPE_CHECKING`) and refuses those of the forbidden modules and
their submodules. pyproject.toml registers it as `single_files`.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from importlinter import Contract, ContractCheck, fields, output

ROOT = Path(__file__).resolve().parent.parent


def imported(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import in the file."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.lineno, node.module))
    return found


def _under(module: str, parent: str) -> bool:
    return module == parent or module.startswith(parent + ".")


class SingleFilesContract(Contract):
    type_name = "single_files"

    files = fields.ListField(subfield=fields.StringField())
    forbidden_modules = fields.ListField(subfield=fields.StringField())

    def check(self, graph: Any, verbose: bool) -> ContractCheck:  # noqa: ARG002  # the files, not the graph
        broken = [
            f"{name}:{line} imports {module}"
            for name in self.files  # type: ignore[attr-defined]  # set by the Contract base
            for line, module in imported(ROOT / name)
            if any(_under(module, f) for f in self.forbidden_modules)  # type: ignore[attr-defined]
        ]
        return ContractCheck(kept=not broken, metadata={"broken": broken})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for line in check.metadata["broken"]:
            output.print_error(line)
            output.new_line()
